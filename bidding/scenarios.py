"""Price scenarios for a delivery day, built only from what was published before gate closure.

Method (``similar-days-v1``): take the history as a decision at gate closure of day ``D`` sees it
(``history.as_of(gate_closure_utc(D, zone))``). Every complete past delivery day ``d`` within the
look-back is a candidate; its weight is

* ``3`` for the same weekday, ``1`` for the same day type (working day / weekend), ``0.25`` else,
* times a recency decay ``exp(-age_days / 28)``.

The ``n`` heaviest days (ties: the more recent first) become the scenarios, their normalised
weights the probabilities. A past day's prices are mapped onto ``D``'s intervals by local wall-clock
time of day (so DST days and a change of resolution line up: the value whose interval contains the
local start time is used). ``seed`` adds a reproducible random perturbation only when fewer
candidate days exist than scenarios asked for, so that duplicated days remain distinct scenarios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding.errors import ScenarioError
from market import KnownSeries, Zone, delivery_intervals, gate_closure_utc, get_zone

FloatArray = npt.NDArray[np.float64]
METHOD = "similar-days-v1"


@dataclass(frozen=True, slots=True)
class PriceScenarios:
    """Price scenarios on the intervals of one delivery day.

    Parameters
    ----------
    intervals
        UTC interval starts of the day (from :func:`market.delivery_intervals`).
    prices_per_mwh
        Shape ``(S, T)`` [currency/MWh].
    probabilities
        Shape ``(S,)``, non-negative, summing to one [-].
    method
        How they were made (``similar-days-v1``, ``point``, ``perfect-foresight``).
    source_days
        Past delivery days behind each scenario (empty for point forecasts).
    as_of
        Knowledge time of the inputs (gate closure for forecasts; ``None`` for hindsight or
        hand-made prices).
    """

    intervals: pd.DatetimeIndex
    prices_per_mwh: FloatArray
    probabilities: FloatArray
    method: str = "point"
    source_days: tuple[date, ...] = ()
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices_per_mwh, dtype=np.float64)
        if prices.ndim != 2 or prices.shape[1] != len(self.intervals):
            raise ScenarioError(
                f"prices have shape {prices.shape}, expected (S, {len(self.intervals)})"
            )
        if not np.isfinite(prices).all():
            raise ScenarioError("scenario prices must be finite (a missing interval?)")
        probs = np.asarray(self.probabilities, dtype=np.float64)
        if probs.shape != (prices.shape[0],) or (probs < 0).any():
            raise ScenarioError("probabilities must be one non-negative weight per scenario")
        if not math.isclose(float(probs.sum()), 1.0, rel_tol=1e-9):
            raise ScenarioError(f"probabilities sum to {probs.sum()}, not 1")

    @property
    def n(self) -> int:
        """Number of scenarios."""
        return int(self.prices_per_mwh.shape[0])

    def expected(self) -> FloatArray:
        """Probability-weighted mean price per interval [currency/MWh]."""
        return np.asarray(self.probabilities @ self.prices_per_mwh, dtype=np.float64)

    @classmethod
    def point(cls, intervals: pd.DatetimeIndex, prices_per_mwh: npt.ArrayLike) -> PriceScenarios:
        """One scenario of certainty (a deterministic or perfect-foresight solve)."""
        prices = np.asarray(prices_per_mwh, dtype=np.float64).reshape(1, -1)
        return cls(intervals, prices, np.ones(1), "point")

    @classmethod
    def perfect_foresight(cls, series: KnownSeries, day: date, zone: Zone | str) -> PriceScenarios:
        """The day's own final prices as a single scenario (hindsight: for benchmarks only)."""
        intervals = delivery_intervals(day, zone)
        values = _day_profile(series.final(), intervals, _zone(zone), series.resolution)
        if values is None:
            raise ScenarioError(f"price series does not cover delivery day {day}")
        return cls(intervals, values.reshape(1, -1), np.ones(1), "perfect-foresight", (day,))

    @classmethod
    def deterministic(
        cls, history: KnownSeries, day: date, zone: Zone | str, n_days: int = 7
    ) -> PriceScenarios:
        """One point forecast: the expectation of :func:`make_scenarios` over ``n_days`` days."""
        sc = make_scenarios(history, day, zone, n_days)
        return cls(
            sc.intervals,
            sc.expected().reshape(1, -1),
            np.ones(1),
            "point",
            sc.source_days,
            sc.as_of,
        )


def _zone(zone: Zone | str) -> Zone:
    return zone if isinstance(zone, Zone) else get_zone(zone)


def _local_minutes(index: pd.DatetimeIndex, zone: Zone) -> npt.NDArray[np.int64]:
    local = index.tz_convert(zone.tz)
    return np.asarray(local.hour * 60 + local.minute, dtype=np.int64)


def _day_profile(
    known: pd.Series, intervals: pd.DatetimeIndex, zone: Zone, resolution: timedelta
) -> FloatArray | None:
    """Values for ``intervals`` when ``known`` covers the whole day (same day), else None."""
    res = pd.Timedelta(resolution)
    starts = intervals.floor(res) if res <= pd.Timedelta(hours=1) else intervals
    got = known.reindex(starts)
    if got.isna().any():
        return None
    return np.asarray(got.to_numpy(dtype=np.float64), dtype=np.float64)


def _past_day_on(
    known: pd.Series,
    past: date,
    target_minutes: npt.NDArray[np.int64],
    zone: Zone,
    resolution: timedelta,
) -> FloatArray | None:
    """A past day's prices mapped onto the target day's local times, or None if incomplete."""
    src = delivery_intervals(past, zone, resolution)
    got = known.reindex(src)
    if got.isna().any():
        return None
    src_minutes = _local_minutes(src, zone)
    res_min = int(resolution.total_seconds() // 60)
    # First occurrence of each local start time (the autumn repeated hour keeps its first pass).
    lookup: dict[int, float] = {}
    for minute, value in zip(src_minutes.tolist(), got.to_numpy().tolist(), strict=True):
        lookup.setdefault(minute, float(value))
    out = np.empty(target_minutes.size)
    for i, minute in enumerate(target_minutes.tolist()):
        key = (minute // res_min) * res_min
        if key not in lookup:  # the spring gap: use the hour before it
            key = max(k for k in lookup if k <= key) if any(k <= key for k in lookup) else key
        out[i] = lookup[key]
    return out


def _weight(past: date, day: date) -> float:
    age = (day - past).days
    same_type = (past.weekday() >= 5) == (day.weekday() >= 5)
    base = 3.0 if past.weekday() == day.weekday() else (1.0 if same_type else 0.25)
    return base * math.exp(-age / 28.0)


def make_scenarios(
    history: KnownSeries,
    day: date,
    zone: Zone | str,
    n: int,
    seed: int = 0,
    lookback_days: int = 56,
) -> PriceScenarios:
    """Price scenarios for delivery ``day`` from similar past days known before gate closure.

    Parameters
    ----------
    history
        DA price series with publication times (the whole file is fine: only values published
        before gate closure of ``day`` are used).
    day
        Delivery day.
    zone
        Market zone.
    n
        Number of scenarios.
    seed
        Seed of the perturbation used when fewer than ``n`` past days are available.
    lookback_days
        How far back candidate days are taken from [days].

    Raises
    ------
    ScenarioError
        When no complete past day was published before gate closure.
    """
    if n < 1:
        raise ScenarioError(f"need at least one scenario, asked for {n}")
    z = _zone(zone)
    gate = gate_closure_utc(day, z)
    known = history.as_of(gate)
    intervals = delivery_intervals(day, z)
    target_minutes = _local_minutes(intervals, z)
    candidates: list[tuple[float, date, FloatArray]] = []
    for back in range(1, lookback_days + 1):
        past = day - timedelta(days=back)
        profile = _past_day_on(known, past, target_minutes, z, history.resolution)
        if profile is not None:
            candidates.append((_weight(past, day), past, profile))
    if not candidates:
        raise ScenarioError(
            f"no complete day of prices published before gate closure {gate.isoformat()} "
            f"of {day} in the {lookback_days} days before it"
        )
    candidates.sort(key=lambda c: (-c[0], -c[1].toordinal()))
    chosen = candidates[:n]
    prices = np.vstack([c[2] for c in chosen])
    weights = np.array([c[0] for c in chosen])
    days = tuple(c[1] for c in chosen)
    if len(chosen) < n:
        # Too little history: repeat the days with a seeded +-10 % multiplicative noise.
        rng = np.random.default_rng(seed)
        extra = n - len(chosen)
        pick = np.arange(extra) % len(chosen)
        noise = rng.uniform(0.9, 1.1, size=(extra, prices.shape[1]))
        prices = np.vstack([prices, prices[pick] * noise])
        weights = np.concatenate([weights, weights[pick]])
        days = days + tuple(days[i] for i in pick.tolist())
    floor, cap = float(z.price_floor), float(z.price_cap)
    prices = np.clip(prices, floor, cap)
    return PriceScenarios(intervals, prices, weights / weights.sum(), METHOD, days, gate)
