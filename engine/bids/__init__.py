"""Bids as records: building a day's bid through a strategy and storing it with its
provenance, the exchange document, the plan files written for people, and the one submission
path (the only place a bid becomes ``submitted``).
"""
