"""Energy-attribute certificate schemes as data: unit, issuance period, validity, claim area.

One table (:data:`SCHEMES`) says, per scheme, how its certificates are sized, issued, how long
they live and where they may be claimed; :func:`may_claim` is the one function that decides
whether a certificate produced in one market zone may be claimed for consumption in another.
The ledger (issuance, expiry) and the carbon report (eligibility) both read it. It lives in
``market`` because the claim area is a property of market zones (country, AIB membership) and
both ``ledger`` and ``carbon`` build on ``market``. Sources of each rule: docs/schemes.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

WH_PER_MWH = 1_000_000


class Scheme(StrEnum):
    """Certificate schemes powerdesk tracks."""

    ENERGYTAG_GC = "energytag-gc"
    EECS_GO = "eecs-go"
    I_REC = "i-rec"
    US_REC = "us-rec"
    CHINA_GEC = "china-gec"


class Period(StrEnum):
    """Issuance period: the device's metering resolution (dividing an hour) or a calendar month."""

    DEVICE = "device"
    MONTH = "month"


class ClaimArea(StrEnum):
    """Where a certificate may be claimed, relative to the zone of the producing device."""

    ZONE = "zone"  # the same market (bidding) zone
    COUNTRY = "country"  # any zone of the same country (national scheme)
    GROUP = "group"  # any zone of a country in the scheme's group (e.g. AIB members)


@dataclass(frozen=True)
class SchemeRules:
    """Rules of one scheme.

    Attributes
    ----------
    unit_wh
        Smallest issuable and tradable amount [Wh] (1 = Wh-granular, 10⁶ = whole MWh).
    period
        Issuance period: ``DEVICE`` (the device's metering resolution, dividing one hour) or
        ``MONTH`` (a calendar month in :attr:`time_zone`, else UTC).
    carry_remainder
        Metered energy below one unit at the end of a period carries to the next period.
    validity_months
        Months until expiry; None = no expiry.
    validity_from_start
        Whether validity counts from the start of the production period (else from its end).
    external_code_required
        Whether an issue must carry the scheme registry's own certificate code.
    claim_area, group
        Where certificates may be claimed; ``group`` names the country group of ``GROUP``.
    bundling
        Whether certificates may be bundled with a green-electricity trading contract
        (transferred with the contract's energy and not resold on their own).
    time_zone
        Time zone of monthly periods, when the scheme fixes one.
    aliases
        Other names the scheme goes by in report inputs ("China GEC", "GO", ...).
    """

    scheme: Scheme
    unit_wh: int
    period: Period
    carry_remainder: bool
    validity_months: int | None
    validity_from_start: bool
    external_code_required: bool
    claim_area: ClaimArea
    group: str | None = None
    bundling: bool = False
    time_zone: str | None = None
    aliases: tuple[str, ...] = ()


SCHEMES: Mapping[Scheme, SchemeRules] = MappingProxyType(
    {
        Scheme.ENERGYTAG_GC: SchemeRules(
            Scheme.ENERGYTAG_GC,
            unit_wh=1,
            period=Period.DEVICE,
            carry_remainder=False,
            validity_months=12,
            validity_from_start=False,
            external_code_required=False,
            claim_area=ClaimArea.ZONE,
            aliases=("EnergyTag GC", "EnergyTag", "GC"),
        ),
        Scheme.EECS_GO: SchemeRules(
            Scheme.EECS_GO,
            unit_wh=1,
            period=Period.DEVICE,
            carry_remainder=False,
            validity_months=12,
            validity_from_start=False,
            external_code_required=False,
            claim_area=ClaimArea.GROUP,
            group="AIB",
            aliases=("GO", "EECS GO", "Guarantee of Origin"),
        ),
        Scheme.I_REC: SchemeRules(
            Scheme.I_REC,
            unit_wh=WH_PER_MWH,
            period=Period.MONTH,
            carry_remainder=True,
            validity_months=None,
            validity_from_start=False,
            external_code_required=False,
            claim_area=ClaimArea.COUNTRY,
            aliases=("I-REC", "I-REC(E)", "IREC"),
        ),
        Scheme.US_REC: SchemeRules(
            Scheme.US_REC,
            unit_wh=WH_PER_MWH,
            period=Period.MONTH,
            carry_remainder=True,
            validity_months=None,
            validity_from_start=False,
            external_code_required=False,
            claim_area=ClaimArea.COUNTRY,
            aliases=("REC", "US REC", "rec"),
        ),
        Scheme.CHINA_GEC: SchemeRules(
            Scheme.CHINA_GEC,
            unit_wh=WH_PER_MWH,
            period=Period.MONTH,
            carry_remainder=True,
            validity_months=24,
            validity_from_start=True,
            external_code_required=True,
            claim_area=ClaimArea.COUNTRY,
            bundling=True,
            time_zone="Asia/Shanghai",
            aliases=("China GEC", "GEC"),
        ),
    }
)

#: Countries of the market zones powerdesk knows whose key does not start with the country code
#: (a zone may span countries: the DE-LU bidding zone is Germany and Luxembourg).
ZONE_COUNTRIES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "DE-LU": frozenset({"DE", "LU"}),
        "CAISO": frozenset({"US"}),
        "ERCOT": frozenset({"US"}),
        "PJM": frozenset({"US"}),
        "MISO": frozenset({"US"}),
        "NYISO": frozenset({"US"}),
        "ISO-NE": frozenset({"US"}),
        "SPP": frozenset({"US"}),
    }
)

#: Country groups of ``ClaimArea.GROUP`` schemes. AIB: the countries whose GO registries are
#: members of the Association of Issuing Bodies (EECS hub), per aib-net.org's member list.
GROUPS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "AIB": frozenset(
            {
                *("AT", "BE", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR"),
                *("HU", "IE", "IS", "IT", "LT", "LU", "LV", "NL", "NO", "PT", "RS", "SE", "SI"),
                "SK",
            }
        ),
    }
)

_BY_NAME: dict[str, Scheme] = {}
for _rules in SCHEMES.values():
    for _name in (str(_rules.scheme), *_rules.aliases):
        _BY_NAME[_name.casefold()] = _rules.scheme


def scheme_of(name: str) -> Scheme | None:
    """The scheme a name (``"china-gec"``, ``"China GEC"``, ``"GO"`` ...) denotes, or None."""
    return _BY_NAME.get(name.strip().casefold())


def countries_of(zone: str) -> frozenset[str]:
    """ISO 3166 countries of a market zone: the table, else the key's two-letter prefix
    (``CN-GS`` → CN, ``DK1`` → DK); empty when neither applies."""
    known = ZONE_COUNTRIES.get(zone)
    if known is not None:
        return known
    head = zone[:2]
    after = zone[2:3]
    if len(head) == 2 and head.isalpha() and head.isupper() and after in ("", "-", *"0123456789"):
        return frozenset({head})
    return frozenset()


def may_claim(scheme: str | Scheme, production_zone: str, consumption_zone: str) -> bool:
    """Whether a certificate of ``scheme`` produced in ``production_zone`` may be claimed for
    consumption in ``consumption_zone`` (the scheme's claim area).

    Unknown schemes are held to the strictest rule: the same zone.
    """
    if production_zone == consumption_zone:
        return True
    known = scheme if isinstance(scheme, Scheme) else scheme_of(scheme)
    if known is None:
        return False
    rules = SCHEMES[known]
    made, used = countries_of(production_zone), countries_of(consumption_zone)
    if rules.claim_area is ClaimArea.COUNTRY:
        return bool(made & used)
    if rules.claim_area is ClaimArea.GROUP:
        members = GROUPS[rules.group or ""]
        return bool(made & members) and bool(used & members)
    return False


def claim_rule(scheme: str | Scheme) -> str:
    """Human text of where a scheme's certificates may be claimed."""
    known = scheme if isinstance(scheme, Scheme) else scheme_of(scheme)
    if known is None:
        return "same market zone (unknown scheme)"
    rules = SCHEMES[known]
    if rules.claim_area is ClaimArea.COUNTRY:
        return "any zone of the producing country (national)"
    if rules.claim_area is ClaimArea.GROUP:
        return f"any zone of a {rules.group} member country"
    return "same market zone"


# -- periods and expiry -----------------------------------------------------------------------


def add_months(instant: datetime, months: int) -> datetime:
    """``instant`` plus whole calendar months in its own time zone (day clipped to month end)."""
    month0 = instant.month - 1 + months
    year, month = instant.year + month0 // 12, month0 % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30]
    days += [31, 31, 30, 31, 30, 31]
    return instant.replace(year=year, month=month, day=min(instant.day, days[month - 1]))


def period_zone(scheme: Scheme) -> ZoneInfo:
    """Time zone of a scheme's monthly periods: the scheme's own, else UTC (never the zone
    registry, which a zones file may change: replaying a log must not depend on it)."""
    return ZoneInfo(SCHEMES[scheme].time_zone or "UTC")


def month_bounds(instant: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month of ``tz`` containing ``instant``, as aware instants [start, end)."""
    local = instant.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    return start.astimezone(UTC), add_months(start, 1).astimezone(UTC)


def is_month(start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """Whether [start, end) is exactly one calendar month of ``tz``."""
    first, after = month_bounds(start, tz)
    return first == start and after == end


def previous_month_start(start: datetime, tz: ZoneInfo) -> datetime:
    """Start of the calendar month (of ``tz``) before the one starting at ``start``."""
    first, _ = month_bounds(start - timedelta(seconds=1), tz)
    return first
