"""Feature files: exogenous day-ahead inputs (load, wind and solar forecasts, ...) as data.

Canonical feature CSV::

    interval_start,<name>[,<name> ...][,knowledge_time]

``interval_start`` is an ISO 8601 instant with a UTC offset, on the zone's DA grid; every other
column except ``knowledge_time`` is a named numeric feature (its unit in its name where it has
one, e.g. ``wind_power_forecast_mw``). Each value must be known before gate closure of its
delivery day: ``knowledge_time`` (optional, an instant) says when the row was published, and may
not be later than that gate closure; without it a row counts as published one hour before the
gate closure of its delivery day (:data:`DEFAULT_LEAD`). Every delivery day from the first to the
last is complete: a missing day or interval is an error, so is text or NaN in a value.

Several files (``--features`` given more than once) must have the same columns; their rows are
merged, a later file's value replacing an earlier one's for the same interval and publication.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from engine.core.errors import InputFileError
from engine.io.meter import CsvTable, parse_instant, read_csv_table
from market import KnownSeries, Zone, delivery_day_of, delivery_intervals, gate_closure_utc

KNOWLEDGE_TIME = "knowledge_time"
DEFAULT_LEAD = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Named features of one zone with their knowledge times, and where they came from.

    Parameters
    ----------
    columns
        Per feature name, its values [unit of the name] with publication times.
    sources
        ``file (sha256 ...)`` of every file read.
    """

    columns: dict[str, KnownSeries]
    sources: tuple[str, ...]


def _float(table: CsvTable, text: str, column: str, position: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise table.fail(f"{column} {text!r} is not a number", position) from None
    if not math.isfinite(value):
        raise table.fail(f"{column} {text!r} is not a finite number", position)
    return value


def _read_one(path: Path, zone: Zone) -> tuple[tuple[str, ...], pd.DataFrame, str]:
    table = read_csv_table(path, ("interval_start",))
    names = tuple(c for c in table.header if c not in ("interval_start", KNOWLEDGE_TIME))
    if not names:
        raise table.fail("no feature columns besides interval_start and knowledge_time", None)
    starts = [
        parse_instant(table, v, "interval_start", i)
        for i, v in enumerate(table.column("interval_start"))
    ]
    known_given = KNOWLEDGE_TIME in table.header
    known_text = table.column(KNOWLEDGE_TIME) if known_given else []
    gates: dict[object, datetime] = {}
    published: list[datetime] = []
    for i, t in enumerate(starts):
        day = delivery_day_of(t, zone)
        gate = gates.get(day)
        if gate is None:
            gate = gates[day] = gate_closure_utc(day, zone)
        if known_given:
            k = parse_instant(table, known_text[i], KNOWLEDGE_TIME, i)
            if k > gate:
                raise table.fail(
                    f"knowledge_time {k.isoformat()} is later than gate closure "
                    f"{gate.isoformat()} of delivery day {day} (a feature must be known before "
                    "its day is bid)",
                    i,
                )
            published.append(k)
        else:
            published.append(gate - DEFAULT_LEAD)
    values = {
        name: [_float(table, v, name, i) for i, v in enumerate(table.column(name))]
        for name in names
    }
    frame = pd.DataFrame(
        {
            "interval_start": pd.DatetimeIndex(starts).as_unit("us"),
            "published_at": pd.DatetimeIndex(published).as_unit("us"),
            **values,
        }
    )
    dupes = frame.duplicated(["interval_start", "published_at"])
    if dupes.any():
        i = int(dupes.to_numpy().argmax())
        raise table.fail(f"duplicate interval_start {starts[i].isoformat()}", i)
    _check_days(table, frame, zone)
    return names, frame, f"{path.name} (sha256 {table.sha256})"


def _check_days(table: CsvTable, frame: pd.DataFrame, zone: Zone) -> None:
    """Every delivery day from the first to the last is complete, and nothing is off its grid."""
    starts = set(pd.DatetimeIndex(frame["interval_start"]))
    ordered = sorted(starts)
    day = delivery_day_of(ordered[0].to_pydatetime(), zone)
    last = delivery_day_of(ordered[-1].to_pydatetime(), zone)
    grid: set[pd.Timestamp] = set()
    while day <= last:
        for t in delivery_intervals(day, zone):
            if t not in starts:
                raise table.fail(
                    f"delivery day {day} is incomplete: no row for {t.isoformat()} "
                    "(every day from the first to the last needs every interval)",
                    None,
                )
            grid.add(t)
        day += timedelta(days=1)
    off = sorted(starts - grid)
    if off:
        raise table.fail(f"interval_start {off[0].isoformat()} is not on the zone's DA grid", None)


def read_feature_csv(paths: Sequence[Path], zone: Zone) -> FeatureSet:
    """Read one or more canonical feature files of ``zone``.

    Raises
    ------
    engine.core.errors.InputFileError
        One line naming the file (and row): a missing or incomplete day, text or NaN in a
        value, a knowledge time after its day's gate closure, a naive timestamp, or files whose
        columns differ.
    """
    if not paths:
        raise InputFileError("--features", "no feature file given")
    names: tuple[str, ...] | None = None
    frames: list[pd.DataFrame] = []
    sources: list[str] = []
    for path in paths:
        these, frame, source = _read_one(Path(path), zone)
        if names is not None and set(these) != set(names):
            raise InputFileError(
                str(path),
                f"its feature columns {', '.join(these)} differ from {', '.join(names)} of "
                f"{Path(paths[0]).name}",
            )
        names = names or these
        frames.append(frame)
        sources.append(source)
    assert names is not None
    merged = (
        pd.concat(frames, ignore_index=True)
        .drop_duplicates(["interval_start", "published_at"], keep="last")
        .sort_values(["interval_start", "published_at"], ignore_index=True)
    )
    resolution = zone.resolution_on(
        delivery_day_of(pd.Timestamp(merged["interval_start"].iloc[0]).to_pydatetime(), zone)
    )
    source = "; ".join(sources)
    columns = {
        name: KnownSeries(
            merged[["interval_start", "published_at"]].assign(value=merged[name]),
            resolution,
            name,
            source,
        )
        for name in sorted(names)
    }
    return FeatureSet(columns, tuple(sources))


def feature_csv(frame: pd.DataFrame) -> str:
    """The canonical feature CSV text of ``frame`` (indexed by UTC interval start)."""
    if frame.index.tz is None:  # type: ignore[attr-defined]
        raise ValueError("feature frame index is naive")
    out = ["interval_start," + ",".join(str(c) for c in frame.columns)]
    index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    for t, row in zip(index, frame.itertuples(index=False), strict=True):
        out.append(t.isoformat() + "," + ",".join(repr(float(v)) for v in row))
    return "\n".join(out) + "\n"
