"""Errors raised by the market library."""

from __future__ import annotations


class MarketError(ValueError):
    """Base class: a domain input that the market library cannot accept."""


class UnknownZoneError(MarketError):
    """A zone key that is not in the registry."""


class UnknownProductError(MarketError):
    """A product key that the zone does not offer."""


class NaiveDatetimeError(MarketError):
    """A datetime without a time zone where an instant is needed."""


class SeriesError(MarketError):
    """A time series that breaks an invariant (duplicates, misalignment, naive times)."""
