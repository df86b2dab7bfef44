"""Market products as data: what can be bought or offered, in which blocks, paid how."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum


class Direction(StrEnum):
    """Which way a product moves the site's grid purchase when it is called."""

    ENERGY = "energy"  # day-ahead energy purchase
    UP = "up"  # the site lowers consumption (or discharges) when activated
    DOWN = "down"  # the site raises consumption (or charges) when activated
    SYMMETRIC = "symmetric"  # both ways, same capacity (FCR)


class Payment(StrEnum):
    """How the product is remunerated."""

    ENERGY = "energy"  # price per MWh bought or sold
    CAPACITY = "capacity"  # price per MW per product interval (block)
    CAPACITY_AND_MILEAGE = "capacity+mileage"  # capacity plus per-MW mileage actually moved
    # price per MWh of consumption change delivered when called: load reduced (DR, peak shaving)
    # or load raised (valley filling)
    CURTAILMENT = "curtailment"


@dataclass(frozen=True, slots=True)
class Product:
    """A tradable product of a zone.

    Parameters
    ----------
    key
        Registry key, e.g. ``"FCR"``, ``"AFRR_UP"``, ``"REGUP"``.
    name
        Human-readable name.
    direction
        Which way activation moves consumption.
    payment
        How it is paid.
    block
        Length of one product interval (a 4-hour block for FCR/aFRR, one hour for US ancillary
        services, the DA resolution for energy).
    min_size_mw
        Smallest offer [MW].
    activation_hours
        How long an activated offer must be sustainable [h]; sizes battery endurance.
    expected_activation_share
        Mean share of offered capacity activated as energy (used for mileage and activation
        settlement when no measured series is given) [-].
    mileage_ratio
        Mean regulation mileage per MW of capacity per hour [MW/MW/h] for mileage-paid products.
    pay_as_bid
        An accepted capacity offer is paid its own ask (Germany's aFRR capacity auction), not
        the block's clearing price (pay-as-clear, the default: FCR, the US and Chinese products).
        Either way an offer is accepted where its ask is at most the block's published price.
    """

    key: str
    name: str
    direction: Direction
    payment: Payment
    block: timedelta
    min_size_mw: Decimal = Decimal("0")
    activation_hours: float = 0.25
    expected_activation_share: float = 0.0
    mileage_ratio: float = 0.0
    pay_as_bid: bool = False

    @property
    def is_reserve(self) -> bool:
        """True for capacity products (everything except DA energy)."""
        return self.direction is not Direction.ENERGY


def _h(n: float) -> timedelta:
    return timedelta(hours=n)


DA_ENERGY = Product("DA", "Day-ahead energy", Direction.ENERGY, Payment.ENERGY, _h(1))

# EU balancing capacity (regelleistung.net / Energinet): 4-hour blocks since 2020-07.
FCR = Product(
    "FCR",
    "Frequency containment reserve (symmetric)",
    Direction.SYMMETRIC,
    Payment.CAPACITY,
    _h(4),
    Decimal("1"),
    activation_hours=0.25,
    expected_activation_share=0.02,
)
AFRR_UP = Product(
    "AFRR_UP",
    "aFRR capacity, positive",
    Direction.UP,
    Payment.CAPACITY,
    _h(4),
    Decimal("1"),
    activation_hours=1.0,
    expected_activation_share=0.05,
)
AFRR_DOWN = Product(
    "AFRR_DOWN",
    "aFRR capacity, negative",
    Direction.DOWN,
    Payment.CAPACITY,
    _h(4),
    Decimal("1"),
    activation_hours=1.0,
    expected_activation_share=0.05,
)

# Germany's aFRR capacity auction pays as bid (regelleistung.net); the published block price is
# the acceptance threshold an offer is compared with.
AFRR_UP_PAY_AS_BID = replace(AFRR_UP, pay_as_bid=True)
AFRR_DOWN_PAY_AS_BID = replace(AFRR_DOWN, pay_as_bid=True)

# US ISO ancillary services (hourly day-ahead capacity).
REGUP = Product(
    "REGUP",
    "Regulation up",
    Direction.UP,
    Payment.CAPACITY_AND_MILEAGE,
    _h(1),
    Decimal("0.1"),
    activation_hours=0.5,
    expected_activation_share=0.1,
    mileage_ratio=1.5,
)
REGDN = Product(
    "REGDN",
    "Regulation down",
    Direction.DOWN,
    Payment.CAPACITY_AND_MILEAGE,
    _h(1),
    Decimal("0.1"),
    activation_hours=0.5,
    expected_activation_share=0.1,
    mileage_ratio=1.5,
)
RRS = Product(
    "RRS",
    "Responsive reserve service",
    Direction.UP,
    Payment.CAPACITY,
    _h(1),
    Decimal("0.1"),
    activation_hours=1.0,
    expected_activation_share=0.01,
)
NSPIN = Product(
    "NSPIN",
    "Non-spinning reserve",
    Direction.UP,
    Payment.CAPACITY,
    _h(1),
    Decimal("0.1"),
    activation_hours=4.0,
    expected_activation_share=0.01,
)
ECRS = Product(
    "ECRS",
    "ERCOT contingency reserve service",
    Direction.UP,
    Payment.CAPACITY,
    _h(1),
    Decimal("0.1"),
    activation_hours=2.0,
    expected_activation_share=0.01,
)

# Chinese provincial ancillary services: frequency regulation paid on capacity plus mileage x the
# performance factor K, peak shaving (a load reducing consumption at system peak, paid per MWh
# reduced when called) and valley filling (a load raising consumption in the system's valley,
# paid per MWh raised when called). ``expected_activation_share`` of the demand-response products
# is only the fallback of a bid without activation history (see docs/ancillary-cn.md).
CN_FREQ_REG = Product(
    "FREQ_REG",
    "Frequency regulation (capacity + mileage)",
    Direction.SYMMETRIC,
    Payment.CAPACITY_AND_MILEAGE,
    _h(1),
    Decimal("5"),
    activation_hours=0.25,
    expected_activation_share=0.05,
    mileage_ratio=2.0,
)
CN_PEAK_SHAVING = Product(
    "PEAK_SHAVING",
    "Peak shaving (demand response)",
    Direction.UP,
    Payment.CURTAILMENT,
    _h(1),
    Decimal("1"),
    activation_hours=2.0,
    expected_activation_share=1.0,
)
CN_VALLEY_FILLING = Product(
    "VALLEY_FILLING",
    "Valley filling (demand response, consumption raised when called)",
    Direction.DOWN,
    Payment.CURTAILMENT,
    _h(1),
    Decimal("1"),
    activation_hours=2.0,
    expected_activation_share=1.0,
)
