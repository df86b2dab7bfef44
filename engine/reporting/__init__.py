"""Carbon reports rendered from the pure :mod:`carbon` computation: JSON, CSV,
HTML, PDF and plots.
"""
