"""A minimal reader of exogenous day-ahead inputs (``interval_start`` plus named numeric columns).

::

    interval_start,load_forecast_mw,wind_forecast_mw
    2025-03-01T00:00:00+00:00,51234.0,20110.5

Every value is taken as a forecast for its interval that was known before gate closure of its
delivery day (issue 12's canonical feature CSV; ``knowledge_time`` columns are not read here).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from engine.io.meter import parse_instant, read_csv_table


def read_feature_csv(path: Path) -> pd.DataFrame:
    """The inputs as a frame indexed by UTC interval start, one float column per input.

    Raises
    ------
    engine.core.errors.InputFileError
        No input column, a naive or malformed timestamp, a duplicate interval, text, an empty
        cell or a non-finite number in a value.
    """
    table = read_csv_table(Path(path), ("interval_start",))
    names = [c for c in table.header if c != "interval_start"]
    if not names:
        raise table.fail("no input column besides interval_start")
    starts = [
        parse_instant(table, s, "interval_start", i)
        for i, s in enumerate(table.column("interval_start"))
    ]
    index = pd.DatetimeIndex(starts).tz_convert("UTC")
    dup = np.flatnonzero(index.duplicated())
    if dup.size:
        raise table.fail(f"duplicate interval_start {starts[dup[0]].isoformat()}", int(dup[0]))
    data: dict[str, list[float]] = {}
    for name in names:
        col: list[float] = []
        for i, cell in enumerate(table.column(name)):
            try:
                x = float(cell)
            except ValueError:
                raise table.fail(f"{name} {cell!r} is not a number", i) from None
            if not math.isfinite(x):
                raise table.fail(f"{name} {cell!r} is not a finite number", i)
            col.append(x)
        data[name] = col
    return pd.DataFrame(data, index=index).sort_index()
