"""Reader of the epftoolbox benchmark CSV format (Lago et al. 2021, the open EPF benchmark).

::

    date,Price,Ampirion Load Forecast,PV+Wind Forecast
    2012-01-09 00:00:00,34.97,16382.0,3569.5275

The first column is a local wall-clock label ``YYYY-MM-DD HH:MM:SS``, then ``Price`` [EUR/MWh],
then any number of exogenous day-ahead forecasts. Every local day has exactly 24 rows in hour
order: the dataset's authors filled the spring DST hour and merged the autumn one, so the rows
are not real UTC intervals on DST days. Row ``k`` of a day is mapped, by its position, to
wall-clock hour ``k`` of that day (slot ``k`` of a :class:`forecast.DailyPanel`); the labels are
kept as they are for the outputs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from engine.io.meter import read_csv_table
from forecast import DailyPanel

_LABEL = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}):00(?::00)?$")
DATE_COLUMNS = ("date", "Date", "")
PRICE_COLUMN = "Price"
SLOTS = 24


@dataclass(frozen=True, slots=True)
class EpfData:
    """An epftoolbox file as a daily panel, with its wall-clock labels and source."""

    panel: DailyPanel
    labels: tuple[str, ...]
    source: str


def read_epftoolbox_csv(path: Path) -> EpfData:
    """Read and validate an epftoolbox CSV (24 rows per local day, consecutive days).

    Raises
    ------
    engine.core.errors.InputFileError
        Missing ``Price`` or date column, a label that is not a whole hour, a day without its
        24 rows in order, a gap between days, text or a non-finite number in a value.
    """
    table = read_csv_table(Path(path), (PRICE_COLUMN,))
    date_col = next((c for c in DATE_COLUMNS if c in table.header), None)
    if date_col is None or table.header.index(date_col) != 0:
        raise table.fail(
            f"the first column must be the date column ({', '.join(DATE_COLUMNS[:2])})"
        )
    names = tuple(c for c in table.header[1:] if c != PRICE_COLUMN)
    labels = table.column(date_col)
    days: list[date] = []
    for pos, label in enumerate(labels):
        m = _LABEL.match(label)
        if not m:
            raise table.fail(f"date {label!r} is not 'YYYY-MM-DD HH:00:00'", pos)
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            raise table.fail(f"date {label!r} is not a valid date", pos) from None
        hour = int(m.group(2))
        if hour != pos % SLOTS:
            raise table.fail(
                f"row {pos % SLOTS + 1} of a day must be hour {pos % SLOTS:02d}, found {label!r}",
                pos,
            )
        if pos % SLOTS == 0:
            if days and day != days[-1] + timedelta(days=1):
                raise table.fail(f"day {day} does not follow {days[-1]} (a missing day?)", pos)
            days.append(day)
        elif day != days[-1]:
            raise table.fail(f"day {days[-1]} has fewer than 24 rows", pos)
    if len(labels) % SLOTS:
        raise table.fail(f"the last day {days[-1]} has fewer than 24 rows", len(labels) - 1)
    columns = [PRICE_COLUMN, *names]
    values = np.empty((len(labels), len(columns)))
    for j, name in enumerate(columns):
        for pos, cell in enumerate(table.column(name)):
            try:
                x = float(cell)
            except ValueError:
                raise table.fail(f"{name} {cell!r} is not a number", pos) from None
            if not math.isfinite(x):
                raise table.fail(f"{name} {cell!r} is not a finite number", pos)
            values[pos, j] = x
    prices = values[:, 0].reshape(-1, SLOTS)
    feats = values[:, 1:].reshape(len(days), SLOTS, len(names))
    panel = DailyPanel(tuple(days), prices, feats, names)
    labels_iso = tuple(lb.replace(" ", "T") for lb in labels)
    return EpfData(panel, labels_iso, f"{Path(path).name} (sha256 {table.sha256})")
