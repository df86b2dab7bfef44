"""Certificate schemes for the ledger: the scheme table of :mod:`market.schemes` (unit, issuance
period, validity, claim area; sources in docs/schemes.md) and the ledger's expiry rule."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from market.schemes import (
    SCHEMES,
    ClaimArea,
    Period,
    Scheme,
    SchemeRules,
    add_months,
    may_claim,
    scheme_of,
)

__all__ = [
    "SCHEMES",
    "ClaimArea",
    "Period",
    "Scheme",
    "SchemeRules",
    "add_months",
    "expiry_of",
    "may_claim",
    "scheme_of",
]


@functools.lru_cache(maxsize=1 << 16)
def expiry_of(scheme: Scheme, interval_start: datetime, interval_end: datetime) -> datetime | None:
    """When a certificate produced in ``[interval_start, interval_end)`` expires [UTC].

    China GEC counts its two years from the production month itself (the start), the others
    from the end of the production period.
    """
    rules = SCHEMES[scheme]
    if rules.validity_months is None:
        return None
    base = interval_start if rules.validity_from_start else interval_end
    if rules.time_zone is not None:  # calendar months of the scheme's own time zone
        local = add_months(base.astimezone(ZoneInfo(rules.time_zone)), rules.validity_months)
        return local.astimezone(UTC)
    return add_months(base, rules.validity_months)
