"""Errors raised by the forecasting library."""

from __future__ import annotations

from market.errors import MarketError


class ForecastError(MarketError):
    """A forecasting input that cannot be used (too little history, a gap, a bad option)."""
