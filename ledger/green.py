"""China green power: green-electricity trading contracts (绿电交易) and unbundled GEC purchases.

A **green-electricity trading contract** buys energy from a named renewable plant: per period
(a calendar month of Beijing time, or shorter, never crossing a month) a contracted energy and
price. At the trading centre's monthly statement the energy settles in money exactly as a
physical baseload PPA over that period (:func:`ledger.ppa.settle_ppa`: quantity Q = the
contracted energy, payment Q × price, shortfall = max(0, Q − metered generation)) and the
matching China GECs – min(Q, generation) per period, summed, in whole MWh – move from the plant's
owner to the buyer **bundled** with the contract (``transfer_bundled``) and are retired for the
buyer's site, all in one ledger transaction. An **unbundled GEC purchase** buys GECs of a plant
and production month from a seller (``transfer``) and retires them for a site.

Both are planned here as plain event bodies (:func:`plan_moves`), which the engine signs with the
parties' keys (CLI) or checks against what clients signed (API). Contract and purchase files:
docs/green-power.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from ledger.errors import PPAError
from ledger.events import Body, Retire, Split, Transfer, TransferBundled
from ledger.ppa import (
    PPA,
    MeteredInterval,
    PPASettlement,
    Settlement,
    Volume,
    decimal_field,
    settle_ppa,
    text_field,
    time_field,
)
from ledger.schemes import SCHEMES, Scheme
from ledger.state import Bundle, Status, bundle_id_for
from market.schemes import month_bounds, period_zone

WH_PER_MWH = 1_000_000
GEC_TZ: ZoneInfo = period_zone(Scheme.CHINA_GEC)


class GreenPowerError(PPAError):
    """A green-electricity contract, statement or GEC purchase is invalid."""


@dataclass(frozen=True)
class ContractPeriod:
    """Contracted energy [MWh] and price [currency/MWh] of one period [start, end) (UTC)."""

    start: datetime
    end: datetime
    energy_mwh: Decimal
    price_per_mwh: Decimal


@dataclass(frozen=True)
class GreenContract:
    """A green-electricity trading contract (绿电交易) with a named plant.

    Attributes
    ----------
    seller
        Party owning the plant's GECs (the plant's owner in the ledger).
    plant
        The plant's ledger device id.
    site, beneficiary
        Consumption site the bundled GECs are retired for, and for whom.
    zone
        Market zone of the buyer's site (the retirement's consumption zone).
    """

    contract_id: str
    buyer: str
    seller: str
    plant: str
    site: str
    beneficiary: str
    zone: str
    currency: str
    periods: tuple[ContractPeriod, ...]

    def periods_of(self, month: str) -> tuple[ContractPeriod, ...]:
        """The contract periods of a statement month ``YYYY-MM`` (Beijing time)."""
        start, end = month_interval(month)
        return tuple(p for p in self.periods if start <= p.start < end)

    def ppa_for(self, period: ContractPeriod) -> PPA:
        """The period as a physical baseload PPA (the energy settles like one)."""
        hours = Decimal(int((period.end - period.start).total_seconds())) / 3600
        return PPA(
            ppa_id=f"{self.contract_id}@{period.start.isoformat()}",
            settlement=Settlement.PHYSICAL,
            volume=Volume.BASELOAD,
            buyer=self.buyer,
            counterparty=self.seller,
            zone=self.zone,
            time_zone=GEC_TZ.key,
            currency=self.currency,
            strike_per_mwh=period.price_per_mwh,
            start=period.start,
            end=period.end,
            devices=(self.plant,),
            baseload_mw=period.energy_mwh / hours,
        )


@dataclass(frozen=True)
class Statement:
    """The monthly statement of a contract: money per period and the GECs due [Wh]."""

    contract_id: str
    month: str
    currency: str
    settlements: tuple[PPASettlement, ...]

    @property
    def quantity_wh(self) -> int:
        """Contracted energy settled [Wh]."""
        return sum(s.quantity_wh for s in self.settlements)

    @property
    def payment(self) -> Decimal:
        """Buyer → seller for the contracted energy [currency], exact."""
        return sum((s.payment for s in self.settlements), Decimal(0))

    @property
    def shortfall_wh(self) -> int:
        """Contracted energy the plant did not generate [Wh]."""
        return sum(s.shortfall_wh for s in self.settlements)

    @property
    def gec_wh(self) -> int:
        """Bundled GECs due to the buyer: min(Q, generation) summed, whole MWh [Wh]."""
        due = sum(s.certificate_wh for s in self.settlements)
        return due - due % WH_PER_MWH

    def to_json(self) -> dict[str, Any]:
        """JSON-ready statement (money as exact strings)."""
        return {
            "contract": self.contract_id,
            "month": self.month,
            "currency": self.currency,
            "contracted_wh": self.quantity_wh,
            "shortfall_wh": self.shortfall_wh,
            "payment": str(self.payment),
            "gec_bundled_wh": self.gec_wh,
        }


@dataclass(frozen=True)
class GecPurchase:
    """An unbundled purchase of GECs of one plant and production month, retired for a site."""

    purchase_id: str
    buyer: str
    seller: str
    plant: str
    month: str
    amount_mwh: int
    price_per_mwh: Decimal
    currency: str
    site: str
    beneficiary: str
    zone: str
    consumption_start: datetime
    consumption_end: datetime

    @property
    def cost(self) -> Decimal:
        """Buyer → seller [currency], exact."""
        return self.price_per_mwh * self.amount_mwh

    def to_json(self) -> dict[str, Any]:
        """JSON-ready purchase."""
        return {
            "purchase": self.purchase_id,
            "buyer": self.buyer,
            "seller": self.seller,
            "plant": self.plant,
            "month": self.month,
            "amount_mwh": self.amount_mwh,
            "price_per_mwh": str(self.price_per_mwh),
            "cost": str(self.cost),
            "currency": self.currency,
            "site": self.site,
            "consumption_start": self.consumption_start.isoformat(),
            "consumption_end": self.consumption_end.isoformat(),
        }


# -- months ---------------------------------------------------------------------------------------


def month_interval(month: str) -> tuple[datetime, datetime]:
    """A GEC production month ``YYYY-MM`` (Beijing time) as UTC instants [start, end)."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        local = datetime(year, mon, 1, tzinfo=GEC_TZ)
    except ValueError:
        raise GreenPowerError(f"month {month!r} is not YYYY-MM") from None
    if len(month) != 7:
        raise GreenPowerError(f"month {month!r} is not YYYY-MM")
    return month_bounds(local, GEC_TZ)


# -- settlement -----------------------------------------------------------------------------------


def settle_statement(
    contract: GreenContract, month: str, generation_wh: Mapping[datetime, int]
) -> Statement:
    """Settle a statement month: each contract period of the month with the plant's metered
    generation in it (``generation_wh`` by period start), through the PPA settlement."""
    periods = contract.periods_of(month)
    if not periods:
        raise GreenPowerError(f"{contract.contract_id} has no period in {month}")
    extra = set(generation_wh) - {p.start for p in periods}
    if extra:
        first = min(extra).isoformat()
        raise GreenPowerError(f"metered generation for {first}: not a contract period of {month}")
    settlements = []
    for p in periods:
        if p.start not in generation_wh:
            raise GreenPowerError(
                f"no metered generation for the period from {p.start.isoformat()}"
            )
        metered = MeteredInterval(p.start, p.end, generation_wh[p.start])
        settlements.append(settle_ppa(contract.ppa_for(p), [metered]))
    return Statement(contract.contract_id, month, contract.currency, tuple(settlements))


# -- moving certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedEvent:
    """An event body to be signed by ``party``, with its retry-safe idempotency key."""

    party: str
    body: Body
    idempotency_key: str


def plan_moves(
    bundles: Sequence[Bundle],
    *,
    seller: str,
    plant: str,
    month: str,
    amount_wh: int,
    buyer: str,
    contract: str | None,
    retire: Retire,
    reference: str,
) -> list[PlannedEvent]:
    """The events that move ``amount_wh`` of the seller's active, unbundled GECs of ``plant``
    and production ``month`` to ``buyer`` – bundled with ``contract``, or unbundled when it is
    None – and retire them as ``retire`` says (its bundle field is replaced).

    Bundles are taken in id order; the last one is split when it holds more than needed.
    Idempotency keys derive from ``reference`` (the contract month or purchase id), so a retry
    signs the same keys and the ledger returns the first result.

    Raises
    ------
    GreenPowerError
        Not a whole number of GECs, or the seller holds too few.
    """
    unit = SCHEMES[Scheme.CHINA_GEC].unit_wh
    if amount_wh <= 0 or amount_wh % unit:
        raise GreenPowerError(f"{amount_wh} Wh is not a positive whole number of GECs (1 MWh)")
    start, _ = month_interval(month)
    held = sorted(
        (
            b
            for b in bundles
            if b.scheme is Scheme.CHINA_GEC
            and b.status is Status.ACTIVE
            and b.owner == seller
            and b.device == plant
            and b.interval_start == start
            and b.contract is None
        ),
        key=lambda b: b.id_start,
    )
    total = sum(b.energy_wh for b in held)
    if total < amount_wh:
        raise GreenPowerError(
            f"{seller} holds {total // unit} MWh of active unbundled GECs of {plant} for {month}, "
            f"{amount_wh // unit} MWh needed"
        )
    events: list[PlannedEvent] = []
    moved: list[str] = []
    need = amount_wh
    for b in held:
        if need == 0:
            break
        if b.energy_wh > need:
            events.append(
                PlannedEvent(
                    seller, Split(b.bundle_id, (need, b.energy_wh - need)), f"{reference}:split"
                )
            )
            moved.append(bundle_id_for(b.device, b.interval_start, b.id_start, b.id_start + need))
            need = 0
        else:
            moved.append(b.bundle_id)
            need -= b.energy_wh
    for i, bundle_id in enumerate(moved):
        body: Body = (
            Transfer(bundle_id, buyer)
            if contract is None
            else TransferBundled(bundle_id, buyer, contract)
        )
        events.append(PlannedEvent(seller, body, f"{reference}:transfer:{i}"))
    for i, bundle_id in enumerate(moved):
        claim = Retire(
            bundle_id,
            retire.beneficiary,
            retire.site,
            retire.consumption_start,
            retire.consumption_end,
            retire.zone,
        )
        events.append(PlannedEvent(buyer, claim, f"{reference}:retire:{i}"))
    return events


# -- files ----------------------------------------------------------------------------------------


def _check_keys(data: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = set(data) - known
    if unknown:
        raise GreenPowerError(f"{what}: unknown fields {sorted(unknown)}")


def _currency(data: Mapping[str, Any]) -> str:
    currency = text_field(data, "currency")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise GreenPowerError(f"currency must be a 3-letter ISO code, not {currency!r}")
    return currency


def contract_from_mapping(data: Mapping[str, Any]) -> GreenContract:
    """A :class:`GreenContract` from parsed contract data (TOML with Decimal floats).

    Raises
    ------
    PPAError
        One line naming the bad field.
    """
    known = {"id", "buyer", "seller", "plant", "site", "beneficiary", "zone", "currency", "period"}
    _check_keys(data, known, "green-electricity contract")
    raw = data.get("period")
    if not isinstance(raw, list) or not raw:
        raise GreenPowerError("a green-electricity contract needs [[period]] blocks")
    periods: list[ContractPeriod] = []
    for block in raw:
        if not isinstance(block, dict):
            raise GreenPowerError("each [[period]] is a table")
        _check_keys(block, {"start", "end", "energy_mwh", "price_per_mwh"}, "period")
        start, end = time_field(block, "start"), time_field(block, "end")
        energy, price = decimal_field(block, "energy_mwh"), decimal_field(block, "price_per_mwh")
        assert energy is not None
        assert price is not None
        if end <= start:
            raise GreenPowerError(f"period from {start.isoformat()}: end must be after start")
        first, after = month_bounds(start, GEC_TZ)
        if end > after:
            raise GreenPowerError(
                f"period from {start.isoformat()} crosses a month end (statements are monthly, "
                "Beijing time)"
            )
        if energy <= 0:
            raise GreenPowerError(f"period from {start.isoformat()}: energy_mwh must be > 0")
        if price < 0:
            raise GreenPowerError(f"period from {start.isoformat()}: price_per_mwh must be >= 0")
        assert first <= start
        periods.append(ContractPeriod(start, end, energy, price))
    periods.sort(key=lambda p: p.start)
    for a, b in pairwise(periods):
        if b.start < a.end:
            raise GreenPowerError(
                f"periods from {a.start.isoformat()} and {b.start.isoformat()} overlap"
            )
    buyer = text_field(data, "buyer")
    return GreenContract(
        contract_id=text_field(data, "id"),
        buyer=buyer,
        seller=text_field(data, "seller"),
        plant=text_field(data, "plant"),
        site=text_field(data, "site"),
        beneficiary=text_field(data, "beneficiary") if "beneficiary" in data else buyer,
        zone=text_field(data, "zone"),
        currency=_currency(data),
        periods=tuple(periods),
    )


def statement_generation(data: Mapping[str, Any]) -> tuple[str, dict[datetime, int]]:
    """(month, metered generation [Wh] by period start) of a statement file.

    The file has ``month = "YYYY-MM"`` and ``[[metered]]`` blocks of ``start`` and
    ``generation_mwh`` (exact, at most Wh resolution).
    """
    _check_keys(data, {"contract", "month", "metered"}, "statement")
    month = text_field(data, "month")
    month_interval(month)
    raw = data.get("metered")
    if not isinstance(raw, list) or not raw:
        raise GreenPowerError("a statement needs [[metered]] blocks (start, generation_mwh)")
    out: dict[datetime, int] = {}
    for block in raw:
        if not isinstance(block, dict):
            raise GreenPowerError("each [[metered]] is a table")
        _check_keys(block, {"start", "generation_mwh"}, "metered")
        start = time_field(block, "start")
        mwh = decimal_field(block, "generation_mwh")
        assert mwh is not None
        wh = mwh * WH_PER_MWH
        if mwh < 0 or wh != wh.to_integral_value():
            raise GreenPowerError(
                f"generation_mwh {mwh} from {start.isoformat()} is not >= 0 at Wh resolution"
            )
        if start in out:
            raise GreenPowerError(f"metered generation from {start.isoformat()} given twice")
        out[start] = int(wh)
    return month, out


def purchase_from_mapping(data: Mapping[str, Any]) -> GecPurchase:
    """A :class:`GecPurchase` from parsed purchase data (TOML with Decimal floats).

    The consumption interval defaults to the production month.
    """
    known = {
        "id",
        "buyer",
        "seller",
        "plant",
        "month",
        "amount_mwh",
        "price_per_mwh",
        "currency",
        "site",
        "beneficiary",
        "zone",
        "consumption_start",
        "consumption_end",
    }
    _check_keys(data, known, "GEC purchase")
    month = text_field(data, "month")
    start, end = month_interval(month)
    amount = data.get("amount_mwh")
    if type(amount) is not int or amount <= 0:
        raise GreenPowerError("amount_mwh must be a positive whole number (GECs are 1 MWh each)")
    price = decimal_field(data, "price_per_mwh")
    assert price is not None
    if price < 0:
        raise GreenPowerError("price_per_mwh must be >= 0")
    c_start = time_field(data, "consumption_start") if "consumption_start" in data else start
    c_end = time_field(data, "consumption_end") if "consumption_end" in data else end
    if c_end <= c_start:
        raise GreenPowerError("consumption_end must be after consumption_start")
    buyer = text_field(data, "buyer")
    return GecPurchase(
        purchase_id=text_field(data, "id"),
        buyer=buyer,
        seller=text_field(data, "seller"),
        plant=text_field(data, "plant"),
        month=month,
        amount_mwh=amount,
        price_per_mwh=price,
        currency=_currency(data),
        site=text_field(data, "site"),
        beneficiary=text_field(data, "beneficiary") if "beneficiary" in data else buyer,
        zone=text_field(data, "zone"),
        consumption_start=c_start,
        consumption_end=c_end,
    )
