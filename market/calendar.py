"""Delivery days, intervals, blocks and gate closures, DST-correct by construction.

Every instant is tz-aware and computed in UTC; intervals are half-open ``[start, end)`` labelled by
their start. A delivery day is the local calendar day of the zone, so it holds 23, 24 or 25 hours.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from market.errors import NaiveDatetimeError
from market.zones import Zone, get_zone

UTC = ZoneInfo("UTC")


def _zone(zone: Zone | str) -> Zone:
    return zone if isinstance(zone, Zone) else get_zone(zone)


def require_aware(instant: datetime, what: str = "datetime") -> datetime:
    """Return ``instant`` in UTC; a naive datetime is an error."""
    if instant.tzinfo is None or instant.tzinfo.utcoffset(instant) is None:
        raise NaiveDatetimeError(f"{what} {instant.isoformat()} has no UTC offset")
    return instant.astimezone(UTC)


def local_midnight_utc(day: date, zone: Zone | str) -> datetime:
    """The UTC instant of local midnight starting ``day`` in the zone."""
    z = _zone(zone)
    return datetime.combine(day, time(0), tzinfo=z.zoneinfo).astimezone(UTC)


def delivery_day_bounds(day: date, zone: Zone | str) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of the local delivery ``day``."""
    return local_midnight_utc(day, zone), local_midnight_utc(day + timedelta(days=1), zone)


def delivery_intervals(
    day: date, zone: Zone | str, resolution: timedelta | None = None
) -> pd.DatetimeIndex:
    """UTC start times of every interval of delivery ``day``.

    Parameters
    ----------
    day
        Local delivery day of the zone.
    zone
        A :class:`Zone` or its registry key.
    resolution
        Interval length; defaults to the zone's DA resolution in force on ``day``.

    Returns
    -------
    pandas.DatetimeIndex
        tz-aware UTC starts: 96 quarter-hours on a normal day, 92 or 100 on DST days
        (24/23/25 for hourly resolution).
    """
    z = _zone(zone)
    res = resolution if resolution is not None else z.resolution_on(day)
    start, end = delivery_day_bounds(day, z)
    if (end - start) % res:
        raise ValueError(f"resolution {res} does not divide delivery day {day} of {z.key}")
    return pd.date_range(start, end, freq=res, inclusive="left", name="interval_start")


def delivery_day_of(instant: datetime, zone: Zone | str) -> date:
    """Local delivery day of the zone that contains ``instant``."""
    return require_aware(instant).astimezone(_zone(zone).zoneinfo).date()


def gate_closure_utc(day: date, zone: Zone | str) -> datetime:
    """UTC instant at which DA bids for delivery ``day`` close (local time on D-1)."""
    z = _zone(zone)
    return datetime.combine(day - timedelta(days=1), z.gate_closure, tzinfo=z.zoneinfo).astimezone(
        UTC
    )


def da_publication_utc(day: date, zone: Zone | str) -> datetime:
    """UTC instant at which DA results for delivery ``day`` are published (local time on D-1)."""
    z = _zone(zone)
    return datetime.combine(
        day - timedelta(days=1), z.da_publication, tzinfo=z.zoneinfo
    ).astimezone(UTC)


def block_index(
    intervals: pd.DatetimeIndex, zone: Zone | str, block: timedelta
) -> npt.NDArray[np.int64]:
    """Block number (0, 1, ...) of every interval of one delivery day.

    Blocks are wall-clock blocks of the zone's local time (a 4-hour FCR block is 00:00-04:00 local),
    so on DST days a block holds more or fewer intervals: 00:00-04:00 has 3 hours on the spring day
    and 5 on the autumn day. Hourly blocks follow elapsed hours, so the repeated autumn hour is a
    block of its own.
    """
    z = _zone(zone)
    minutes = int(block.total_seconds() // 60)
    if minutes <= 0 or (24 * 60) % minutes:
        raise ValueError(f"block {block} does not divide a day")
    local = intervals.tz_convert(z.tz)
    minute_of_day = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
    on_boundary = (minute_of_day % minutes == 0) & (np.asarray(local.second) == 0)
    on_boundary[0] = True
    return np.cumsum(on_boundary, dtype=np.int64) - 1
