"""Daily settlement arithmetic: exact money line items whose sum is the total to the minor unit.

Sign convention: every ``amount`` is a cost to the site in the zone's currency (positive = the site
pays, negative = the site is paid). Each line is rounded once, half to even, to the currency's minor
unit; the day's total is the exact sum of its lines, so the two always reconcile.

Rules
-----
- DA energy: ``position_mwh * da_price`` per interval.
- Imbalance: the deviation of metered consumption from the DA position, after removing the energy
  the TSO ordered through reserve activation (an ordered change is not an imbalance), is settled at
  the imbalance price of the interval (single-price imbalance); without an imbalance price the DA
  price is used.
- Reserve capacity: ``awarded_mw * capacity price`` per block (price per MW per block), paid to the
  site. Activation energy: paid (up) or charged (down) at the activation price; for products paid
  per MWh called (Chinese peak shaving and valley filling, ``Payment.CURTAILMENT``) the called
  energy is paid to the site in both directions. Mileage-paid regulation adds
  ``mileage_mw * mileage price * performance_factor`` (the performance factor K of Chinese
  frequency regulation, 1 elsewhere). Capacity that could not be delivered is charged
  ``shortfall_mw * capacity price * penalty_factor``.
- PPA money lines (virtual PPAs) come from the ledger's PPA settlement and are added as given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from market.products import Direction, Payment
from market.zones import Zone


class Category(StrEnum):
    """Kinds of settlement line."""

    DA_ENERGY = "da_energy"
    IMBALANCE = "imbalance"
    RESERVE_CAPACITY = "reserve_capacity"
    RESERVE_ACTIVATION = "reserve_activation"
    RESERVE_MILEAGE = "reserve_mileage"
    RESERVE_PENALTY = "reserve_penalty"
    PPA = "ppa"


@dataclass(frozen=True, slots=True)
class Line:
    """One settlement line: ``quantity [unit] * price = amount`` (amount rounded, cost-positive)."""

    category: Category
    product: str
    interval_start: datetime
    quantity: Decimal
    unit: str
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ReserveAward:
    """An accepted reserve offer for one block, with what happened in it.

    Parameters
    ----------
    product, direction
        Product key and the way activation moves consumption.
    block_start
        UTC start of the block.
    awarded_mw
        Capacity accepted [MW].
    capacity_price
        Price per MW for the block [currency/MW].
    activated_mwh
        Energy delivered on activation [MWh] (reduction for up, increase for down).
    activation_price
        Price of activated energy [currency/MWh].
    mileage_mw
        Regulation mileage moved [MW] (mileage-paid products only).
    mileage_price
        Price per MW of mileage [currency/MW].
    shortfall_mw
        Capacity not delivered when called [MW].
    penalty_factor
        Multiple of the capacity price charged per MW of shortfall [-].
    performance_factor
        K of mileage-paid regulation: mileage is paid ``mileage_mw * mileage_price * K`` [-].
    payment
        How the product is paid; ``CURTAILMENT``: activated energy is paid to the site whichever
        way it moved consumption.
    """

    product: str
    direction: Direction
    block_start: datetime
    awarded_mw: Decimal
    capacity_price: Decimal
    activated_mwh: Decimal = Decimal(0)
    activation_price: Decimal = Decimal(0)
    mileage_mw: Decimal = Decimal(0)
    mileage_price: Decimal = Decimal(0)
    shortfall_mw: Decimal = Decimal(0)
    penalty_factor: Decimal = Decimal(1)
    performance_factor: Decimal = Decimal(1)
    payment: Payment = Payment.CAPACITY


@dataclass(frozen=True, slots=True)
class IntervalInputs:
    """Energy inputs of one delivery interval.

    ``activated_mwh`` is the net change of consumption ordered by reserve activation in the
    interval (negative for up-activation, which lowers consumption) [MWh].
    """

    interval_start: datetime
    position_mwh: Decimal
    da_price: Decimal
    metered_mwh: Decimal
    imbalance_price: Decimal | None = None
    activated_mwh: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class DaySettlement:
    """The settlement of one site and delivery day."""

    zone: str
    currency: str
    day: date
    lines: tuple[Line, ...]
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        """Net cost of the day [currency]: the exact sum of every line."""
        return sum((line.amount for line in self.lines), Decimal(0))

    def total_of(self, *categories: Category) -> Decimal:
        """Sum of the lines of the given categories [currency]."""
        wanted = set(categories)
        return sum((ln.amount for ln in self.lines if ln.category in wanted), Decimal(0))


def _money(value: Decimal, minor_unit: Decimal) -> Decimal:
    return value.quantize(minor_unit, rounding=ROUND_HALF_EVEN)


def settle_day(
    zone: Zone,
    day: date,
    intervals: Sequence[IntervalInputs],
    awards: Iterable[ReserveAward] = (),
    ppa_lines: Iterable[Line] = (),
) -> DaySettlement:
    """Settle one delivery day of one site.

    Parameters
    ----------
    zone
        The market zone (currency and minor unit).
    day
        Local delivery day.
    intervals
        One entry per delivery interval of the day.
    awards
        Accepted reserve offers of the day.
    ppa_lines
        Money lines of virtual PPA settlement for the day (already rounded).

    Returns
    -------
    DaySettlement
        Lines in a deterministic order; the total is their exact sum.
    """
    mu = zone.minor_unit
    lines: list[Line] = []
    for iv in intervals:
        lines.append(
            Line(
                Category.DA_ENERGY,
                "DA",
                iv.interval_start,
                iv.position_mwh,
                "MWh",
                iv.da_price,
                _money(iv.position_mwh * iv.da_price, mu),
            )
        )
    for iv in intervals:
        deviation = iv.metered_mwh - iv.activated_mwh - iv.position_mwh
        price = iv.imbalance_price if iv.imbalance_price is not None else iv.da_price
        lines.append(
            Line(
                Category.IMBALANCE,
                "IMBALANCE",
                iv.interval_start,
                deviation,
                "MWh",
                price,
                _money(deviation * price, mu),
            )
        )
    for aw in sorted(awards, key=lambda a: (a.block_start, a.product)):
        lines.append(
            Line(
                Category.RESERVE_CAPACITY,
                aw.product,
                aw.block_start,
                aw.awarded_mw,
                "MW",
                aw.capacity_price,
                _money(-aw.awarded_mw * aw.capacity_price, mu),
            )
        )
        if aw.activated_mwh:
            # Up: the site consumed less on request and is paid for it; down: it pays for the
            # extra energy it took. A product paid per MWh called pays either way.
            paid = aw.payment is Payment.CURTAILMENT or aw.direction in (
                Direction.UP,
                Direction.SYMMETRIC,
            )
            sign = Decimal(-1) if paid else Decimal(1)
            lines.append(
                Line(
                    Category.RESERVE_ACTIVATION,
                    aw.product,
                    aw.block_start,
                    aw.activated_mwh,
                    "MWh",
                    aw.activation_price,
                    _money(sign * aw.activated_mwh * aw.activation_price, mu),
                )
            )
        if aw.mileage_mw:
            mileage_price = aw.mileage_price * aw.performance_factor
            lines.append(
                Line(
                    Category.RESERVE_MILEAGE,
                    aw.product,
                    aw.block_start,
                    aw.mileage_mw,
                    "MW",
                    mileage_price,
                    _money(-aw.mileage_mw * mileage_price, mu),
                )
            )
        if aw.shortfall_mw:
            lines.append(
                Line(
                    Category.RESERVE_PENALTY,
                    aw.product,
                    aw.block_start,
                    aw.shortfall_mw,
                    "MW",
                    aw.capacity_price * aw.penalty_factor,
                    _money(aw.shortfall_mw * aw.capacity_price * aw.penalty_factor, mu),
                )
            )
    lines.extend(ppa_lines)
    settlement = DaySettlement(zone.key, zone.currency, day, tuple(lines))
    totals = {
        "energy_cost": settlement.total_of(Category.DA_ENERGY),
        "imbalance_cost": settlement.total_of(Category.IMBALANCE),
        "reserve_revenue": -settlement.total_of(
            Category.RESERVE_CAPACITY,
            Category.RESERVE_ACTIVATION,
            Category.RESERVE_MILEAGE,
            Category.RESERVE_PENALTY,
        ),
        "ppa_cost": settlement.total_of(Category.PPA),
        "total_cost": settlement.total,
    }
    return DaySettlement(zone.key, zone.currency, day, tuple(lines), totals)
