"""Benchmarks behind ``powerdesk bench``: load tests and timings that are not part of
the engine. They use the engine and the API like any client would.
"""
