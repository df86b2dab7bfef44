"""Routers of the trading-desk API, one module per topic."""
