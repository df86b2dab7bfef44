"""Market data as the decisions see it: point-in-time views (``as_of``) of prices,
imbalance and reserve prices, backed by canonical files or by the database, so live bids,
settlement and backtests read the same values through the same door.
"""
