"""The canonical CSV forms of market data, read with full validation and written atomically.

Price file (energy prices of one zone and series)::

    interval_start,price[,interval_end]
    2025-03-01T00:00:00+00:00,104.35

``interval_start`` is ISO 8601 with a UTC offset (naive times are refused), ``price`` is in the
zone's currency per MWh. Without ``interval_end`` each interval lasts the zone's day-ahead
resolution in force on its local delivery day (so a DE-LU file across 2025-10-01 switches from
60 to 15 minutes by itself), or the ``resolution`` the caller names.

Reserve price file (capacity prices, per MW per product interval)::

    interval_start,product,price

``product`` is a reserve product key of the zone (``FCR``, ``AFRR_UP``, ``REGUP``, ...); each
interval is one block of the product (4-hour blocks on the local wall clock for FCR/aFRR, so 3 or
5 hours on DST days; one hour for US ancillary services). A product paid capacity + mileage
(``FREQ_REG``, ``REGUP``) may also carry its mileage price as product ``<KEY>_MILEAGE``
[currency/MW of mileage], on the same blocks.

Emission-factor file (hourly grid emission factors, written by the Electricity Maps importer)::

    interval_start,ef_tco2e_per_mwh,carbon_free_share[,interval_end]

``ef_tco2e_per_mwh`` is the grid-average (location-based) emission factor [tCO2e/MWh] and
``carbon_free_share`` the carbon-free share of the grid mix [0..1]; intervals are one hour unless
``interval_end`` is given.

Row numbers in errors are line numbers of the file (the header is row 1). Writers emit UTC
instants as ``2025-03-01T00:00:00+00:00`` and floats in their shortest round-trip form
(``repr``), so the same data always give the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.core.errors import InputFileError, PowerdeskError
from engine.core.files import write_file_atomic
from engine.io.emission_factors import EF_COLUMNS
from engine.io.meter import read_csv_table
from market import (
    KnownSeries,
    Payment,
    Product,
    Zone,
    delivery_day_bounds,
    delivery_intervals,
    get_zone,
    published_day_ahead,
)
from market.calendar import block_index
from market.clearing import MILEAGE_SUFFIX
from market.errors import UnknownProductError

PRICE_COLUMNS = ("interval_start", "price")
RESERVE_COLUMNS = ("interval_start", "product", "price")
DA_SERIES = "DA"

_AWARE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"
)
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_QUARTER = timedelta(minutes=15)
_DAY = timedelta(days=1)


# --------------------------------------------------------------------------------------------
# Reading: a small CSV table with file line numbers


@dataclass(frozen=True, slots=True)
class _Table:
    path: Path
    header: tuple[str, ...]
    rows: list[list[str]]
    lines: npt.NDArray[np.int64]  # file line number of every data row
    sha256: str

    def has(self, column: str) -> bool:
        return column in self.header

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [r[i].strip() for r in self.rows]

    def fail(self, problem: str, position: int | None = None) -> InputFileError:
        row = None if position is None else int(self.lines[position])
        return InputFileError(str(self.path), problem, row)

    @property
    def source(self) -> str:
        return f"{self.path.name} (sha256 {self.sha256})"


def _read_table(path: Path, required: Sequence[str]) -> _Table:
    # One CSV reader for every canonical file (prices, meters, factors): see engine.io.meter.
    t = read_csv_table(path, required)
    return _Table(
        t.path, t.header, [list(r) for r in t.rows], np.asarray(t.lines, np.int64), t.sha256
    )


def _instants(table: _Table, column: str) -> pd.DatetimeIndex:
    values = table.column(column)
    for i, v in enumerate(values):
        if not _AWARE.match(v):
            if _NAIVE.match(v):
                raise table.fail(f"naive timestamp {v!r} in {column} (a UTC offset is required)", i)
            raise table.fail(f"{column} {v!r} is not an ISO 8601 timestamp", i)
    parsed = pd.to_datetime(pd.Series(values), format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        raise table.fail(f"{column} {values[bad[0]]!r} is not a valid date and time", int(bad[0]))
    return pd.DatetimeIndex(parsed).as_unit("us")


def _numbers(table: _Table, column: str) -> npt.NDArray[np.float64]:
    values = table.column(column)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if not v:
            raise table.fail(f"empty {column}", i)
        try:
            x = float(v)
        except ValueError:
            raise table.fail(f"{column} {v!r} is not a number", i) from None
        if not math.isfinite(x):
            raise table.fail(f"{column} {v!r} is not a finite number", i)
        out[i] = x
    return out


def _local_days(starts: pd.DatetimeIndex, zone: Zone) -> list[date]:
    first = starts.min().tz_convert(zone.tz).date()
    last = starts.max().tz_convert(zone.tz).date()
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _check_duplicates(table: _Table, keys: pd.Index, what: str) -> None:
    dup = np.flatnonzero(keys.duplicated(keep="first"))
    if dup.size:
        pos = int(dup[0])
        first = int(np.flatnonzero(keys == keys[pos])[0])
        raise table.fail(
            f"duplicate interval {what}{_iso(keys[pos])} (also on row {table.lines[first]})", pos
        )


def _iso(key: object) -> str:
    if isinstance(key, tuple):
        return " ".join(_iso(k) for k in key)
    if isinstance(key, pd.Timestamp):
        return key.tz_convert("UTC").isoformat()
    return str(key)


def _on_grid(
    table: _Table,
    starts: pd.DatetimeIndex,
    expected: pd.DatetimeIndex,
    expected_ends: pd.DatetimeIndex,
    describe: Callable[[pd.Timestamp], str],
    positions: npt.NDArray[np.int64] | None = None,
) -> pd.DatetimeIndex:
    """Check ``starts`` against the ``expected`` grid; return each start's interval end."""
    rows = np.arange(len(starts)) if positions is None else positions
    where = expected.get_indexer(starts)
    off = np.flatnonzero(where < 0)
    if off.size:
        ts = starts[int(off[0])]
        raise table.fail(
            f"interval_start {ts.isoformat()} is not on the {describe(ts)} grid", int(rows[off[0]])
        )
    lo, hi = int(where.min()), int(where.max())
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[where - lo] = True
    gaps = np.flatnonzero(~present)
    if gaps.size:
        missing = expected[lo + int(gaps[0])]
        after = starts > missing
        nxt = int(np.flatnonzero(after)[np.argmin(starts[after].asi8)])
        raise table.fail(
            f"missing interval {missing.isoformat()} (the gap ends at this row)", int(rows[nxt])
        )
    return expected_ends[where]


def _zone_grid(
    zone: Zone, days: list[date], resolution: timedelta | None
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Interval starts and ends of ``days`` on the zone's (dated) DA grid."""
    parts = [delivery_intervals(d, zone, resolution) for d in days]
    starts = parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]
    starts = pd.DatetimeIndex(starts).as_unit("us")
    last_end = pd.Timestamp(delivery_day_bounds(days[-1], zone)[1]).as_unit("us")
    ends = starts[1:].append(pd.DatetimeIndex([last_end]))
    return starts, pd.DatetimeIndex(ends).as_unit("us")


def _explicit_ends(table: _Table, starts: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Validate an ``interval_end`` column: positive lengths dividing a day, aligned, contiguous."""
    ends = _instants(table, "interval_end")
    lengths = (ends - starts).to_numpy()
    bad = np.flatnonzero(lengths <= np.timedelta64(0, "ns"))
    if bad.size:
        raise table.fail("interval_end is not after interval_start", int(bad[0]))
    local = starts.tz_convert(tz)
    minute_of_day = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
    length_min = lengths.astype("timedelta64[s]").astype(np.int64) // 60
    for i in range(len(starts)):
        n = int(length_min[i])
        if n <= 0 or (24 * 60) % n or minute_of_day[i] % n or local[i].second:
            raise table.fail(
                f"interval {starts[i].isoformat()}..{ends[i].isoformat()} is not on a "
                f"{n}-minute grid of {tz} time",
                i,
            )
    order = np.argsort(starts.asi8, kind="stable")
    s, e = starts[order], ends[order]
    gap = np.flatnonzero(e[:-1] != s[1:])
    if gap.size:
        k = int(gap[0])
        problem = (
            f"missing interval {e[k].isoformat()} (the gap ends at this row)"
            if e[k] < s[k + 1]
            else f"interval {s[k + 1].isoformat()} overlaps the one before it"
        )
        raise table.fail(problem, int(order[k + 1]))
    return ends


# --------------------------------------------------------------------------------------------
# Public readers


def _as_zone(zone: Zone | str) -> Zone:
    return zone if isinstance(zone, Zone) else get_zone(zone)


PLAUSIBLE_FACTOR = 10
"""An energy price beyond this many times the zone's largest day-ahead limit (``price_cap``,
``|price_floor|``) is refused as implausible: scarcity and imbalance prices exceed the day-ahead
cap, never by this much (DE-LU: +-40,000 EUR/MWh)."""


def _check_plausible(table: _Table, prices: npt.NDArray[np.float64], zone: Zone) -> None:
    bound = PLAUSIBLE_FACTOR * float(max(abs(zone.price_floor), abs(zone.price_cap)))
    bad = np.flatnonzero(np.abs(prices) > bound)
    if bad.size:
        i = int(bad[0])
        raise table.fail(
            f"price {prices[i]:g} is implausible for {zone.key} (beyond +-{bound:g}, "
            f"{PLAUSIBLE_FACTOR} times its day-ahead limits)",
            i,
        )


def read_price_frame(
    path: Path, zone: Zone | str, *, resolution: timedelta | None = None
) -> pd.DataFrame:
    """Read and validate a canonical price file into a plain table.

    Same validation as :func:`read_price_csv`; returns columns ``interval_start``,
    ``interval_end`` (UTC) and ``price`` [currency/MWh] sorted by start, with
    ``attrs["source"]`` naming the file and its SHA-256.
    """
    z = _as_zone(zone)
    table = _read_table(Path(path), PRICE_COLUMNS)
    starts = _instants(table, "interval_start")
    prices = _numbers(table, "price")
    _check_plausible(table, prices, z)
    _check_duplicates(table, starts, "")
    if table.has("interval_end"):
        ends = _explicit_ends(table, starts, z.tz)
    else:
        try:
            grid, grid_ends = _zone_grid(z, _local_days(starts, z), resolution)
        except ValueError as exc:
            raise table.fail(str(exc)) from None

        def describe(ts: pd.Timestamp) -> str:
            day = ts.tz_convert(z.tz).date()
            res = resolution or z.resolution_on(day)
            return f"{z.key} {int(res.total_seconds() // 60)}-minute"

        ends = _on_grid(table, starts, grid, grid_ends, describe)
    frame = pd.DataFrame({"interval_start": starts, "interval_end": ends, "price": prices})
    frame = frame.sort_values("interval_start", ignore_index=True)
    frame.attrs["source"] = table.source
    return frame


def read_price_csv(
    path: Path,
    zone: Zone | str,
    *,
    series: str = DA_SERIES,
    resolution: timedelta | None = None,
) -> KnownSeries:
    """Read and validate a canonical price file.

    Parameters
    ----------
    path
        The CSV file (``interval_start,price[,interval_end]``).
    zone
        The zone (or its registry key); fixes currency, local days and the interval grid.
    series
        ``"DA"`` values become known at the zone's DA publication on D-1; any other series
        (``"IMBALANCE"``, ``"RT"``, ``"ID"``...) becomes known at the end of its interval.
    resolution
        Interval length when the file has no ``interval_end`` column; default: the zone's DA
        resolution in force on each local delivery day.

    Returns
    -------
    market.KnownSeries
        Values [currency/MWh] with publication times; ``resolution`` is the length of the last
        interval (the one in force at the end of the file), ``source`` names the file and the
        SHA-256 of its bytes.

    Raises
    ------
    engine.core.errors.InputFileError
        Missing column, wrong separator, naive or malformed timestamp, text in the price column,
        duplicate or missing interval inside the covered span, interval off the zone's grid.
    """
    z = _as_zone(zone)
    frame = read_price_frame(path, z, resolution=resolution)
    return price_series(frame, z, series)


def price_series(frame: pd.DataFrame, zone: Zone | str, series: str = DA_SERIES) -> KnownSeries:
    """A :class:`~market.KnownSeries` from a price table (``interval_start``, ``interval_end``,
    ``price``), with the publication rule of ``series`` (see :func:`read_price_csv`)."""
    z = _as_zone(zone)
    starts = pd.DatetimeIndex(frame["interval_start"])
    ends = pd.DatetimeIndex(frame["interval_end"])
    values = pd.Series(frame["price"].to_numpy(dtype=np.float64), index=starts, name="price")
    last = int(np.argmax(starts.asi8))
    res = (ends[last] - starts[last]).to_pytimedelta()
    if series == DA_SERIES:
        published: pd.Series | Callable[[pd.DatetimeIndex], pd.DatetimeIndex]
        published = published_day_ahead(z)
    else:
        published = pd.Series(ends, index=starts)  # known once the interval is over
    source = str(frame.attrs.get("source", ""))
    return KnownSeries.from_values(values, published, res, f"{z.currency}/MWh", source)


def reserve_product(zone: Zone, key: str) -> Product:
    """The product a reserve price series key belongs to (``<KEY>_MILEAGE``: mileage prices of a
    product paid capacity + mileage).

    Raises
    ------
    market.errors.UnknownProductError
        No such product, or mileage prices of a product not paid on mileage.
    """
    if key.endswith(MILEAGE_SUFFIX):
        base = zone.product(key.removesuffix(MILEAGE_SUFFIX))
        if base.payment is not Payment.CAPACITY_AND_MILEAGE:
            raise UnknownProductError(
                f"zone {zone.key} has no product {key!r} ({base.key} is not paid on mileage)"
            )
        return base
    return zone.product(key)


def read_reserve_price_csv(path: Path, zone: Zone | str) -> dict[str, KnownSeries]:
    """Read and validate a canonical reserve price file: one series per product.
    Parameters
    ----------
    path
        The CSV file (``interval_start,product,price``), long format.
    zone
        The zone (or its key); every product must be one of its reserve products.

    Returns
    -------
    dict[str, market.KnownSeries]
        Per product key, capacity prices [currency/MW per product interval]; one interval is one
        block of the product on the local wall clock. Values count as known at the zone's DA
        publication on D-1 (capacity auctions clear before or with the DA market).

    Raises
    ------
    engine.core.errors.InputFileError
        As :func:`read_price_csv`, plus an unknown or non-reserve product.
    """
    z = _as_zone(zone)
    return reserve_series(read_reserve_price_frame(path, z), z)


def reserve_series(frame: pd.DataFrame, zone: Zone | str) -> dict[str, KnownSeries]:
    """Per product, a :class:`~market.KnownSeries` from a reserve table (``interval_start``,
    ``product``, ``price``), known at the zone's DA publication on D-1."""
    z = _as_zone(zone)
    source = str(frame.attrs.get("source", ""))
    out: dict[str, KnownSeries] = {}
    for key in sorted(set(frame["product"])):
        rows = frame[frame["product"] == key]
        values = pd.Series(
            rows["price"].to_numpy(dtype=np.float64),
            index=pd.DatetimeIndex(rows["interval_start"]),
            name=key,
        )
        out[key] = KnownSeries.from_values(
            values,
            published_day_ahead(z),
            reserve_product(z, key).block,
            f"{z.currency}/MW",
            source,
        )
    return out


def read_reserve_price_frame(path: Path, zone: Zone | str) -> pd.DataFrame:
    """Read and validate a canonical reserve price file into a plain table.

    Same validation as :func:`read_reserve_price_csv`; returns columns ``interval_start``,
    ``interval_end`` (UTC), ``product`` and ``price`` [currency/MW per product interval], sorted
    by start and product, with ``attrs["source"]`` naming the file and its SHA-256.
    """
    z = _as_zone(zone)
    table = _read_table(Path(path), RESERVE_COLUMNS)
    keys = table.column("product")
    products: dict[str, Product] = {}
    for i, key in enumerate(keys):
        if key not in products:
            try:
                product = reserve_product(z, key)
            except UnknownProductError as exc:
                raise table.fail(str(exc), i) from None
            if not product.is_reserve:
                raise table.fail(f"product {key} is not a reserve product", i)
            products[key] = product
    starts = _instants(table, "interval_start")
    prices = _numbers(table, "price")
    _check_duplicates(table, pd.MultiIndex.from_arrays([keys, starts]), "")
    key_array = np.asarray(keys, dtype=object)
    parts: list[pd.DataFrame] = []
    for key, product in products.items():
        pos = np.flatnonzero(key_array == key)
        mine = starts[pos]
        grid, grid_ends = _block_grid(z, _local_days(mine, z), product.block)
        hours = product.block.total_seconds() / 3600

        def describe(_ts: pd.Timestamp, key: str = key, hours: float = hours) -> str:
            return f"{key} {hours:g}-hour block"

        ends = _on_grid(table, mine, grid, grid_ends, describe, pos)
        parts.append(
            pd.DataFrame(
                {"interval_start": mine, "interval_end": ends, "product": key, "price": prices[pos]}
            )
        )
    frame = pd.concat(parts, ignore_index=True).sort_values(
        ["interval_start", "product"], ignore_index=True
    )
    frame.attrs["source"] = table.source
    return frame


def _block_grid(
    zone: Zone, days: list[date], block: timedelta
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Block starts and ends of ``days``: wall-clock blocks of the zone's local time."""
    starts: list[pd.DatetimeIndex] = []
    for d in days:
        quarters = delivery_intervals(d, zone, _QUARTER)
        idx = block_index(quarters, zone, block)
        first = np.r_[True, idx[1:] != idx[:-1]]
        starts.append(quarters[first])
    grid = pd.DatetimeIndex(starts[0].append(starts[1:]) if len(starts) > 1 else starts[0])
    grid = grid.as_unit("us")
    last_end = pd.Timestamp(delivery_day_bounds(days[-1], zone)[1]).as_unit("us")
    return grid, pd.DatetimeIndex(grid[1:].append(pd.DatetimeIndex([last_end]))).as_unit("us")


# --------------------------------------------------------------------------------------------
# Writers


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: the old file or the new, never half."""
    write_file_atomic(Path(path), text.encode("utf-8"))


def format_instant(ts: pd.Timestamp) -> str:
    """An instant as ISO 8601 in UTC with offset, e.g. ``2025-03-01T00:00:00+00:00``."""
    return ts.tz_convert("UTC").isoformat()


def format_float(x: float) -> str:
    """The shortest text that reads back as the same double (``repr``); refuses NaN and inf."""
    x = float(x)
    if not math.isfinite(x):
        raise PowerdeskError(f"cannot write non-finite value {x!r}")
    return repr(x + 0.0)  # + 0.0 turns -0.0 into 0.0


def _aware_index(index: pd.Index, what: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise PowerdeskError(f"{what} must be indexed by interval starts")
    if index.tz is None:
        raise PowerdeskError(f"{what} has naive interval starts (a UTC offset is required)")
    if index.has_duplicates:
        raise PowerdeskError(f"{what} has duplicate interval starts")
    return index.tz_convert("UTC")


def _values(series: pd.Series | KnownSeries) -> pd.Series:
    return series.final() if isinstance(series, KnownSeries) else series


def write_price_csv(
    series: pd.Series | KnownSeries,
    path: Path,
    *,
    resolution: timedelta | pd.Series | None = None,
) -> int:
    """Write a canonical price file atomically; return the number of rows written.

    Parameters
    ----------
    series
        Prices [currency/MWh] indexed by tz-aware interval starts (or a KnownSeries: its final
        values are written).
    path
        Output file; replaced only once it is complete.
    resolution
        When given (one length, or a series of interval ends on the same index), an
        ``interval_end`` column is written, e.g. for 15-minute imbalance prices in a zone whose DA
        resolution is hourly. Without it, readers use the zone's DA grid.
    """
    values = _values(series).sort_index()
    index = _aware_index(values.index, "price series")
    header = "interval_start,price"
    ends: list[str] | None = None
    if isinstance(resolution, pd.Series):
        end_index = pd.DatetimeIndex(resolution.reindex(values.index))
        ends = [format_instant(e) for e in end_index]
        header += ",interval_end"
    elif resolution is not None:
        ends = [format_instant(s + resolution) for s in index]
        header += ",interval_end"
    out = [header]
    prices = values.to_numpy(dtype=np.float64)
    for i, ts in enumerate(index):
        line = f"{format_instant(ts)},{format_float(prices[i])}"
        out.append(line if ends is None else f"{line},{ends[i]}")
    atomic_write_text(Path(path), "\n".join(out) + "\n")
    return len(index)


def write_reserve_price_csv(
    prices: Mapping[str, pd.Series | KnownSeries] | pd.DataFrame, path: Path
) -> int:
    """Write a canonical reserve price file atomically; return the number of rows written.

    Parameters
    ----------
    prices
        Per product key, capacity prices [currency/MW per product interval] indexed by tz-aware
        block starts; a DataFrame is read as one column per product.
    path
        Output file; rows are sorted by ``interval_start`` then product key.
    """
    if isinstance(prices, pd.DataFrame):
        mapping: dict[str, pd.Series] = {str(c): prices[c].dropna() for c in prices.columns}
    else:
        mapping = {k: _values(v) for k, v in prices.items()}
    rows: list[tuple[int, str, str]] = []
    for key in sorted(mapping):
        if not key or "," in key:
            raise PowerdeskError(f"bad product key {key!r}")
        values = mapping[key]
        index = _aware_index(values.index, f"reserve prices of {key}")
        nums = values.to_numpy(dtype=np.float64)
        rows.extend(
            (int(ts.value), key, f"{format_instant(ts)},{key},{format_float(nums[i])}")
            for i, ts in enumerate(index)
        )
    rows.sort()
    text = "\n".join(["interval_start,product,price", *(r[2] for r in rows)]) + "\n"
    atomic_write_text(Path(path), text)
    return len(rows)


def write_ef_csv(frame: pd.DataFrame, path: Path) -> int:
    """Write a canonical hourly emission-factor file atomically; return rows written.

    Parameters
    ----------
    frame
        Indexed by tz-aware hour starts, columns ``ef_tco2e_per_mwh`` [tCO2e/MWh] and
        ``carbon_free_share`` [0..1].
    """
    frame = frame.sort_index()
    index = _aware_index(frame.index, "emission factors")
    ef = frame["ef_tco2e_per_mwh"].to_numpy(dtype=np.float64)
    share = frame["carbon_free_share"].to_numpy(dtype=np.float64)
    out = [",".join(EF_COLUMNS)]
    out.extend(
        f"{format_instant(ts)},{format_float(ef[i])},{format_float(share[i])}"
        for i, ts in enumerate(index)
    )
    atomic_write_text(Path(path), "\n".join(out) + "\n")
    return len(index)
