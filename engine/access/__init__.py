"""Who may do what on the trading-desk API: API keys with roles (stored hashed) and the
stored responses of idempotent POSTs.
"""
