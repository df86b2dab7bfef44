"""Backtests and sweeps: the same strategies and the same clearing rule as live
bidding and settlement, replayed over history through an executor (inline, a local process
pool or Dask), with outputs written atomically.
"""
