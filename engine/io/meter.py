"""Metered consumption files (canonical meter CSV), read exactly and validated.

Canonical form::

    interval_start,energy_mwh[,interval_end][,it_energy_mwh]
    2025-03-01T00:00:00+01:00,62.5

``interval_start`` (and ``interval_end``) are ISO 8601 with a UTC offset; naive times are refused.
``energy_mwh`` is the energy consumed in the interval [MWh], a decimal >= 0, read exactly as a
Decimal. Without ``interval_end`` the starts must be evenly spaced and each interval lasts that
spacing (one hour for a single row). Intervals must not overlap and must lie within one UTC hour
(15, 20, 30 or 60 minutes, aligned), so they add up to hourly energy exactly.

``energy_mwh`` is the facility's consumption. Where the site also meters its IT equipment, the
optional column ``it_energy_mwh`` gives the IT energy of the interval [MWh], a decimal >= 0 and
at most ``energy_mwh``, on every row: it is the denominator of PUE and CUE in the carbon report
(docs/carbon-cn.md).

Row numbers in errors are file line numbers (the header is row 1), as for price files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.core.errors import InputFileError
from market.units import MAX_SITE_MW

METER_COLUMNS = ("interval_start", "energy_mwh")
HOUR = timedelta(hours=1)

_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")


@dataclass(frozen=True, slots=True)
class MeterReading:
    """Energy [MWh] consumed in ``[interval_start, interval_end)`` (UTC); ``it_energy_mwh``:
    the IT equipment's part where metered."""

    interval_start: datetime
    interval_end: datetime
    energy_mwh: Decimal
    it_energy_mwh: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MeterData:
    """A validated meter file with the SHA-256 of its bytes."""

    path: Path
    sha256: str
    readings: tuple[MeterReading, ...]


@dataclass(frozen=True, slots=True)
class CsvTable:
    """A small CSV table that remembers file line numbers, for one-line errors."""

    path: Path
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    sha256: str

    def fail(self, problem: str, position: int | None = None) -> InputFileError:
        """An error naming the file and the row of data row ``position``."""
        row = None if position is None else self.lines[position]
        return InputFileError(str(self.path), problem, row)

    def column(self, name: str) -> list[str]:
        """Stripped cells of a column."""
        i = self.header.index(name)
        return [r[i].strip() for r in self.rows]


def read_csv_table(path: Path | str, required: Sequence[str]) -> CsvTable:
    """Read a comma-separated UTF-8 file with a header holding ``required`` columns."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[tuple[str, ...]] = []
    lines: list[int] = []
    try:
        for record in reader:
            if not record or all(not cell.strip() for cell in record):
                continue
            if header is None:
                header = [c.strip() for c in record]
                if len(header) == 1:
                    for sep in (";", "\t", "|"):
                        if sep in header[0]:
                            raise InputFileError(
                                str(path), f"wrong separator {sep!r} (expected ',')", 1
                            )
                missing = [c for c in required if c not in header]
                if missing:
                    raise InputFileError(
                        str(path),
                        f"missing column {', '.join(missing)} (found: {', '.join(header)})",
                        reader.line_num,
                    )
                dupes = sorted({c for c in header if header.count(c) > 1})
                if dupes:
                    raise InputFileError(str(path), f"duplicate column {', '.join(dupes)}", 1)
                continue
            if len(record) != len(header):
                raise InputFileError(
                    str(path),
                    f"expected {len(header)} fields, found {len(record)}",
                    reader.line_num,
                )
            rows.append(tuple(record))
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputFileError(str(path), f"malformed CSV ({exc})", reader.line_num) from None
    if header is None:
        raise InputFileError(str(path), "empty file (no header)")
    if not rows:
        raise InputFileError(str(path), "no data rows", 1)
    return CsvTable(
        path, tuple(header), tuple(rows), tuple(lines), hashlib.sha256(data).hexdigest()
    )


def parse_instant(table: CsvTable, text: str, column: str, position: int) -> datetime:
    """An ISO 8601 instant with a UTC offset, in UTC; naive or malformed is a one-line error."""
    if _NAIVE.match(text):
        raise table.fail(
            f"naive timestamp {text!r} in {column} (a UTC offset is required)", position
        )
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise table.fail(f"{column} {text!r} is not an ISO 8601 timestamp", position) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise table.fail(
            f"naive timestamp {text!r} in {column} (a UTC offset is required)", position
        )
    return value.astimezone(UTC)


def parse_decimal(
    table: CsvTable, text: str, column: str, position: int, *, low: Decimal | None = None
) -> Decimal:
    """A finite decimal number (exact), optionally ``>= low``."""
    if not text:
        raise table.fail(f"empty {column}", position)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise table.fail(f"{column} {text!r} is not a number", position) from None
    if not value.is_finite():
        raise table.fail(f"{column} {text!r} is not a finite number", position)
    if low is not None and value < low:
        raise table.fail(f"{column} {text} is below {low}", position)
    return value


def read_meter_csv(path: Path | str) -> MeterData:
    """Read and validate a canonical meter file.

    Parameters
    ----------
    path
        CSV with ``interval_start``, ``energy_mwh`` [MWh] and optionally ``interval_end``.

    Returns
    -------
    MeterData
        Readings sorted by start (UTC), the file's SHA-256.

    Raises
    ------
    InputFileError
        One line naming the file, the row and the problem.
    """
    table = read_csv_table(path, METER_COLUMNS)
    starts = [
        parse_instant(table, v, "interval_start", i)
        for i, v in enumerate(table.column("interval_start"))
    ]
    energy = [
        parse_decimal(table, v, "energy_mwh", i, low=Decimal(0))
        for i, v in enumerate(table.column("energy_mwh"))
    ]
    # Intervals are at most an hour: more than a whole site's largest power in one is no reading.
    limit = Decimal(repr(MAX_SITE_MW))
    for i, value in enumerate(energy):
        if value > limit:
            raise table.fail(
                f"energy_mwh {value} is implausible (a meter interval of at most an hour holds "
                f"at most {limit} MWh)",
                i,
            )
    it: list[Decimal | None] = [None] * len(energy)
    if "it_energy_mwh" in table.header:
        it = [
            parse_decimal(table, v, "it_energy_mwh", i, low=Decimal(0))
            for i, v in enumerate(table.column("it_energy_mwh"))
        ]
        for i, (total, part) in enumerate(zip(energy, it, strict=True)):
            if part is not None and part > total:
                raise table.fail(f"it_energy_mwh {part} is above energy_mwh {total}", i)
    for i in range(1, len(starts)):
        if starts[i] <= starts[i - 1]:
            problem = "duplicate" if starts[i] == starts[i - 1] else "out-of-order"
            raise table.fail(f"{problem} interval_start {starts[i].isoformat()}", i)
    if "interval_end" in table.header:
        ends = [
            parse_instant(table, v, "interval_end", i)
            for i, v in enumerate(table.column("interval_end"))
        ]
    else:
        gaps = {b - a for a, b in itertools.pairwise(starts)}
        if len(gaps) > 1:
            i = next(k for k in range(1, len(starts)) if starts[k] - starts[k - 1] != min(gaps))
            raise table.fail(
                "interval starts are not evenly spaced; give interval_end for irregular data", i
            )
        step = gaps.pop() if gaps else HOUR
        ends = [s + step for s in starts]
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if e <= s:
            raise table.fail("interval_end is not after interval_start", i)
        hour = s.replace(minute=0, second=0, microsecond=0)
        if e > hour + HOUR:
            raise table.fail(
                f"interval {s.isoformat()}..{e.isoformat()} crosses a UTC hour boundary "
                "(meter intervals must be 60 minutes or shorter and aligned)",
                i,
            )
        if i and s < ends[i - 1]:
            raise table.fail(f"interval starting {s.isoformat()} overlaps the previous one", i)
    readings = tuple(
        MeterReading(s, e, q, x) for s, e, q, x in zip(starts, ends, energy, it, strict=True)
    )
    return MeterData(table.path, table.sha256, readings)


def hourly_energy_mwh(meter: MeterData, hours: Sequence[datetime]) -> dict[datetime, Decimal]:
    """Exact energy [MWh] per UTC hour start of ``hours``, summed from the readings.

    Readings outside the hours are ignored; every hour must be fully covered by readings (no
    gaps), else a one-line :class:`InputFileError` names the first incomplete hour.
    """
    wanted = set(hours)
    energy: dict[datetime, Decimal] = defaultdict(Decimal)
    covered: dict[datetime, timedelta] = defaultdict(timedelta)
    for r in meter.readings:
        hour = r.interval_start.replace(minute=0, second=0, microsecond=0)
        if hour in wanted:
            energy[hour] += r.energy_mwh
            covered[hour] += r.interval_end - r.interval_start
    for h in hours:
        if covered.get(h) != HOUR:
            what = "no reading" if h not in covered else "readings cover only part of the hour"
            raise InputFileError(
                str(meter.path), f"{what} for the UTC hour starting {h.isoformat()}"
            )
    return {h: energy[h] for h in hours}


def hourly_it_energy_mwh(
    meter: MeterData, hours: Sequence[datetime]
) -> dict[datetime, Decimal] | None:
    """Exact IT energy [MWh] per UTC hour start of ``hours``; ``None`` when the meter file has
    no ``it_energy_mwh`` column. Coverage as :func:`hourly_energy_mwh` checks it."""
    if not meter.readings or meter.readings[0].it_energy_mwh is None:
        return None
    hourly_energy_mwh(meter, hours)  # every hour fully covered, else a one-line error
    wanted = set(hours)
    energy: dict[datetime, Decimal] = defaultdict(Decimal)
    for r in meter.readings:
        hour = r.interval_start.replace(minute=0, second=0, microsecond=0)
        if hour in wanted and r.it_energy_mwh is not None:
            energy[hour] += r.it_energy_mwh
    return {h: energy[h] for h in hours}
