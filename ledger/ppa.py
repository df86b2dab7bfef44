"""Long-term green PPAs: contract model, parsing from mapping data (TOML) and settlement.

Settlement follows docs/carbon.md, "PPA settlement" (contract files: docs/formats.md):

- physical pay-as-produced: Q[h] = share × Gmeter[h]; payment = Σ Q[h] × strike; certificates Q[h]
- baseload / shaped: Q[h] = profile[h]; shortfall[h] = max(0, profile[h] − share × Gmeter[h]);
  certificates = min(profile[h], share × Gmeter[h])
- virtual (CfD): S[h] = (Pmarket[h] − strike) × Q[h], Pmarket clipped to [floor, cap] by a collar
  first; S > 0 means the generator pays the buyer.

Energies are integer Wh (share × G is floored: never certify more than was produced), money is
exact :class:`~decimal.Decimal` (Wh × price / 10⁶ is exact); rounding to the currency's minor unit
is left to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ledger.errors import PPAError

WH_PER_MWH = 1_000_000


class Settlement(StrEnum):
    """Physical delivery (with certificates) or a financial contract for difference."""

    PHYSICAL = "physical"
    VIRTUAL = "virtual"


class Volume(StrEnum):
    """How the contracted quantity Q[h] is defined."""

    AS_PRODUCED = "as-produced"
    BASELOAD = "baseload"
    SHAPED = "shaped"


@dataclass(frozen=True)
class Collar:
    """Market price limits applied before a CfD difference [currency/MWh]."""

    floor_per_mwh: Decimal
    cap_per_mwh: Decimal


@dataclass(frozen=True)
class ProfileBlock:
    """Contracted power [MW] in the listed local hours of the zone (and months; empty = all)."""

    hours: frozenset[int]
    power_mw: Decimal
    months: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PPA:
    """A power purchase agreement.

    Attributes
    ----------
    start, end
        Tenor [UTC, half-open].
    strike_per_mwh
        Strike price [currency/MWh], exact.
    share
        Buyer's share of the devices' metered generation [fraction, 0 < share <= 1].
    baseload_mw
        Contracted constant power [MW] for ``Volume.BASELOAD``.
    profile
        Contracted power by local hour for ``Volume.SHAPED`` (hours not listed: 0 MW).
    shortfall_price_per_mwh
        Price at which a shortfall against a baseload/shaped profile is compensated
        [currency/MWh]; None when the contract settles shortfall elsewhere.
    """

    ppa_id: str
    settlement: Settlement
    volume: Volume
    buyer: str
    counterparty: str
    zone: str
    time_zone: str
    currency: str
    strike_per_mwh: Decimal
    start: datetime
    end: datetime
    devices: tuple[str, ...]
    share: Decimal = Decimal(1)
    baseload_mw: Decimal | None = None
    profile: tuple[ProfileBlock, ...] = ()
    collar: Collar | None = None
    shortfall_price_per_mwh: Decimal | None = None

    @property
    def kind(self) -> str:
        """Human label: ``physical-as-produced``, ``physical-baseload``, ``virtual-...``."""
        return f"{self.settlement}-{self.volume}"

    def covers(self, start: datetime) -> bool:
        """Whether an interval starting at ``start`` lies in the tenor."""
        return self.start <= start < self.end

    def profile_wh(self, start: datetime, end: datetime) -> int:
        """Contracted energy [Wh] of a baseload/shaped interval (power × duration, half-even)."""
        if self.volume is Volume.BASELOAD:
            power = self.baseload_mw or Decimal(0)
        elif self.volume is Volume.SHAPED:
            local = start.astimezone(ZoneInfo(self.time_zone))
            power = sum(
                (
                    b.power_mw
                    for b in self.profile
                    if local.hour in b.hours and (not b.months or local.month in b.months)
                ),
                Decimal(0),
            )
        else:
            raise PPAError(f"{self.ppa_id}: an as-produced PPA has no profile")
        seconds = Decimal(int((end - start).total_seconds()))
        wh = power * seconds * WH_PER_MWH / 3600
        return int(wh.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class MeteredInterval:
    """Metered generation of the PPA's devices in one interval [UTC start, end) [Wh]."""

    start: datetime
    end: datetime
    generation_wh: int


@dataclass(frozen=True)
class SettlementLine:
    """One interval of PPA settlement.

    Attributes
    ----------
    quantity_wh
        Contracted quantity Q [Wh].
    certificate_wh
        Certificates due to the buyer [Wh].
    shortfall_wh
        Profile not covered by the buyer's share of generation [Wh].
    payment
        Physical: buyer pays Q × strike [currency]; virtual: 0.
    shortfall_payment
        Seller compensates shortfall × shortfall price [currency].
    difference_payment
        Virtual: (Pmarket clipped − strike) × Q [currency], > 0 generator pays buyer.
    """

    start: datetime
    end: datetime
    quantity_wh: int
    certificate_wh: int
    shortfall_wh: int
    payment: Decimal
    shortfall_payment: Decimal
    difference_payment: Decimal


@dataclass(frozen=True)
class PPASettlement:
    """Settlement of a PPA over a run of intervals, with exact totals."""

    ppa_id: str
    currency: str
    lines: tuple[SettlementLine, ...]

    @property
    def quantity_wh(self) -> int:
        """Total contracted quantity [Wh]."""
        return sum(x.quantity_wh for x in self.lines)

    @property
    def certificate_wh(self) -> int:
        """Total certificates due to the buyer [Wh]."""
        return sum(x.certificate_wh for x in self.lines)

    @property
    def shortfall_wh(self) -> int:
        """Total shortfall [Wh]."""
        return sum(x.shortfall_wh for x in self.lines)

    @property
    def payment(self) -> Decimal:
        """Total physical payment buyer → seller [currency]."""
        return sum((x.payment for x in self.lines), Decimal(0))

    @property
    def shortfall_payment(self) -> Decimal:
        """Total shortfall compensation seller → buyer [currency]."""
        return sum((x.shortfall_payment for x in self.lines), Decimal(0))

    @property
    def difference_payment(self) -> Decimal:
        """Total CfD difference, > 0 generator pays buyer [currency]."""
        return sum((x.difference_payment for x in self.lines), Decimal(0))


def _money(energy_wh: int, price_per_mwh: Decimal) -> Decimal:
    return Decimal(energy_wh) * price_per_mwh / WH_PER_MWH


def _share_wh(ppa: PPA, generation_wh: int) -> int:
    return int((ppa.share * generation_wh).to_integral_value(rounding=ROUND_FLOOR))


def _check_intervals(ppa: PPA, metered: Sequence[MeteredInterval]) -> None:
    for m in metered:
        for t in (m.start, m.end):
            if t.tzinfo is None or t.utcoffset() is None:
                raise PPAError(f"{ppa.ppa_id}: naive interval time {t.isoformat()}")
        if m.end <= m.start:
            raise PPAError(f"{ppa.ppa_id}: interval {m.start.isoformat()} ends before it starts")
        if not ppa.covers(m.start):
            raise PPAError(f"{ppa.ppa_id}: interval {m.start.isoformat()} is outside the tenor")
        if type(m.generation_wh) is not int or m.generation_wh < 0:
            raise PPAError(f"{ppa.ppa_id}: generation must be a non-negative integer [Wh]")


def settle_ppa(
    ppa: PPA,
    metered: Sequence[MeteredInterval],
    market_price_per_mwh: Sequence[Decimal] | None = None,
) -> PPASettlement:
    """Settle ``ppa`` over ``metered`` intervals (docs/carbon.md, "PPA settlement").

    Parameters
    ----------
    ppa
        The contract.
    metered
        Metered generation of its devices per interval [Wh].
    market_price_per_mwh
        Market price per interval [currency/MWh]; required for virtual PPAs.

    Returns
    -------
    PPASettlement
        One line per interval with quantities [Wh] and exact money [currency].
    """
    _check_intervals(ppa, metered)
    virtual = ppa.settlement is Settlement.VIRTUAL
    if virtual and (market_price_per_mwh is None or len(market_price_per_mwh) != len(metered)):
        raise PPAError(f"{ppa.ppa_id}: a virtual PPA needs one market price per interval")
    zero = Decimal(0)
    lines = []
    for i, m in enumerate(metered):
        share_wh = _share_wh(ppa, m.generation_wh)
        if ppa.volume is Volume.AS_PRODUCED:
            quantity, shortfall = share_wh, 0
        else:
            quantity = ppa.profile_wh(m.start, m.end)
            shortfall = max(0, quantity - share_wh)
        certificates = min(quantity, share_wh)
        shortfall_pay = (
            _money(shortfall, ppa.shortfall_price_per_mwh)
            if ppa.shortfall_price_per_mwh is not None
            else zero
        )
        if virtual:
            assert market_price_per_mwh is not None
            price = market_price_per_mwh[i]
            if ppa.collar is not None:
                price = min(max(price, ppa.collar.floor_per_mwh), ppa.collar.cap_per_mwh)
            payment, difference = zero, _money(quantity, price - ppa.strike_per_mwh)
        else:
            payment, difference = _money(quantity, ppa.strike_per_mwh), zero
        lines.append(
            SettlementLine(
                m.start,
                m.end,
                quantity,
                certificates,
                shortfall,
                payment,
                shortfall_pay,
                difference,
            )
        )
    return PPASettlement(ppa.ppa_id, ppa.currency, tuple(lines))


# -- contract files -------------------------------------------------------------------------------


def _decimal(data: Mapping[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    value = data.get(key)
    if value is None:
        if required:
            raise PPAError(f"missing {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PPAError(f"{key} must be a decimal number or a string, not {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation as exc:
        raise PPAError(f"{key} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise PPAError(f"{key} must be finite")
    return result


def _time(data: Mapping[str, Any], key: str) -> datetime:
    value = data.get(key)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise PPAError(f"{key} is not an ISO 8601 time: {value!r}") from exc
    if not isinstance(value, datetime):
        raise PPAError(f"{key} must be a date-time with UTC offset")
    if value.tzinfo is None or value.utcoffset() is None:
        raise PPAError(f"{key} {value.isoformat()} has no UTC offset")
    return value


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PPAError(f"{key} must be a non-empty string")
    return value


def _int_set(value: Any, key: str, low: int, high: int) -> frozenset[int]:
    if not isinstance(value, list) or not all(type(v) is int and low <= v <= high for v in value):
        raise PPAError(f"{key} must be a list of integers in {low}..{high}")
    return frozenset(value)


_KNOWN = {
    "id",
    "settlement",
    "volume",
    "buyer",
    "counterparty",
    "zone",
    "time_zone",
    "currency",
    "strike_per_mwh",
    "start",
    "end",
    "devices",
    "share",
    "baseload_mw",
    "profile",
    "collar",
    "shortfall_price_per_mwh",
}


def ppa_from_mapping(data: Mapping[str, Any], time_zone: str) -> PPA:
    """Build a :class:`PPA` from parsed contract data (a TOML file read with Decimal floats).

    ``time_zone`` is the IANA zone of the PPA's market zone (for shaped profiles), passed in by
    the caller from the zone registry.

    Raises
    ------
    PPAError
        With a one-line reason naming the bad field.
    """
    unknown = set(data) - _KNOWN
    if unknown:
        raise PPAError(f"unknown fields {sorted(unknown)}")
    try:
        settlement = Settlement(data.get("settlement", "physical"))
        volume = Volume(data.get("volume", "as-produced"))
    except ValueError as exc:
        raise PPAError(f"settlement or volume: {exc}") from exc
    currency = _text(data, "currency")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise PPAError(f"currency must be a 3-letter ISO code, not {currency!r}")
    devices = data.get("devices")
    if not isinstance(devices, list) or not devices or not all(isinstance(d, str) for d in devices):
        raise PPAError("devices must be a non-empty list of device ids")
    share = _decimal(data, "share", required=False)
    share = Decimal(1) if share is None else share
    if not 0 < share <= 1:
        raise PPAError(f"share must be in (0, 1], not {share}")
    start, end = _time(data, "start"), _time(data, "end")
    if end <= start:
        raise PPAError("end must be after start")
    strike = _decimal(data, "strike_per_mwh")
    assert strike is not None
    baseload = _decimal(data, "baseload_mw", required=False)
    if volume is Volume.BASELOAD and (baseload is None or baseload <= 0):
        raise PPAError("a baseload PPA needs a positive baseload_mw")
    if volume is not Volume.BASELOAD and baseload is not None:
        raise PPAError("baseload_mw is only for volume = 'baseload'")
    profile_raw = data.get("profile", [])
    if not isinstance(profile_raw, list):
        raise PPAError("profile must be an array of tables")
    profile = []
    for block in profile_raw:
        if not isinstance(block, dict) or set(block) - {"hours", "power_mw", "months"}:
            raise PPAError("each profile block has hours, power_mw and optional months")
        power = _decimal(block, "power_mw")
        assert power is not None
        if power < 0:
            raise PPAError("profile power_mw must not be negative")
        profile.append(
            ProfileBlock(
                _int_set(block.get("hours"), "profile hours", 0, 23),
                power,
                _int_set(block.get("months", []), "profile months", 1, 12),
            )
        )
    if volume is Volume.SHAPED and not profile:
        raise PPAError("a shaped PPA needs [[profile]] blocks")
    if volume is not Volume.SHAPED and profile:
        raise PPAError("[[profile]] is only for volume = 'shaped'")
    collar = None
    if "collar" in data:
        raw = data["collar"]
        if settlement is not Settlement.VIRTUAL:
            raise PPAError("a collar is only for virtual PPAs")
        if not isinstance(raw, dict) or set(raw) != {"floor_per_mwh", "cap_per_mwh"}:
            raise PPAError("collar needs exactly floor_per_mwh and cap_per_mwh")
        floor, cap = _decimal(raw, "floor_per_mwh"), _decimal(raw, "cap_per_mwh")
        assert floor is not None
        assert cap is not None
        if floor > cap:
            raise PPAError("collar floor is above its cap")
        collar = Collar(floor, cap)
    return PPA(
        ppa_id=_text(data, "id"),
        settlement=settlement,
        volume=volume,
        buyer=_text(data, "buyer"),
        counterparty=_text(data, "counterparty"),
        zone=_text(data, "zone"),
        time_zone=time_zone,
        currency=currency,
        strike_per_mwh=strike,
        start=start,
        end=end,
        devices=tuple(devices),
        share=share,
        baseload_mw=baseload,
        profile=tuple(profile),
        collar=collar,
        shortfall_price_per_mwh=_decimal(data, "shortfall_price_per_mwh", required=False),
    )


def ppa_to_mapping(ppa: PPA) -> dict[str, Any]:
    """JSON-ready view of a PPA (money and power as exact decimal strings)."""
    out: dict[str, Any] = {
        "id": ppa.ppa_id,
        "kind": ppa.kind,
        "settlement": str(ppa.settlement),
        "volume": str(ppa.volume),
        "buyer": ppa.buyer,
        "counterparty": ppa.counterparty,
        "zone": ppa.zone,
        "currency": ppa.currency,
        "strike_per_mwh": str(ppa.strike_per_mwh),
        "start": ppa.start.isoformat(),
        "end": ppa.end.isoformat(),
        "devices": list(ppa.devices),
        "share": str(ppa.share),
    }
    if ppa.baseload_mw is not None:
        out["baseload_mw"] = str(ppa.baseload_mw)
    if ppa.profile:
        out["profile"] = [
            {"hours": sorted(b.hours), "power_mw": str(b.power_mw), "months": sorted(b.months)}
            for b in ppa.profile
        ]
    if ppa.collar is not None:
        out["collar"] = {
            "floor_per_mwh": str(ppa.collar.floor_per_mwh),
            "cap_per_mwh": str(ppa.collar.cap_per_mwh),
        }
    if ppa.shortfall_price_per_mwh is not None:
        out["shortfall_price_per_mwh"] = str(ppa.shortfall_price_per_mwh)
    return out


# Field readers shared with the other contract files of the ledger (ledger.green).
decimal_field = _decimal
time_field = _time
text_field = _text
