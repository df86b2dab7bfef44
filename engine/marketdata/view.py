"""Market data with knowledge time, and the point-in-time views every decision reads.

A :class:`MarketData` holds the DA, imbalance and reserve price series of one zone, each value
with the instant it was published. :meth:`MarketData.as_of` is the only door a decision goes
through: it keeps what was published strictly before the decision time, so a bid built live, a
bid built by the API for a past day and a backtest's bid see the same values. :class:`Actuals` are
the final (settled) values, for clearing and settlement only.

Two sources fill it: canonical files (:func:`from_files`) and the database (:func:`from_database`).

The system operator's calls on the site (an activation file, :mod:`engine.io.activations`) travel
with the reserve series as ``<KEY>_CALLED_MW`` and ``<KEY>_MILEAGE_MW``, each value known at the
end of its interval, so :meth:`MarketData.as_of` cuts them like every other series: a decision
sees the calls made before it, never later ones. :meth:`MarketData.actuals` splits them off the
clearing prices into :class:`~market.clearing.Activations` for settlement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlmodel import Session

from engine.core.errors import NotFoundError, PowerdeskError
from engine.io.activations import (
    CALLED_SUFFIX,
    MOVED_SUFFIX,
    activations_of,
    is_activation_key,
    read_activation_csv,
)
from engine.io.canonical import DA_SERIES, read_price_csv, read_reserve_price_csv
from engine.io.features import read_feature_csv
from engine.marketdata.store import FEATURE_PREFIX, load_series, stored_feature_names
from market import KnownSeries, Zone
from market.clearing import MILEAGE_SUFFIX, Activations

IMBALANCE_SERIES = "IMBALANCE"


@dataclass(frozen=True, slots=True)
class MarketData:
    """Market data of one zone with publication times.

    Parameters
    ----------
    da
        Day-ahead prices [currency/MWh].
    imbalance
        Imbalance (or real-time) prices [currency/MWh]; ``None``: deviations settle at the DA price.
    reserves
        Capacity clearing prices per reserve product key (and ``<KEY>_MILEAGE`` mileage prices)
        [currency/MW per product interval]; calls on the site as ``<KEY>_CALLED_MW`` and
        ``<KEY>_MILEAGE_MW`` [MW] where an activation file was given.
    features
        Exogenous day-ahead inputs by name (load, wind, solar forecasts, ...), each value with
        its knowledge time (:mod:`engine.io.features`).
    """

    da: KnownSeries
    imbalance: KnownSeries | None = None
    reserves: Mapping[str, KnownSeries] = field(default_factory=dict)
    features: Mapping[str, KnownSeries] = field(default_factory=dict)

    def as_of(self, t: datetime) -> MarketData:
        """What a decision at ``t`` may know: every publication strictly before ``t``."""
        return MarketData(
            self.da.known_before(t),
            None if self.imbalance is None else self.imbalance.known_before(t),
            {k: s.known_before(t) for k, s in sorted(self.reserves.items())},
            {k: s.known_before(t) for k, s in sorted(self.features.items())},
        )

    @property
    def activations(self) -> dict[str, KnownSeries]:
        """The activation series among :attr:`reserves` (empty without activation data)."""
        return {k: s for k, s in sorted(self.reserves.items()) if is_activation_key(k)}

    def actuals(self) -> Actuals:
        """Final values of every series (hindsight: to clear and settle)."""
        calls = self.activations
        return Actuals(
            self.da.final(),
            None if self.imbalance is None else self.imbalance.final(),
            self.imbalance.resolution if self.imbalance is not None else timedelta(0),
            {k: s.final() for k, s in sorted(self.reserves.items()) if k not in calls},
            activations_of(calls) if calls else None,
        )

    def sources(self) -> list[str]:
        """Where each series came from, one ``SERIES: source`` line each."""
        out = [f"{DA_SERIES}: {self.da.source}"]
        if self.imbalance is not None:
            out.append(f"{IMBALANCE_SERIES}: {self.imbalance.source}")
        out += [f"{k}: {s.source}" for k, s in sorted(self.reserves.items())]
        if self.features:
            first = next(iter(sorted(self.features.items())))[1]
            out.append(f"features {', '.join(sorted(self.features))}: {first.source}")
        return out


@dataclass(frozen=True, slots=True)
class Actuals:
    """Final (settled) values: what the market cleared at, for clearing and settlement.

    ``activations`` are the calls on the site (``None``: no activation data, awards are paid as
    capacity only).
    """

    da: pd.Series
    imbalance: pd.Series | None
    imbalance_resolution: timedelta
    reserves: dict[str, pd.Series]
    activations: Activations | None = None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (one-line error when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise PowerdeskError(f"{path}: cannot read file ({exc.strerror})") from None


def from_files(
    zone: Zone,
    prices: Path,
    imbalance_prices: Path | None = None,
    reserve_prices: Path | None = None,
    features: Sequence[Path] = (),
    activations: Path | None = None,
) -> tuple[MarketData, dict[str, dict[str, str]]]:
    """Market data from canonical files, and their provenance (file name and SHA-256 each).

    ``activations`` is an activation file (:mod:`engine.io.activations`): the calls on the site.
    """
    inputs = {"prices": {"file": prices.name, "sha256": file_sha256(prices)}}
    da = read_price_csv(prices, zone)
    imbalance = None
    if imbalance_prices is not None:
        imbalance = read_price_csv(imbalance_prices, zone, series=IMBALANCE_SERIES)
        inputs["imbalance_prices"] = {
            "file": imbalance_prices.name,
            "sha256": file_sha256(imbalance_prices),
        }
    reserves: dict[str, KnownSeries] = {}
    if reserve_prices is not None:
        reserves = read_reserve_price_csv(reserve_prices, zone)
        inputs["reserve_prices"] = {
            "file": reserve_prices.name,
            "sha256": file_sha256(reserve_prices),
        }
    if activations is not None:
        reserves = {**reserves, **read_activation_csv(activations, zone)}
        inputs["activations"] = {"file": activations.name, "sha256": file_sha256(activations)}
    feature_set: dict[str, KnownSeries] = {}
    if features:
        feature_set = read_feature_csv(features, zone).columns
        for k, path in enumerate(features):
            name = "features" if k == 0 else f"features_{k + 1}"
            inputs[name] = {"file": Path(path).name, "sha256": file_sha256(Path(path))}
    return MarketData(da, imbalance, reserves, feature_set), inputs


def _optional(session: Session, zone: Zone, series: str) -> KnownSeries | None:
    try:
        return load_series(session, zone, series)
    except NotFoundError:
        return None


def from_database(
    session: Session,
    zone: Zone,
    reserve_products: Iterable[str] = (),
    *,
    features: bool = True,
) -> MarketData:
    """Market data stored for ``zone``: DA (required), imbalance, the given reserve products
    with their mileage prices and the calls on them (where stored) and every stored feature
    (``features=False``: none, for settlement, which clears against prices only).

    Raises
    ------
    NotFoundError
        No DA prices are stored for the zone.
    """
    da = load_series(session, zone, DA_SERIES)
    imbalance = _optional(session, zone, IMBALANCE_SERIES)
    reserves: dict[str, KnownSeries] = {}
    for key in reserve_products:
        for name in (key, *(f"{key}{x}" for x in (MILEAGE_SUFFIX, CALLED_SUFFIX, MOVED_SUFFIX))):
            series = _optional(session, zone, name)
            if series is not None:
                reserves[name] = series
    stored = stored_feature_names(session, zone) if features else []
    columns = {name: load_series(session, zone, f"{FEATURE_PREFIX}{name}") for name in stored}
    return MarketData(da, imbalance, reserves, columns)
