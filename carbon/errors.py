"""Errors of the carbon package."""

from __future__ import annotations

from market.errors import MarketError


class CarbonInputError(MarketError):
    """Report inputs that break an invariant (missing factor, bad retirement, naive time).

    A :class:`market.errors.MarketError`, so the CLI and the API show it as one line.
    """
