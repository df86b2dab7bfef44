"""Emission-factor datasets: canonical EF CSV, residual-mix CSV, generation mix -> factors.

Every dataset is read exactly (Decimals from the file's text) and pinned by the SHA-256 of its
bytes (:class:`carbon.DatasetPin`), so a report names exactly what it rests on.

Canonical EF file (as written by ``powerdesk prices import --format electricitymaps``)::

    interval_start,ef_tco2e_per_mwh,carbon_free_share[,ef_residual_tco2e_per_mwh][,interval_end]

one row per UTC hour; ``ef_tco2e_per_mwh`` is the grid-average factor [tCO2e/MWh],
``carbon_free_share`` the carbon-free share of the mix [0..1], ``ef_residual_tco2e_per_mwh`` the
residual-mix factor [tCO2e/MWh] where published (an empty cell: none for that hour). Other
columns are ignored.

Residual-mix file: either hourly ``interval_start,ef_residual_tco2e_per_mwh`` or annual
``year,ef_residual_tco2e_per_mwh`` (e.g. an AIB European residual mix figure).

Generation-mix file: hourly generation per fuel [MW] with a time column ``interval_start`` or
``timestamp_utc`` and fuel columns named ``<fuel>_germany_hourly__generation_mw`` (SMARD-derived
table), ``<fuel>_generation_mw`` or ``<fuel>_mw`` for the fuels of :mod:`carbon.mix`; other
columns are ignored, an empty cell is read as 0 MW (SMARD leaves nuclear empty for 2025) and the
count of such cells is stated in the dataset's source. Factors follow
:func:`carbon.mix.grid_factors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from carbon import DatasetPin, GridFactors
from carbon.errors import CarbonInputError
from carbon.mix import DIRECT_EF_SOURCE, DIRECT_EF_TCO2E_PER_MWH, STORAGE_FUELS, grid_factors
from engine.core.errors import InputFileError
from engine.io.meter import CsvTable, parse_decimal, parse_instant, read_csv_table
from market import get_zone

HOUR = timedelta(hours=1)
EF_COLUMNS = ("interval_start", "ef_tco2e_per_mwh", "carbon_free_share")
RESIDUAL_COLUMN = "ef_residual_tco2e_per_mwh"
_ONE = Decimal(1)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class EfDataset:
    """Hourly grid factors of one dataset and its pin.

    Parameters
    ----------
    ef_tco2e_per_mwh, carbon_free_share, ef_residual_tco2e_per_mwh
        Values per UTC hour start (the residual map may be empty).
    annual_ef_residual_tco2e_per_mwh
        Annual residual factor per calendar year, for annual residual files.
    pin
        Name, role, source and SHA-256 of the file.
    """

    pin: DatasetPin
    ef_tco2e_per_mwh: dict[datetime, Decimal] = field(default_factory=dict)
    carbon_free_share: dict[datetime, Decimal] = field(default_factory=dict)
    ef_residual_tco2e_per_mwh: dict[datetime, Decimal] = field(default_factory=dict)
    annual_ef_residual_tco2e_per_mwh: dict[int, Decimal] = field(default_factory=dict)

    def hours(self) -> list[datetime]:
        """The UTC hour starts of the grid factors, in order."""
        return sorted(self.ef_tco2e_per_mwh)


def _hour_starts(table: CsvTable, column: str, contiguous: bool = False) -> list[datetime]:
    starts = [parse_instant(table, v, column, i) for i, v in enumerate(table.column(column))]
    for i, s in enumerate(starts):
        if s.minute or s.second or s.microsecond:
            raise table.fail(f"{column} {s.isoformat()} is not the start of a UTC hour", i)
        if i and s <= starts[i - 1]:
            kind = "duplicate" if s == starts[i - 1] else "out-of-order"
            raise table.fail(f"{kind} {column} {s.isoformat()}", i)
        if contiguous and i and s != starts[i - 1] + HOUR:
            gap = (starts[i - 1] + HOUR).isoformat()
            raise table.fail(f"missing interval {gap} (the gap ends at this row)", i)
    if "interval_end" in table.header:
        for i, v in enumerate(table.column("interval_end")):
            if parse_instant(table, v, "interval_end", i) != starts[i] + HOUR:
                raise table.fail("emission-factor intervals must be one hour", i)
    return starts


def _pin(table: CsvTable, role: str, source: str | None) -> DatasetPin:
    return DatasetPin(
        name=table.path.name,
        role=role,
        source=source if source else f"file {table.path.name}",
        sha256=table.sha256,
    )


def read_ef_csv(
    path: Path | str, source: str | None = None, *, contiguous: bool = False
) -> EfDataset:
    """Read a canonical hourly emission-factor file (see module docstring), exactly.

    ``contiguous`` also refuses a missing hour (the importer writes gap-free files).

    Raises
    ------
    engine.core.errors.InputFileError
        Missing column, naive timestamp, text in a number column, a share above 1, a negative
        factor, a duplicate, out-of-order or (``contiguous``) missing hour; names the row.
    """
    table = read_csv_table(path, EF_COLUMNS)
    starts = _hour_starts(table, "interval_start", contiguous)
    ef: dict[datetime, Decimal] = {}
    share: dict[datetime, Decimal] = {}
    residual: dict[datetime, Decimal] = {}
    efs = table.column("ef_tco2e_per_mwh")
    shares = table.column("carbon_free_share")
    res = table.column(RESIDUAL_COLUMN) if RESIDUAL_COLUMN in table.header else None
    for i, h in enumerate(starts):
        ef[h] = parse_decimal(table, efs[i], "ef_tco2e_per_mwh", i, low=_ZERO)
        cf = parse_decimal(table, shares[i], "carbon_free_share", i, low=_ZERO)
        if cf > _ONE:
            raise table.fail(f"carbon_free_share {cf} is above 1", i)
        share[h] = cf
        if res is not None and res[i]:
            residual[h] = parse_decimal(table, res[i], RESIDUAL_COLUMN, i, low=_ZERO)
    return EfDataset(_pin(table, "grid-ef", source), ef, share, residual)


def read_residual_csv(path: Path | str, source: str | None = None) -> EfDataset:
    """Read a residual-mix file: hourly (``interval_start``) or annual (``year``)."""
    table = read_csv_table(path, (RESIDUAL_COLUMN,))
    values = table.column(RESIDUAL_COLUMN)
    pin = _pin(table, "residual-mix", source)
    if "interval_start" in table.header:
        starts = _hour_starts(table, "interval_start")
        hourly = {
            h: parse_decimal(table, values[i], RESIDUAL_COLUMN, i, low=_ZERO)
            for i, h in enumerate(starts)
        }
        return EfDataset(pin, ef_residual_tco2e_per_mwh=hourly)
    if "year" not in table.header:
        raise InputFileError(str(table.path), "needs a column interval_start or year", 1)
    annual: dict[int, Decimal] = {}
    for i, text in enumerate(table.column("year")):
        if not re.fullmatch(r"\d{4}", text):
            raise table.fail(f"year {text!r} is not a four-digit year", i)
        if int(text) in annual:
            raise table.fail(f"duplicate year {text}", i)
        annual[int(text)] = parse_decimal(table, values[i], RESIDUAL_COLUMN, i, low=_ZERO)
    return EfDataset(pin, annual_ef_residual_tco2e_per_mwh=annual)


def _fuel_columns(header: tuple[str, ...]) -> dict[str, str]:
    fuels = set(DIRECT_EF_TCO2E_PER_MWH) | STORAGE_FUELS
    found: dict[str, str] = {}
    for column in header:
        for suffix in ("_germany_hourly__generation_mw", "_generation_mw", "_mw"):
            if column.endswith(suffix) and column[: -len(suffix)] in fuels:
                found[column[: -len(suffix)]] = column
                break
    return found


def read_generation_mix_csv(
    path: Path | str,
    source: str | None = None,
    ef_by_fuel: Mapping[str, Decimal] = DIRECT_EF_TCO2E_PER_MWH,
) -> EfDataset:
    """Hourly grid factor and carbon-free share derived from a generation-mix file."""
    probe = read_csv_table(path, ())
    time_column = next((c for c in ("interval_start", "timestamp_utc") if c in probe.header), None)
    if time_column is None:
        raise InputFileError(str(probe.path), "missing column interval_start (or timestamp_utc)", 1)
    fuels = _fuel_columns(probe.header)
    if not fuels:
        raise InputFileError(str(probe.path), "no generation column of a known fuel", 1)
    starts = _hour_starts(probe, time_column)
    cells = {fuel: probe.column(column) for fuel, column in fuels.items()}
    empty = 0
    ef: dict[datetime, Decimal] = {}
    share: dict[datetime, Decimal] = {}
    for i, h in enumerate(starts):
        mix: dict[str, Decimal] = {}
        for fuel in sorted(cells):
            text = cells[fuel][i]
            if not text:
                empty += 1
                mix[fuel] = _ZERO
            else:
                mix[fuel] = parse_decimal(probe, text, fuels[fuel], i, low=_ZERO)
        try:
            point = grid_factors(mix, ef_by_fuel)
        except CarbonInputError as exc:
            raise probe.fail(str(exc), i) from None
        ef[h], share[h] = point.ef_tco2e_per_mwh, point.carbon_free_share
    base = source if source else f"generation mix {probe.path.name}"
    text = (
        f"{base}; factors derived per hour by carbon.mix.grid_factors over fuels "
        f"{', '.join(sorted(fuels))} with {DIRECT_EF_SOURCE}; {empty} empty cells read as 0 MW"
    )
    pin = DatasetPin(name=probe.path.name, role="generation-mix", source=text, sha256=probe.sha256)
    return EfDataset(pin, ef, share)


def grid_factors_for(
    zone: str,
    hours: list[datetime],
    grid: EfDataset,
    residual: EfDataset | None = None,
) -> GridFactors:
    """Grid factors of ``zone`` restricted to ``hours`` from a grid and optional residual dataset.

    Every hour must have a grid factor and carbon-free share (a one-line error names the first
    missing hour). An annual residual file must hold the year of every hour (UTC year of the
    hour's local zone calendar is not needed: annual residual mixes are published per calendar
    year and the period lies in one year); a period spanning years needs an hourly file.
    """
    missing = [h for h in hours if h not in grid.ef_tco2e_per_mwh]
    if missing:
        raise InputFileError(
            grid.pin.name,
            f"no emission factor for the UTC hour starting {missing[0].isoformat()} "
            f"({len(missing)} hours of the period missing)",
        )
    wanted = set(hours)
    residual_hourly = {h: v for h, v in grid.ef_residual_tco2e_per_mwh.items() if h in wanted}
    annual: Decimal | None = None
    if residual is not None:
        residual_hourly.update(
            {h: v for h, v in residual.ef_residual_tco2e_per_mwh.items() if h in wanted}
        )
        if residual.annual_ef_residual_tco2e_per_mwh:
            tz = get_zone(zone).zoneinfo
            years = sorted({h.astimezone(tz).year for h in hours})
            if len(years) != 1 or years[0] not in residual.annual_ef_residual_tco2e_per_mwh:
                raise InputFileError(
                    residual.pin.name,
                    f"annual residual factor needed for {', '.join(map(str, years))} "
                    "(one calendar year per report with an annual residual file)",
                )
            annual = residual.annual_ef_residual_tco2e_per_mwh[years[0]]
    return GridFactors(
        zone=zone,
        ef_tco2e_per_mwh={h: grid.ef_tco2e_per_mwh[h] for h in hours},
        carbon_free_share={h: grid.carbon_free_share[h] for h in hours},
        ef_residual_tco2e_per_mwh=residual_hourly,
        annual_ef_residual_tco2e_per_mwh=annual,
    )
