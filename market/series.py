"""Time series that know when each value became known (knowledge time).

A :class:`KnownSeries` holds, per interval, one or more published values with their publication
instants. ``as_of(t)`` answers with what a decision at ``t`` could see: for each interval the latest
value published strictly before ``t``. Backtests go through this door, so look-ahead is impossible
by design.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from market.calendar import da_publication_utc, require_aware
from market.errors import SeriesError
from market.zones import Zone

COLUMNS = ("interval_start", "published_at", "value")


def _check_utc_index(index: pd.Index, what: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise SeriesError(f"{what} must be a DatetimeIndex")
    if index.tz is None:
        raise SeriesError(f"{what} is naive; every time must carry a UTC offset")
    return index.tz_convert("UTC")


@dataclass(frozen=True, slots=True)
class KnownSeries:
    """Values per interval with their publication instants.

    Parameters
    ----------
    frame
        Columns ``interval_start`` (UTC), ``published_at`` (UTC), ``value`` (float), sorted by
        ``(interval_start, published_at)``; one row per published value.
    resolution
        Interval length.
    unit
        Unit of ``value``, e.g. ``"EUR/MWh"`` or ``"tCO2e/MWh"``.
    source
        Where the values came from (file, dataset, SHA-256), kept with every figure built on them.
    """

    frame: pd.DataFrame
    resolution: timedelta
    unit: str
    source: str = ""

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.frame.columns]
        if missing:
            raise SeriesError(f"series frame lacks columns {missing}")
        if self.frame.duplicated(["interval_start", "published_at"]).any():
            raise SeriesError("series has two values for one interval and publication time")

    @classmethod
    def from_values(
        cls,
        values: pd.Series,
        published_at: pd.Series | Callable[[pd.DatetimeIndex], pd.DatetimeIndex],
        resolution: timedelta,
        unit: str,
        source: str = "",
    ) -> KnownSeries:
        """Build a series of one published value per interval.

        ``values`` is indexed by tz-aware interval starts; ``published_at`` is either a series on
        the same index or a rule that maps interval starts to publication instants (see
        :func:`published_day_ahead` and :func:`published_after_delivery`).
        """
        index = _check_utc_index(values.index, "values index")
        if index.has_duplicates:
            raise SeriesError("values index has duplicate interval starts")
        if callable(published_at):
            pub = pd.DatetimeIndex(published_at(index))
        else:
            pub = _check_utc_index(
                pd.DatetimeIndex(published_at.reindex(values.index)), "published_at"
            )
        if pub.tz is None:
            raise SeriesError("publication times are naive")
        frame = pd.DataFrame(
            {
                "interval_start": index,
                "published_at": pub.tz_convert("UTC"),
                "value": values.to_numpy(dtype="float64"),
            }
        ).sort_values(["interval_start", "published_at"], ignore_index=True)
        return cls(frame, resolution, unit, source)

    def as_of(self, t: datetime) -> pd.Series:
        """For each interval, the latest value published strictly before ``t``.

        Intervals with nothing published before ``t`` are absent.
        """
        cut = pd.Timestamp(require_aware(t, "as_of time"))
        seen = self.frame[self.frame["published_at"] < cut]
        latest = seen.drop_duplicates("interval_start", keep="last")
        return pd.Series(
            latest["value"].to_numpy(),
            index=pd.DatetimeIndex(latest["interval_start"], name="interval_start"),
            name="value",
        )

    def known_before(self, t: datetime) -> KnownSeries:
        """The series as a decision at ``t`` holds it: publications strictly before ``t`` only."""
        cut = pd.Timestamp(require_aware(t, "as_of time"))
        part = self.frame[self.frame["published_at"] < cut].reset_index(drop=True)
        return KnownSeries(part, self.resolution, self.unit, self.source)

    def final(self) -> pd.Series:
        """The last published value of every interval (hindsight: for settlement and reports)."""
        latest = self.frame.drop_duplicates("interval_start", keep="last")
        return pd.Series(
            latest["value"].to_numpy(),
            index=pd.DatetimeIndex(latest["interval_start"], name="interval_start"),
            name="value",
        )

    def between(self, start: datetime, end: datetime) -> KnownSeries:
        """The part of the series whose intervals start in ``[start, end)``."""
        s, e = pd.Timestamp(require_aware(start)), pd.Timestamp(require_aware(end))
        starts = self.frame["interval_start"]
        part = self.frame[(starts >= s) & (starts < e)].reset_index(drop=True)
        return KnownSeries(part, self.resolution, self.unit, self.source)

    def merged(self, other: KnownSeries) -> KnownSeries:
        """This series plus the publications of ``other`` (e.g. a later revision)."""
        if other.resolution != self.resolution or other.unit != self.unit:
            raise SeriesError("cannot merge series of different resolution or unit")
        frame = (
            pd.concat([self.frame, other.frame], ignore_index=True)
            .drop_duplicates(["interval_start", "published_at"], keep="last")
            .sort_values(["interval_start", "published_at"], ignore_index=True)
        )
        return KnownSeries(frame, self.resolution, self.unit, self.source)


def published_day_ahead(zone: Zone) -> Callable[[pd.DatetimeIndex], pd.DatetimeIndex]:
    """Rule: a DA value for delivery day D is published at the zone's DA publication time on D-1."""

    def rule(starts: pd.DatetimeIndex) -> pd.DatetimeIndex:
        local_days = starts.tz_convert(zone.tz).date
        cache: dict[date, datetime] = {}
        out = [cache.setdefault(d, da_publication_utc(d, zone)) for d in local_days]
        return pd.DatetimeIndex(out).tz_convert("UTC")

    return rule


def published_after_delivery(
    resolution: timedelta, lag: timedelta = timedelta(0)
) -> Callable[[pd.DatetimeIndex], pd.DatetimeIndex]:
    """Rule: a value is published ``lag`` after its interval ends (imbalance prices, meters)."""

    def rule(starts: pd.DatetimeIndex) -> pd.DatetimeIndex:
        return starts + resolution + lag

    return rule
