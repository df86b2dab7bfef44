"""Daily settlement of a site from what is stored: the submitted bid cleared with
the market's one clearing rule (:mod:`market.clearing`), metered consumption, reserve awards
and PPA money lines; once per (site, day) unless forced.
"""
