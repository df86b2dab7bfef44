"""Daily panels: one row per local delivery day, one column per wall-clock slot of the day.

Every model of this package works on a :class:`DailyPanel`: ``prices[i, s]`` is the price of slot
``s`` (wall-clock ``s * slot_minutes`` local time) on day ``days[i]``, and ``features[i, s, k]`` the
value of exogenous input ``k`` for that slot. Building a panel from a UTC series maps every
interval to its local wall-clock slot, so DST days fit the same 24 (or 96) columns:

* the spring day's missing slot(s) are the mean of the neighbouring slots before and after the gap
  (the rule the epftoolbox datasets use);
* the autumn day's repeated slot(s) are the mean of their two values.

:func:`slots_to_intervals` maps a day's slot values back onto the real UTC intervals of the day
(the repeated autumn hour gets its slot's value twice; the missing spring slot is dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from forecast.errors import ForecastError
from market import Zone, delivery_intervals

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DailyPanel:
    """Prices and exogenous inputs per local day and wall-clock slot.

    Parameters
    ----------
    days
        Consecutive local delivery days, one per row.
    prices
        Shape ``(N, T)``; NaN where a price is not known (e.g. the day being forecast).
    features
        Shape ``(N, T, K)``: exogenous day-ahead forecasts, each known before gate closure of
        its own day; ``K`` may be 0.
    feature_names
        The ``K`` input names.
    """

    days: tuple[date, ...]
    prices: FloatArray
    features: FloatArray
    feature_names: tuple[str, ...] = ()
    _index: dict[date, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices, dtype=np.float64)
        if prices.ndim != 2 or prices.shape[0] != len(self.days):
            raise ForecastError(f"prices have shape {prices.shape}, expected ({len(self.days)}, T)")
        feats = np.asarray(self.features, dtype=np.float64)
        if feats.ndim != 3 or feats.shape[:2] != prices.shape:
            raise ForecastError(f"features have shape {feats.shape}, expected (N, T, K)")
        if feats.shape[2] != len(self.feature_names):
            raise ForecastError("one feature name per exogenous input is needed")
        for a, b in zip(self.days, self.days[1:], strict=False):
            if (b - a).days != 1:
                raise ForecastError(f"panel days are not consecutive: {a} then {b}")
        object.__setattr__(self, "prices", prices)
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "_index", {d: i for i, d in enumerate(self.days)})

    @property
    def n_slots(self) -> int:
        """Slots per day ``T``."""
        return int(self.prices.shape[1])

    @property
    def n_features(self) -> int:
        """Exogenous inputs ``K``."""
        return int(self.features.shape[2])

    def index_of(self, day: date) -> int:
        """Row of ``day``."""
        try:
            return self._index[day]
        except KeyError:
            raise ForecastError(
                f"day {day} is outside the data ({self.days[0]} .. {self.days[-1]})"
            ) from None

    def known_for(self, i: int) -> DailyPanel:
        """What a forecaster of row ``i`` may see: prices up to row ``i - 1``, inputs up to ``i``.

        Rows after ``i`` are dropped and the prices of row ``i`` are NaN.
        """
        prices = self.prices[: i + 1].copy()
        prices[i] = np.nan
        return DailyPanel(self.days[: i + 1], prices, self.features[: i + 1], self.feature_names)


def slot_of(
    index: pd.DatetimeIndex, zone: Zone, slot_minutes: int
) -> tuple[list[date], FloatArray]:
    """Local day and wall-clock slot number of every UTC interval start."""
    local = index.tz_convert(zone.tz)
    minutes = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
    return list(local.date), np.asarray(minutes // slot_minutes, dtype=np.float64)


def _fill_gaps(row: FloatArray) -> FloatArray:
    """Missing slots inside a day: the mean of the nearest known slot before and after."""
    out = row.copy()
    known = np.flatnonzero(~np.isnan(row))
    if known.size == 0 or known.size == row.size:
        return out
    for s in np.flatnonzero(np.isnan(row)).tolist():
        before = known[known < s]
        after = known[known > s]
        vals = ([row[before[-1]]] if before.size else []) + ([row[after[0]]] if after.size else [])
        out[s] = float(np.mean(vals))
    return out


def series_to_slots(
    values: pd.Series, zone: Zone, first: date, last: date, slot_minutes: int
) -> FloatArray:
    """Values of a UTC-indexed series on the ``(days, slots)`` grid of ``first .. last``.

    Days without any value are NaN rows; a day with some values has its DST gap filled by the
    mean of its neighbours and its repeated slot averaged. Days partly covered (other than by
    DST) keep NaN in the uncovered slots.
    """
    n_days = (last - first).days + 1
    n_slots = 24 * 60 // slot_minutes
    out = np.full((n_days, n_slots), np.nan)
    if values.empty:
        return out
    index = values.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ForecastError("series index must be tz-aware interval starts")
    days, slots = slot_of(index, zone, slot_minutes)
    frame = pd.DataFrame(
        {
            "row": [(d - first).days for d in days],
            "slot": slots.astype(np.int64),
            "value": values.to_numpy(dtype=np.float64),
        }
    )
    frame = frame[(frame["row"] >= 0) & (frame["row"] < n_days)]
    # Sub-slot intervals and the repeated autumn hour: the mean of the values in the slot.
    grouped = frame.groupby(["row", "slot"], sort=False)["value"].mean()
    rows = grouped.index.get_level_values(0).to_numpy()
    cols = grouped.index.get_level_values(1).to_numpy()
    out[rows, cols] = grouped.to_numpy()
    for r in np.unique(rows).tolist():
        day = first + timedelta(days=r)
        n_real = len(delivery_intervals(day, zone, timedelta(minutes=slot_minutes)))
        if n_real < n_slots:  # spring DST day: fill the slot(s) that do not exist on the clock
            out[r] = _fill_gaps(out[r])
    return out


def slots_to_intervals(
    values: FloatArray, day: date, zone: Zone
) -> tuple[pd.DatetimeIndex, FloatArray]:
    """A day's slot values on the real UTC intervals of the zone's delivery day."""
    slot_minutes = 24 * 60 // int(values.shape[-1])
    intervals = delivery_intervals(day, zone, timedelta(minutes=slot_minutes))
    _, slots = slot_of(intervals, zone, slot_minutes)
    return intervals, np.asarray(values[..., slots.astype(np.int64)], dtype=np.float64)


def panel_from_series(
    prices: pd.Series,
    zone: Zone,
    first: date,
    last: date,
    slot_minutes: int = 60,
    features: pd.DataFrame | None = None,
) -> DailyPanel:
    """A panel of ``first .. last`` from UTC-indexed prices and exogenous inputs (columns)."""
    p = series_to_slots(prices, zone, first, last, slot_minutes)
    names: tuple[str, ...] = ()
    f = np.zeros((*p.shape, 0))
    if features is not None and len(features.columns):
        names = tuple(str(c) for c in features.columns)
        f = np.stack(
            [
                series_to_slots(features[c], zone, first, last, slot_minutes)
                for c in features.columns
            ],
            axis=2,
        )
    days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
    return DailyPanel(days, p, f, names)
