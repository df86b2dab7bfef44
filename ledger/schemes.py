"""Certificate schemes: energy unit, validity and whether an external certificate code is kept."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Scheme(StrEnum):
    """Certificate schemes the ledger tracks."""

    ENERGYTAG_GC = "energytag-gc"
    EECS_GO = "eecs-go"
    I_REC = "i-rec"
    CHINA_GEC = "china-gec"


@dataclass(frozen=True)
class SchemeRules:
    """Rules of one scheme.

    Attributes
    ----------
    unit_wh
        Smallest tradable amount [Wh]; amounts and id ranges are whole multiples of it.
    validity_months
        Months after the end of the production interval until expiry; None = no expiry.
    external_code_required
        Whether an issue must carry the scheme registry's own certificate code.
    """

    scheme: Scheme
    unit_wh: int
    validity_months: int | None
    external_code_required: bool


SCHEMES: dict[Scheme, SchemeRules] = {
    # EnergyTag granular certificates are Wh-granular and follow the GO's 12-month life.
    Scheme.ENERGYTAG_GC: SchemeRules(Scheme.ENERGYTAG_GC, 1, 12, False),
    # RED II art. 19(3): a GO is valid for 12 months after the end of the production period.
    Scheme.EECS_GO: SchemeRules(Scheme.EECS_GO, 1, 12, False),
    # The I-REC(E) code sets no fixed expiry.
    Scheme.I_REC: SchemeRules(Scheme.I_REC, 1, None, False),
    # China GEC: 1 MWh units, valid two years, and the national registry's code is kept.
    Scheme.CHINA_GEC: SchemeRules(Scheme.CHINA_GEC, 1_000_000, 24, True),
}


def add_months(instant: datetime, months: int) -> datetime:
    """``instant`` plus whole calendar months in its own time zone (day clipped to month end)."""
    month0 = instant.month - 1 + months
    year, month = instant.year + month0 // 12, month0 % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30]
    days += [31, 31, 30, 31, 30, 31]
    return instant.replace(year=year, month=month, day=min(instant.day, days[month - 1]))


@functools.lru_cache(maxsize=1 << 16)
def expiry_of(scheme: Scheme, interval_end: datetime) -> datetime | None:
    """When a certificate produced in an interval ending at ``interval_end`` expires [UTC]."""
    months = SCHEMES[scheme].validity_months
    return None if months is None else add_months(interval_end, months)
