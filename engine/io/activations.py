"""The canonical activation file: what the system operator called from a site.

Activation file (one row per product and DA interval in which the site was called)::

    interval_start,product,called_mw[,mileage_mw]
    2024-05-14T11:00:00+00:00,PEAK_SHAVING,3
    2024-05-14T12:00:00+00:00,FREQ_REG,0,7.2

``interval_start`` is ISO 8601 with a UTC offset, on the zone's DA grid (15 minutes in the
Chinese provinces); ``product`` is a product of the zone whose calls are settled: paid per MWh
called (``PEAK_SHAVING``, ``VALLEY_FILLING``) or capacity + mileage (``FREQ_REG``);
``called_mw`` is the power called in the interval [MW] (a reduction for peak shaving, an
increase for valley filling), ``mileage_mw`` the regulation mileage moved in it [MW] (mileage
products only; empty or absent: 0).

The file is the record of the days it covers, its first to its last local day: an interval of
those days without a row was not called, for every such product of the zone. Each value becomes
known at the end of its interval. Bad content is a one-line error naming the file and the row;
nothing is read partially.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from engine.io.meter import CsvTable, parse_decimal, parse_instant, read_csv_table
from market import KnownSeries, Payment, Product, Zone, delivery_day_of, delivery_intervals
from market.clearing import Activations
from market.errors import UnknownProductError

ACTIVATION_COLUMNS = ("interval_start", "product", "called_mw")
CALLED_SUFFIX = "_CALLED_MW"
MOVED_SUFFIX = "_MILEAGE_MW"
SETTLED_BY_CALL = (Payment.CURTAILMENT, Payment.CAPACITY_AND_MILEAGE)


def activation_products(zone: Zone) -> tuple[Product, ...]:
    """The zone's products whose calls are settled (per MWh called, or capacity + mileage)."""
    return tuple(p for p in zone.reserve_products if p.payment in SETTLED_BY_CALL)


def is_activation_key(key: str) -> bool:
    """Whether a market-data series key holds calls (not prices)."""
    return key.endswith((CALLED_SUFFIX, MOVED_SUFFIX))


def _product(table: CsvTable, zone: Zone, key: str, position: int) -> Product:
    try:
        product = zone.product(key)
    except UnknownProductError as exc:
        raise table.fail(str(exc), position) from None
    if product.payment not in SETTLED_BY_CALL:
        raise table.fail(
            f"product {key}: calls are settled only for products paid per MWh called or "
            "capacity + mileage",
            position,
        )
    return product


def read_activation_csv(path: Path | str, zone: Zone) -> dict[str, KnownSeries]:
    """Read and validate an activation file.

    Returns
    -------
    dict[str, market.KnownSeries]
        Per product of :func:`activation_products`, ``<KEY>_CALLED_MW`` (power called [MW]) and,
        for mileage products, ``<KEY>_MILEAGE_MW`` (mileage moved [MW]): one value per DA
        interval of the covered days (0 where not called), known at the end of its interval.

    Raises
    ------
    engine.core.errors.InputFileError
        Missing column, naive or malformed time, time off the zone's DA grid, unknown product or
        one whose calls are not settled, negative or non-numeric amount, mileage of a product
        without mileage, a product and interval twice, no rows.
    """
    table = read_csv_table(path, ACTIVATION_COLUMNS)
    if not table.rows:
        raise table.fail("no rows (an activation file lists at least one call)")
    has_mileage = "mileage_mw" in table.header
    keys = table.column("product")
    starts = [
        parse_instant(table, v, "interval_start", i)
        for i, v in enumerate(table.column("interval_start"))
    ]
    called = [
        parse_decimal(table, v, "called_mw", i, low=Decimal(0))
        for i, v in enumerate(table.column("called_mw"))
    ]
    moved = [Decimal(0)] * len(keys)
    if has_mileage:
        moved = [
            parse_decimal(table, v, "mileage_mw", i, low=Decimal(0)) if v else Decimal(0)
            for i, v in enumerate(table.column("mileage_mw"))
        ]
    days = sorted({delivery_day_of(t, zone) for t in starts})
    grids: dict[date, pd.DatetimeIndex] = {}
    seen: dict[tuple[str, datetime], int] = {}
    for i, (key, start) in enumerate(zip(keys, starts, strict=True)):
        product = _product(table, zone, key, i)
        day = delivery_day_of(start, zone)
        grid = grids.setdefault(day, delivery_intervals(day, zone))
        if pd.Timestamp(start) not in grid:
            minutes = int(zone.resolution_on(day).total_seconds() // 60)
            raise table.fail(
                f"interval_start {start.isoformat()} is not on the {zone.key} {minutes}-minute "
                "grid",
                i,
            )
        if moved[i] and product.payment is not Payment.CAPACITY_AND_MILEAGE:
            raise table.fail(f"mileage_mw given for {key}, which is not paid on mileage", i)
        if (key, start) in seen:
            raise table.fail(
                f"duplicate call of {key} at {start.isoformat()} (also on row "
                f"{table.lines[seen[(key, start)]]})",
                i,
            )
        seen[(key, start)] = i
    covered = [days[0] + timedelta(days=k) for k in range((days[-1] - days[0]).days + 1)]
    parts = [grids.get(d, delivery_intervals(d, zone)) for d in covered]
    index = pd.DatetimeIndex(parts[0].append(parts[1:]) if len(parts) > 1 else parts[0])
    ends = pd.Series(
        [t + zone.resolution_on(delivery_day_of(t.to_pydatetime(), zone)) for t in index],
        index=index,
    )
    source = f"{table.path.name} (sha256 {table.sha256})"
    out: dict[str, KnownSeries] = {}
    for product in activation_products(zone):
        columns = [(CALLED_SUFFIX, called)]
        if product.payment is Payment.CAPACITY_AND_MILEAGE:
            columns.append((MOVED_SUFFIX, moved))
        for suffix, amounts in columns:
            column = np.zeros(len(index), dtype=np.float64)
            for (key, start), i in seen.items():
                if key == product.key:
                    column[index.get_loc(pd.Timestamp(start))] = float(amounts[i])
            values = pd.Series(column, index=index)
            out[f"{product.key}{suffix}"] = KnownSeries.from_values(
                values, ends, zone.resolution_on(covered[-1]), "MW", source
            )
    return out


def activations_of(series: Mapping[str, KnownSeries]) -> Activations:
    """The final calls of activation series (keys as :func:`read_activation_csv` names them)."""
    called: dict[str, pd.Series] = {}
    moved: dict[str, pd.Series] = {}
    for key, s in sorted(series.items()):
        if key.endswith(CALLED_SUFFIX):
            called[key.removesuffix(CALLED_SUFFIX)] = s.final()
        elif key.endswith(MOVED_SUFFIX):
            moved[key.removesuffix(MOVED_SUFFIX)] = s.final()
    return Activations(called, moved)
