"""The zone registry: every market zone powerdesk trades in, as data.

Limits and times are the published market rules as of 2026 (sources in the ``notes`` field); a
zone's day-ahead resolution is dated, because SDAC moved from 60 to 15 minutes on 2025-10-01.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

from market.errors import UnknownProductError, UnknownZoneError
from market.products import (
    AFRR_DOWN,
    AFRR_DOWN_PAY_AS_BID,
    AFRR_UP,
    AFRR_UP_PAY_AS_BID,
    CN_FREQ_REG,
    CN_PEAK_SHAVING,
    CN_VALLEY_FILLING,
    DA_ENERGY,
    ECRS,
    FCR,
    NSPIN,
    REGDN,
    REGUP,
    RRS,
    Product,
)


@dataclass(frozen=True, slots=True)
class Zone:
    """A bidding zone or pricing node with its day-ahead market rules.

    Parameters
    ----------
    key
        Registry key, e.g. ``"DE-LU"``.
    name
        Human-readable name.
    tz
        IANA time zone of the market's local time (delivery days, gate closure, block labels).
    currency
        ISO 4217 code of every price in the zone.
    da_resolutions
        ``(from_day, resolution)`` pairs, sorted by day: the DA resolution in force from that
        delivery day on.
    gate_closure
        Local time on D-1 when DA bids for delivery day D close.
    da_publication
        Local time on D-1 when DA results for day D are published (knowledge time of DA prices).
    price_floor, price_cap
        Harmonised minimum and maximum clearing price [currency/MWh].
    tick
        Price increment of bids [currency/MWh].
    products
        Products the zone offers, DA energy first.
    minor_unit
        Smallest unit of the currency used in settlement (0.01 for EUR/USD/CNY).
    """

    key: str
    name: str
    tz: str
    currency: str
    da_resolutions: tuple[tuple[date, timedelta], ...]
    gate_closure: time
    da_publication: time
    price_floor: Decimal
    price_cap: Decimal
    tick: Decimal
    products: tuple[Product, ...]
    minor_unit: Decimal = Decimal("0.01")
    notes: str = ""
    _by_key: Mapping[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", MappingProxyType({p.key: p for p in self.products}))

    def __reduce__(self) -> tuple[type[Zone], tuple[object, ...]]:
        # The product index (a read-only view) does not pickle: rebuild the zone from its
        # fields, as a zones file's zones travel to the backtest's worker processes.
        return (type(self), tuple(getattr(self, f.name) for f in fields(self) if f.init))

    @property
    def zoneinfo(self) -> ZoneInfo:
        """The zone's local time as a :class:`zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.tz)

    def resolution_on(self, day: date) -> timedelta:
        """Day-ahead resolution in force for delivery ``day``."""
        current = self.da_resolutions[0][1]
        for start, resolution in self.da_resolutions:
            if day >= start:
                current = resolution
        return current

    def product(self, key: str) -> Product:
        """The product ``key`` of this zone."""
        try:
            return self._by_key[key]
        except KeyError:
            known = ", ".join(self._by_key)
            raise UnknownProductError(
                f"zone {self.key} has no product {key!r} (known: {known})"
            ) from None

    @property
    def reserve_products(self) -> tuple[Product, ...]:
        """Every capacity product of the zone (all but DA energy)."""
        return tuple(p for p in self.products if p.is_reserve)


_Q15 = timedelta(minutes=15)
_H1 = timedelta(hours=1)
_SDAC_15MIN = date(2025, 10, 1)
_EPOCH = date(1970, 1, 1)
_EU_RESERVES = (DA_ENERGY, FCR, AFRR_UP, AFRR_DOWN)
_DE_RESERVES = (DA_ENERGY, FCR, AFRR_UP_PAY_AS_BID, AFRR_DOWN_PAY_AS_BID)
_CN_PRODUCTS = (DA_ENERGY, CN_FREQ_REG, CN_PEAK_SHAVING, CN_VALLEY_FILLING)


def _sdac(key: str, name: str, tz: str, products: tuple[Product, ...]) -> Zone:
    return Zone(
        key=key,
        name=name,
        tz=tz,
        currency="EUR",
        da_resolutions=((_EPOCH, _H1), (_SDAC_15MIN, _Q15)),
        gate_closure=time(12, 0),
        da_publication=time(12, 45),
        price_floor=Decimal("-500"),
        price_cap=Decimal("4000"),
        tick=Decimal("0.1"),
        products=products,
        notes="SDAC harmonised min/max clearing price (HMMCP) -500/+4000 EUR/MWh; 15-min MTU "
        "from delivery day 2025-10-01.",
    )


def _cn(key: str, name: str, floor: str, cap: str, notes: str) -> Zone:
    return Zone(
        key=key,
        name=name,
        tz="Asia/Shanghai",
        currency="CNY",
        da_resolutions=((_EPOCH, _Q15),),
        gate_closure=time(10, 0),
        da_publication=time(17, 30),
        price_floor=Decimal(floor),
        price_cap=Decimal(cap),
        tick=Decimal("0.01"),
        products=_CN_PRODUCTS,
        notes=notes,
    )


# The registry table: built-in entries, plus any a zones file registers (:func:`register_zones`).
_TABLE: dict[str, Zone] = dict(
    {
        z.key: z
        for z in (
            _sdac("DE-LU", "Germany-Luxembourg (SDAC)", "Europe/Berlin", _DE_RESERVES),
            _sdac("DK1", "Denmark West (SDAC)", "Europe/Copenhagen", _EU_RESERVES),
            _sdac(
                "DK2", "Denmark East (SDAC)", "Europe/Copenhagen", (DA_ENERGY, AFRR_UP, AFRR_DOWN)
            ),
            Zone(
                key="CAISO",
                name="CAISO day-ahead (DLAP node)",
                tz="America/Los_Angeles",
                currency="USD",
                da_resolutions=((_EPOCH, _H1),),
                gate_closure=time(10, 0),
                da_publication=time(13, 0),
                price_floor=Decimal("-150"),
                price_cap=Decimal("2000"),
                tick=Decimal("0.01"),
                products=(DA_ENERGY, REGUP, REGDN),
                notes="CAISO bid floor -150 USD/MWh, hard bid cap 2000 USD/MWh (FERC 831).",
            ),
            Zone(
                key="ERCOT",
                name="ERCOT day-ahead (HB_HUBAVG)",
                tz="America/Chicago",
                currency="USD",
                da_resolutions=((_EPOCH, _H1),),
                gate_closure=time(10, 0),
                da_publication=time(13, 30),
                price_floor=Decimal("-250"),
                price_cap=Decimal("5000"),
                tick=Decimal("0.01"),
                products=(DA_ENERGY, REGUP, REGDN, RRS, NSPIN, ECRS),
                notes="ERCOT DAM offer floor -250 USD/MWh, system-wide offer cap 5000 USD/MWh.",
            ),
            _cn(
                "CN-GS",
                "China, Gansu provincial spot market",
                "40",
                "650",
                "Gansu spot price limits 40/650 CNY/MWh (as seen in 2024 clearing data).",
            ),
            _cn(
                "CN-JS",
                "China, Jiangsu provincial spot market",
                "0",
                "1500",
                "Jiangsu user-side DA unified settlement price; limits as configured, verify.",
            ),
            _cn(
                "CN-GD",
                "China, Guangdong provincial spot market",
                "0",
                "1500",
                "Guangdong spot limits as configured, verify against the current trading rules.",
            ),
            _cn(
                "CN-SX",
                "China, Shanxi provincial spot market",
                "0",
                "1500",
                "Shanxi spot limits as configured, verify against the current trading rules.",
            ),
            _cn(
                "CN-SD",
                "China, Shandong provincial spot market",
                "-80",
                "1300",
                "Shandong spot limits -80/1300 CNY/MWh.",
            ),
        )
    }
)
ZONES: Mapping[str, Zone] = MappingProxyType(_TABLE)


def register_zones(zones: Iterable[Zone]) -> dict[str, Zone | None]:
    """Add or override registry entries (a zones file); returns what each key held before.

    The registry is process-wide: a worker process registers the same zones before it reads
    them (the portfolio backtest ships them with its tasks).
    """
    before: dict[str, Zone | None] = {}
    for z in zones:
        before.setdefault(z.key, _TABLE.get(z.key))
        _TABLE[z.key] = z
    return before


def restore_zones(before: Mapping[str, Zone | None]) -> None:
    """Undo :func:`register_zones` with what it returned."""
    for key, z in before.items():
        if z is None:
            _TABLE.pop(key, None)
        else:
            _TABLE[key] = z


def get_zone(key: str) -> Zone:
    """The zone ``key`` from the registry; raises :class:`UnknownZoneError` with the known keys."""
    try:
        return ZONES[key]
    except KeyError:
        raise UnknownZoneError(
            f"unknown zone {key!r} (known: {', '.join(sorted(ZONES))})"
        ) from None
