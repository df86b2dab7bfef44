"""Importers: real-world market data files into the canonical forms of :mod:`.canonical`.

Every importer turns the source's time labels into UTC interval starts, DST days included, and
refuses what it cannot place: an ambiguous or non-existent local time, a duplicate or conflicting
interval, text in a number column. Errors are :class:`~engine.core.errors.InputFileError` naming the
file, the line and the problem. Writing goes through :func:`write_import`, which validates the
output with the canonical readers before anything is renamed into place.

Time conventions of the sources (how each is read):

``entsoe``
    ENTSO-E Transparency GUI export: ``Slot`` = ``dd/mm/yyyy HH:MM:SS - dd/mm/yyyy HH:MM:SS``
    in zone-local time; DST rows carry ``(CET)``/``(CEST)`` markers, which fix the offset. The
    interval starts at the first label. ``--column`` picks the sequence (default
    ``Sequence Sequence 1``, the hourly SDAC price); values constant over each DA interval of the
    zone are collapsed onto the DA grid, otherwise the native 15-minute grid is kept.
``energinet``
    Energi Data Service export (``HourUTC;HourDK;PriceArea;...``, decimal comma, newest first):
    ``HourUTC`` is the UTC hour start; rows of ``--zone`` (DK1/DK2) only; ``--column`` default
    ``SpotPriceEUR`` (e.g. ``ImbalancePriceEUR`` of RegulatingBalancePowerdata with
    ``--series IMBALANCE``).
``rebap`` / ``id-aep``
    netztransparenz.de (BOM, ``;``, decimal comma): local date and ``von`` time with the
    ``Zeitzone`` (CET/CEST) of the start; 15-minute intervals. reBAP ``--column`` default
    ``reBAP unterdeckt``.
``smard``
    SMARD-derived hourly table: ``timestamp_utc`` (UTC hour start), ``--column`` default
    ``day_ahead_prices_germany_hourly__price_eur_per_mwh``.
``electricitymaps``
    Electricity Maps hourly zone file: ``Datetime (UTC)`` is the UTC hour start; writes the
    canonical emission-factor file: ``ef_tco2e_per_mwh`` = carbon intensity [gCO2eq/kWh] / 1000
    (``--column direct`` (default) or ``lca``), ``carbon_free_share`` = Low Carbon Percentage / 100.
``techarena-da``
    TechArena 2025 DA sheet: ``timestep_derived_fixed_utc_plus_1`` is a uniform grid in fixed
    UTC+1 (no DST), read as such; ``--column`` default ``DE_LU``; 15-minute intervals.
``techarena-fcr`` / ``techarena-afrr``
    TechArena FCR / aFRR capacity sheets (``DE`` or ``DE_Pos``/``DE_Neg``): six 4-hour blocks per
    day on the same fixed UTC+1 grid. FCR and aFRR capacity are auctioned in blocks of the local
    wall clock (00-04, 04-08, ... local), and the sheet has six blocks on every day, DST days
    included; so the label's date and hour are read as the local block label (block *k* of the
    local delivery day), not as a fixed-offset instant, which would put summer blocks one hour off
    the product grid. Products FCR, AFRR_UP (Pos), AFRR_DOWN (Neg).
``caiso-dervet``
    EPRI DER-VET CAISO timeseries: ``Datetime (he)`` is hour-ending on a uniform grid with 24
    labels on every date, 2020-03-08 and 2020-11-01 included, so it cannot be prevailing Pacific
    time: it is read as Pacific Standard Time (fixed UTC-8), interval start = label - 1 h. DA
    $/kWh x 1000 -> USD/MWh; Reg Up/Down $/kW x 1000 -> USD/MW per hour (REGUP, REGDN).
``ercot-dam``
    ERCOT DAM settlement point prices (long): ``Delivery Date`` + ``Hour Ending`` in Central
    prevailing time; interval start = HE - 1 h, the repeated fall-back hour (flag ``Y``) is the
    standard-time one. ``--column`` is the settlement point (default HB_HUBAVG).
``ercot-as``
    ERCOT DAM AS clearing prices for capacity: as ``ercot-dam``; columns REGDN, REGUP, RRS,
    NSPIN, ECRS -> reserve products of the same name (empty cells are absent values).
``greendcc``
    green-dcc processed prices: ``Datetime`` is ISO with UTC offset (interval start), hourly;
    ``--zone`` default ERCOT.
``ercot-rtm``
    ERCOT RTM 15-minute hub/zone prices (wide): ``datetime_col`` is naive Central prevailing
    time, interval start; a repeated local time is the DST one first, then the standard one.
    ``--column`` default HB_HUBAVG; series RT.
``gansu``
    Gansu province-wide prices: ``date`` + ``time_order`` 1..96 (China Standard Time). Point k
    covers local [(k-1)*15 min, k*15 min): the Chinese 96-point convention labels that interval
    by its end k*15 min, and point 1 is the first quarter-hour of the day either way. Columns
    ``dayahead_clearing_price`` (DA, default) and ``realtime_clearing_price`` (RT).
``jiangsu``
    Jiangsu 96-point wide table, one row per ``日期``: labels 00:15..24:00 are interval ends. A
    day repeated with identical prices is kept once; a day repeated with different prices is an
    error.
``datawhale``
    Datawhale camp file: ``day`` (yyyy/m/d) + ``time`` interval end (0:15..24:00:00), China
    Standard Time; rows without a price (the competition's test window) are skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.core.errors import InputFileError, PowerdeskError
from engine.core.files import staged_files
from engine.io.canonical import (
    DA_SERIES,
    read_price_frame,
    read_reserve_price_frame,
    write_ef_csv,
    write_price_csv,
    write_reserve_price_csv,
)
from engine.io.emission_factors import read_ef_csv
from engine.io.features import FeatureSet, feature_csv, read_feature_csv
from market import Zone, get_zone

Q15 = timedelta(minutes=15)
H1 = timedelta(hours=1)


@dataclass(frozen=True)
class Imported:
    """What an importer read, in canonical units and UTC interval starts.

    Parameters
    ----------
    zone
        Zone key (for emission factors: the source's zone id).
    series
        ``DA``, ``RT``, ``IMBALANCE``, ``ID`` or ``EF``.
    prices
        Energy prices [currency/MWh] indexed by UTC interval start, or None.
    resolution
        Interval length of ``prices``; written as ``interval_end`` when it differs from the
        zone's DA resolution.
    reserves
        Capacity prices per product key [currency/MW per product interval], or empty.
    emission_factors
        ``ef_tco2e_per_mwh`` and ``carbon_free_share`` per UTC hour, or None.
    features
        Exogenous day-ahead forecasts the source publishes (named columns, indexed by UTC
        interval start), or None; written with ``--features-out`` (:mod:`engine.io.features`).
    """

    zone: str
    series: str
    prices: pd.Series | None = None
    resolution: timedelta = H1
    reserves: Mapping[str, pd.Series] = field(default_factory=dict)
    emission_factors: pd.DataFrame | None = None
    source: Path | None = None
    features: pd.DataFrame | None = None


@dataclass(frozen=True)
class Written:
    """One file written by :func:`write_import`: path, kind, rows and covered UTC span."""

    path: Path
    kind: str  # price | reserve_price | emission_factor
    rows: int
    first_start: pd.Timestamp
    last_end: pd.Timestamp


# --------------------------------------------------------------------------------------------
# Raw table with file line numbers


@dataclass(frozen=True)
class _Raw:
    path: Path
    header: list[str]
    cells: npt.NDArray[np.object_]  # 2-D, stripped text
    lines: npt.NDArray[np.int64]

    def col(self, name: str) -> npt.NDArray[np.object_]:
        return self.cells[:, self.header.index(name)]

    def at(self, i: int) -> npt.NDArray[np.object_]:
        return self.cells[:, i]

    def fail(self, problem: str, pos: int | None = None) -> InputFileError:
        return InputFileError(
            str(self.path), problem, None if pos is None else int(self.lines[pos])
        )

    def take(self, mask: npt.NDArray[np.bool_]) -> _Raw:
        return _Raw(self.path, self.header, self.cells[mask], self.lines[mask])


def _read_raw(path: Path, sep: str, required: Sequence[str], *, strip_header: bool = True) -> _Raw:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for record in reader:
            if not record or all(not c.strip() for c in record):
                continue
            if header is None:
                header = [c.strip() if strip_header else c for c in record]
                missing = [c for c in required if c not in header]
                if missing:
                    other = next((s for s in ",;\t" if s != sep and s in record[0]), None)
                    if len(header) == 1 and other:
                        raise InputFileError(
                            str(path), f"wrong separator {other!r} (expected {sep!r})", 1
                        )
                    raise InputFileError(
                        str(path),
                        f"missing column {', '.join(missing)} (found: {', '.join(header)})",
                        reader.line_num,
                    )
                continue
            if len(record) != len(header):
                raise InputFileError(
                    str(path),
                    f"expected {len(header)} fields, found {len(record)}",
                    reader.line_num,
                )
            rows.append([c.strip() for c in record])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputFileError(str(path), f"malformed CSV ({exc})", reader.line_num) from None
    if header is None:
        raise InputFileError(str(path), "empty file (no header)")
    if not rows:
        raise InputFileError(str(path), "no data rows", 1)
    cells = np.empty((len(rows), len(header)), dtype=object)
    cells[:, :] = rows
    return _Raw(path, header, cells, np.asarray(lines, dtype=np.int64))


def _numbers(
    raw: _Raw,
    values: npt.NDArray[np.object_],
    what: str,
    *,
    decimal_comma: bool = False,
    allow_empty: bool = False,
    exponent: int = 0,
) -> npt.NDArray[np.float64]:
    """Numbers of a column [source unit x 10**exponent]; empty cells are NaN when allowed.

    Unit changes (kWh -> MWh, g -> t, % -> share) are done in decimal arithmetic on the source
    text, so 0.02736191 $/kWh becomes exactly 27.36191 $/MWh, not 27.361909999999998.
    """
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        s = str(v)
        if not s:
            if allow_empty:
                continue
            raise raw.fail(f"empty {what}", i)
        if decimal_comma:
            if "." in s and "," in s:
                s = s.replace(".", "")
            s = s.replace(",", ".")
        try:
            x = float(s) if not exponent else float(Decimal(s).scaleb(exponent))
        except (ValueError, ArithmeticError):
            raise raw.fail(f"{what} {v!r} is not a number", i) from None
        if not np.isfinite(x):
            raise raw.fail(f"{what} {v!r} is not a finite number", i)
        out[i] = x
    return out


def _parse_wall(raw: _Raw, values: Sequence[str], fmt: str, what: str) -> pd.DatetimeIndex:
    parsed = pd.to_datetime(pd.Series(list(values), dtype=object), format=fmt, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        raise raw.fail(f"{what} {values[int(bad[0])]!r} is not a date/time like {fmt}", int(bad[0]))
    return pd.DatetimeIndex(parsed).as_unit("us")


def _wall_to_utc(
    raw: _Raw,
    wall: pd.DatetimeIndex,
    tz: str,
    *,
    dst: npt.NDArray[np.bool_] | None = None,
    offset_hours: npt.NDArray[np.float64] | None = None,
) -> pd.DatetimeIndex:
    """Local wall-clock times to UTC.

    ``dst`` resolves repeated (fall-back) times: True = the summer-time one. Without it, the
    first occurrence of a repeated time is the summer-time one and the second the standard-time
    one. ``offset_hours`` (NaN where unknown) are CET/CEST offsets stated by the source (+1/+2
    h); they decide the fold, and a stated offset the zone does not have at that wall time is an
    error.
    """
    if dst is None:
        dst = ~np.asarray(pd.Index(wall).duplicated(keep="first"))
    if offset_hours is not None:
        # CET/CEST markers: the summer offset (+2 h) decides the fold where it is stated
        known = ~np.isnan(offset_hours)
        dst = np.where(known, offset_hours == 2.0, dst)
    local = wall.tz_localize(tz, ambiguous=dst, nonexistent="NaT")
    bad = np.flatnonzero(local.isna())
    if bad.size:
        i = int(bad[0])
        raise raw.fail(f"local time {wall[i]} does not exist in {tz} (DST gap)", i)
    if offset_hours is not None:
        utc_wall = local.tz_convert("UTC").tz_localize(None)
        off = np.asarray((wall - utc_wall) / pd.Timedelta(hours=1), dtype=np.float64)
        wrong = np.flatnonzero(~np.isnan(offset_hours) & (off != offset_hours))
        if wrong.size:
            i = int(wrong[0])
            raise raw.fail(
                f"local time {wall[i]} has UTC offset {off[i]:+g} h in {tz}, not the stated "
                f"{offset_hours[i]:+g} h",
                i,
            )
    return pd.DatetimeIndex(local.tz_convert("UTC")).as_unit("us")


def _unique(raw: _Raw, starts: pd.DatetimeIndex, what: str = "interval") -> None:
    dup = np.flatnonzero(pd.Index(starts).duplicated(keep="first"))
    if dup.size:
        i = int(dup[0])
        raise raw.fail(f"duplicate {what} starting {starts[i].isoformat()}", i)


def _series(
    raw: _Raw,
    starts: pd.DatetimeIndex,
    values: npt.NDArray[np.float64],
    grid: tuple[timedelta, str] | None = None,
) -> pd.Series:
    """Prices by interval start; duplicates are errors, and with ``grid`` = (length, tz) so is a
    start off the grid of that length on the local wall clock."""
    _unique(raw, starts)
    if grid is not None:
        length, tz = grid
        local = starts.tz_convert(tz)
        minutes = np.asarray(local.hour * 60 + local.minute, dtype=np.int64)
        step = int(length.total_seconds() // 60)
        off = np.flatnonzero((minutes % step != 0) | (np.asarray(local.second) != 0))
        if off.size:
            i = int(off[0])
            raise raw.fail(f"interval start {local[i]} is not on the {step}-minute grid", i)
    return pd.Series(values, index=pd.DatetimeIndex(starts, name="interval_start")).sort_index()


def _zone(zone: str | None, default: str | None, fmt: str) -> Zone:
    key = zone or default
    if key is None:
        raise PowerdeskError(f"format {fmt} needs --zone")
    return get_zone(key)


def _column(raw: _Raw, column: str | None, default: str, choices: Sequence[str] = ()) -> str:
    name = column or default
    allowed = list(choices) or [h for h in raw.header]
    if name not in raw.header or name not in allowed:
        raise raw.fail(f"no column {name!r} (choose one of: {', '.join(allowed)})")
    return name


# --------------------------------------------------------------------------------------------
# Importers


@dataclass(frozen=True)
class _Options:
    zone: str | None
    column: str | None
    series: str | None


def _entsoe(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["Slot"])
    z = _zone(o.zone, "DE-LU", "entsoe")
    seqs = [h for h in raw.header if h.startswith("Sequence")]
    name = _column(raw, o.column, "Sequence Sequence 1", seqs)
    first = [str(s).split(" - ")[0].strip() for s in raw.col("Slot")]
    marker = np.full(len(first), np.nan)
    labels: list[str] = []
    for i, label in enumerate(first):
        if label.endswith(")"):
            label, _, mark = label[:-1].rpartition(" (")
            if mark not in ("CET", "CEST"):
                raise raw.fail(f"unknown time-zone marker {mark!r} in Slot", i)
            marker[i] = 1.0 if mark == "CET" else 2.0
        labels.append(label.strip())
    wall = _parse_wall(raw, labels, "%d/%m/%Y %H:%M:%S", "Slot")
    starts = _wall_to_utc(raw, wall, z.tz, offset_hours=marker)
    values = _numbers(raw, raw.col(name), name)
    resolution = _common_step(starts)
    series = _series(raw, starts, values, (resolution, z.tz))
    series, resolution = _collapse_onto_da_grid(series, resolution, z)
    return Imported(z.key, o.series or DA_SERIES, series, resolution)


def _common_step(starts: pd.DatetimeIndex) -> timedelta:
    """The most common distance between consecutive interval starts (the native resolution)."""
    steps = np.diff(np.sort(starts.asi8))
    if steps.size == 0:
        return H1
    values, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit=starts.unit).to_pytimedelta()


def _collapse_onto_da_grid(
    series: pd.Series, resolution: timedelta, zone: Zone
) -> tuple[pd.Series, timedelta]:
    """Hourly prices repeated on a finer grid become one value per DA interval (when constant)."""
    index = pd.DatetimeIndex(series.index)
    local_days = index.tz_convert(zone.tz).date
    da = {zone.resolution_on(d) for d in (local_days[0], local_days[-1])}
    if len(da) != 1:
        return series, resolution
    (target,) = da
    if target <= resolution or target % resolution:
        return series, resolution
    # DA intervals of these zones are whole local hours; floor in UTC is the same for whole-hour
    # UTC offsets.
    keys = index.floor(target)
    groups = series.groupby(keys)
    if (groups.nunique() != 1).any() or (groups.size() != target // resolution).any():
        return series, resolution
    out = groups.first()
    out.index = pd.DatetimeIndex(out.index, name="interval_start")
    return out, target


def _energinet(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ";", ["HourUTC", "PriceArea"])
    z = _zone(o.zone, None, "energinet")
    name = _column(raw, o.column, "SpotPriceEUR")
    currency = name[-3:]
    if currency.isupper() and currency.isalpha() and currency != z.currency:
        raise raw.fail(f"column {name} is in {currency} but zone {z.key} trades in {z.currency}")
    mine = raw.take(raw.col("PriceArea") == z.key)
    if not len(mine.lines):
        areas = ", ".join(sorted(set(raw.col("PriceArea"))))
        raise raw.fail(f"no rows for PriceArea {z.key} (found: {areas})")
    wall = _parse_wall(mine, list(mine.col("HourUTC")), "%Y-%m-%d %H:%M", "HourUTC")
    starts = pd.DatetimeIndex(wall.tz_localize("UTC"))
    values = _numbers(mine, mine.col(name), name, decimal_comma=True)
    return Imported(z.key, o.series or DA_SERIES, _series(mine, starts, values, (H1, "UTC")), H1)


def _netztransparenz(
    path: Path, o: _Options, *, date_col: int, time_col: int, tz_col: int, default_col: str
) -> Imported:
    raw = _read_raw(path, ";", [])
    if len(raw.header) < 6:
        raise raw.fail(
            f"expected the netztransparenz columns, found: {', '.join(raw.header)}", None
        )
    z = _zone(o.zone, "DE-LU", "netztransparenz")
    name = _column(raw, o.column, default_col, [h for h in raw.header if "€" in h or "reBAP" in h])
    labels = [f"{d} {t}" for d, t in zip(raw.at(date_col), raw.at(time_col), strict=True)]
    wall = _parse_wall(raw, labels, "%d.%m.%Y %H:%M", "date and time")
    zones = raw.at(tz_col)
    offsets = np.full(len(zones), np.nan)
    offsets[zones == "CET"] = 1.0
    offsets[zones == "CEST"] = 2.0
    bad = np.flatnonzero(np.isnan(offsets))
    if bad.size:
        raise raw.fail(f"Zeitzone {zones[int(bad[0])]!r} is neither CET nor CEST", int(bad[0]))
    starts = _wall_to_utc(raw, wall, z.tz, offset_hours=offsets)
    values = _numbers(raw, raw.col(name), name, decimal_comma=True)
    series = o.series or ("IMBALANCE" if "reBAP" in name else "ID")
    return Imported(z.key, series, _series(raw, starts, values, (Q15, z.tz)), Q15)


def _rebap(path: Path, o: _Options) -> Imported:
    return _netztransparenz(
        path, o, date_col=0, time_col=2, tz_col=1, default_col="reBAP unterdeckt"
    )


def _id_aep(path: Path, o: _Options) -> Imported:
    return _netztransparenz(
        path, o, date_col=0, time_col=1, tz_col=2, default_col="ID AEP in €/MWh"
    )


def _utc_hourly(raw: _Raw, column: str, fmt: str) -> pd.DatetimeIndex:
    values = [str(v) for v in raw.col(column)]
    parsed = pd.to_datetime(pd.Series(values, dtype=object), format=fmt, errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        raise raw.fail(
            f"{column} {values[int(bad[0])]!r} is not a UTC time like {fmt}", int(bad[0])
        )
    return pd.DatetimeIndex(parsed).as_unit("us")


def _smard(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["timestamp_utc"])
    z = _zone(o.zone, "DE-LU", "smard")
    name = _column(raw, o.column, "day_ahead_prices_germany_hourly__price_eur_per_mwh")
    stamps = [str(v) for v in raw.col("timestamp_utc")]
    if any(not s.endswith("+00:00") for s in stamps):
        i = next(i for i, s in enumerate(stamps) if not s.endswith("+00:00"))
        raise raw.fail(f"timestamp_utc {stamps[i]!r} is not in UTC (+00:00)", i)
    starts = _utc_hourly(raw, "timestamp_utc", "ISO8601")
    values = _numbers(raw, raw.col(name), name)
    return Imported(z.key, o.series or DA_SERIES, _series(raw, starts, values, (H1, "UTC")), H1)


_EM_CI = {
    "direct": "Carbon Intensity gCO₂eq/kWh (direct)",
    "lca": "Carbon Intensity gCO₂eq/kWh (LCA)",
}


def _electricitymaps(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["Datetime (UTC)", "Zone Id", "Low Carbon Percentage"])
    basis = o.column or "direct"
    if basis not in _EM_CI:
        raise PowerdeskError(f"--column for electricitymaps is direct or lca, not {basis!r}")
    if _EM_CI[basis] not in raw.header:
        raise raw.fail(f"missing column {_EM_CI[basis]}", None)
    zones = sorted(set(raw.col("Zone Id")))
    if len(zones) != 1:
        raise raw.fail(f"file mixes zones {', '.join(zones)}")
    starts = _utc_hourly(raw, "Datetime (UTC)", "%Y-%m-%d %H:%M:%S")
    _unique(raw, starts)
    ci = _numbers(raw, raw.col(_EM_CI[basis]), _EM_CI[basis], exponent=-3)  # g/kWh -> t/MWh
    low = _numbers(raw, raw.col("Low Carbon Percentage"), "Low Carbon Percentage", exponent=-2)
    frame = pd.DataFrame(
        {"ef_tco2e_per_mwh": ci, "carbon_free_share": low},
        index=pd.DatetimeIndex(starts, name="interval_start"),
    ).sort_index()
    return Imported(zones[0], "EF", emission_factors=frame)


_TA_TIME = "timestep_derived_fixed_utc_plus_1"


def _techarena_da(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", [_TA_TIME])
    z = _zone(o.zone, "DE-LU", "techarena-da")
    name = _column(raw, o.column, "DE_LU")
    wall = _parse_wall(raw, list(raw.col(_TA_TIME)), "%Y-%m-%d %H:%M", _TA_TIME)
    starts = pd.DatetimeIndex(wall.tz_localize("Etc/GMT-1").tz_convert("UTC")).as_unit("us")
    values = _numbers(raw, raw.col(name), name)
    return Imported(
        z.key, o.series or DA_SERIES, _series(raw, starts, values, (Q15, "Etc/GMT-1")), Q15
    )


def _techarena_blocks(path: Path, o: _Options, columns: Mapping[str, str]) -> Imported:
    raw = _read_raw(path, ",", [_TA_TIME, *columns.values()])
    z = _zone(o.zone, "DE-LU", "techarena")
    wall = _parse_wall(raw, list(raw.col(_TA_TIME)), "%Y-%m-%d %H:%M", _TA_TIME)
    # the label is the local wall-clock block label (see the module docstring)
    starts = _wall_to_utc(raw, wall, z.tz)
    reserves = {
        product: _series(raw, starts, _numbers(raw, raw.col(col), col))
        for product, col in columns.items()
    }
    return Imported(z.key, "RESERVE", reserves=reserves)


def _techarena_fcr(path: Path, o: _Options) -> Imported:
    return _techarena_blocks(path, o, {"FCR": o.column or "DE"})


def _techarena_afrr(path: Path, o: _Options) -> Imported:
    prefix = o.column or "DE"
    return _techarena_blocks(path, o, {"AFRR_UP": f"{prefix}_Pos", "AFRR_DOWN": f"{prefix}_Neg"})


_CAISO_COLUMNS = {
    "DA": "DA Price ($/kWh)",
    "REGUP": "Reg Up Price ($/kW)",
    "REGDN": "Reg Down Price ($/kW)",
}


def _caiso_dervet(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["Datetime (he)", *_CAISO_COLUMNS.values()])
    z = _zone(o.zone, "CAISO", "caiso-dervet")
    wall = _parse_wall(raw, list(raw.col("Datetime (he)")), "%m/%d/%Y %H:%M", "Datetime (he)")
    # hour-ending in Pacific Standard Time (fixed UTC-8, see the module docstring)
    starts = pd.DatetimeIndex((wall - H1).tz_localize("Etc/GMT+8").tz_convert("UTC"))
    per_mwh = {
        key: _numbers(raw, raw.col(col), col, exponent=3) for key, col in _CAISO_COLUMNS.items()
    }
    prices = _series(raw, starts, per_mwh["DA"])
    reserves = {k: _series(raw, starts, per_mwh[k]) for k in ("REGUP", "REGDN")}
    return Imported(z.key, o.series or DA_SERIES, prices, H1, reserves)


def _ercot_hour_ending(raw: _Raw, tz: str) -> pd.DatetimeIndex:
    dates = raw.col("Delivery Date")
    hours = raw.col("Hour Ending")
    flags = raw.col("Repeated Hour Flag")
    he = np.empty(len(hours), dtype=np.int64)
    for i, h in enumerate(hours):
        hh, _, mm = str(h).partition(":")
        if not hh.isdigit() or mm != "00" or not 1 <= int(hh) <= 24:
            raise raw.fail(f"Hour Ending {h!r} is not 01:00..24:00", i)
        he[i] = int(hh)
    bad = np.flatnonzero(~np.isin(flags, ["N", "Y"]))
    if bad.size:
        raise raw.fail(f"Repeated Hour Flag {flags[int(bad[0])]!r} is not N or Y", int(bad[0]))
    day = _parse_wall(raw, list(dates), "%m/%d/%Y", "Delivery Date")
    wall = pd.DatetimeIndex(day + pd.to_timedelta(he - 1, unit="h"))
    return _wall_to_utc(raw, wall, tz, dst=np.asarray(flags == "N"))


def _ercot_dam(path: Path, o: _Options) -> Imported:
    raw = _read_raw(
        path,
        ",",
        [
            "Delivery Date",
            "Hour Ending",
            "Repeated Hour Flag",
            "Settlement Point",
            "Settlement Point Price",
        ],
    )
    z = _zone(o.zone, "ERCOT", "ercot-dam")
    point = o.column or "HB_HUBAVG"
    mine = raw.take(raw.col("Settlement Point") == point)
    if not len(mine.lines):
        points = ", ".join(sorted(set(raw.col("Settlement Point"))))
        raise raw.fail(f"no rows for settlement point {point} (found: {points})")
    starts = _ercot_hour_ending(mine, z.tz)
    values = _numbers(mine, mine.col("Settlement Point Price"), "Settlement Point Price")
    return Imported(z.key, o.series or DA_SERIES, _series(mine, starts, values), H1)


_ERCOT_AS = ("REGDN", "REGUP", "RRS", "NSPIN", "ECRS")


def _ercot_as(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["Delivery Date", "Hour Ending", "Repeated Hour Flag", "REGUP"])
    z = _zone(o.zone, "ERCOT", "ercot-as")
    starts = _ercot_hour_ending(raw, z.tz)
    _unique(raw, starts)
    reserves: dict[str, pd.Series] = {}
    for product in _ERCOT_AS:
        if product not in raw.header:
            continue
        values = _numbers(raw, raw.col(product), product, allow_empty=True)
        have = ~np.isnan(values)
        if have.any():
            reserves[product] = pd.Series(
                values[have], index=pd.DatetimeIndex(starts[have], name="interval_start")
            ).sort_index()
    return Imported(z.key, "RESERVE", reserves=reserves)


def _greendcc(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["Datetime"])
    z = _zone(o.zone, "ERCOT", "greendcc")
    name = _column(raw, o.column, next((h for h in raw.header if h.startswith("Price")), "Price"))
    stamps = [str(v) for v in raw.col("Datetime")]
    for i, s in enumerate(stamps):
        if not (s[-6] in "+-" and s[-3] == ":"):
            raise raw.fail(f"naive timestamp {s!r} in Datetime (a UTC offset is required)", i)
    starts = _utc_hourly(raw, "Datetime", "ISO8601")
    values = _numbers(raw, raw.col(name), name)
    return Imported(z.key, o.series or DA_SERIES, _series(raw, starts, values, (H1, z.tz)), H1)


def _ercot_rtm(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["datetime_col"])
    z = _zone(o.zone, "ERCOT", "ercot-rtm")
    name = _column(raw, o.column, "HB_HUBAVG")
    wall = _parse_wall(raw, list(raw.col("datetime_col")), "%Y-%m-%d %H:%M:%S", "datetime_col")
    starts = _wall_to_utc(raw, wall, z.tz)
    values = _numbers(raw, raw.col(name), name)
    return Imported(z.key, o.series or "RT", _series(raw, starts, values, (Q15, z.tz)), Q15)


# The day-ahead forecasts Gansu's trading centre publishes with its prices [MW].
GANSU_FEATURES = (
    "provincial_load_forecast",
    "tie_line_load_forecast",
    "total_power_forecast",
    "new_energy_power_forecast",
    "wind_power_forecast",
    "photovoltaic_power_forecast",
    "hydraulic_power_forecast",
    "non_market_power_forecast",
)


def _gansu(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["date", "time_order"])
    z = _zone(o.zone, "CN-GS", "gansu")
    name = _column(
        raw,
        o.column,
        "dayahead_clearing_price",
        ["dayahead_clearing_price", "realtime_clearing_price"],
    )
    order = _numbers(raw, raw.col("time_order"), "time_order")
    bad = np.flatnonzero((order < 1) | (order > 96) | (order != np.round(order)))
    if bad.size:
        raise raw.fail(
            f"time_order {raw.col('time_order')[int(bad[0])]!r} is not 1..96", int(bad[0])
        )
    day = _parse_wall(raw, list(raw.col("date")), "%Y-%m-%d", "date")
    wall = pd.DatetimeIndex(day + pd.to_timedelta((order - 1) * 15, unit="min"))
    starts = _wall_to_utc(raw, wall, z.tz)
    values = _numbers(raw, raw.col(name), name)
    series = o.series or ("RT" if name.startswith("realtime") else DA_SERIES)
    features = pd.DataFrame(
        {f"{c}_mw": _numbers(raw, raw.col(c), c) for c in GANSU_FEATURES if c in raw.header},
        index=pd.DatetimeIndex(starts),
    )
    return Imported(
        z.key,
        series,
        _series(raw, starts, values),
        Q15,
        features=features.sort_index() if len(features.columns) else None,
    )


def _end_label_minutes(raw: _Raw, label: str, pos: int | None) -> int:
    parts = label.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise raw.fail(f"time label {label!r} is not H:MM", pos)
    hours, minutes = int(parts[0]), int(parts[1])
    total = hours * 60 + minutes
    if minutes % 15 or not 15 <= total <= 24 * 60 or (len(parts) == 3 and int(parts[2])):
        raise raw.fail(f"time label {label!r} is not a quarter-hour end 0:15..24:00", pos)
    return total


def _jiangsu(path: Path, o: _Options) -> Imported:
    raw = _read_raw(path, ",", ["日期"])
    z = _zone(o.zone, "CN-JS", "jiangsu")
    cols = [i for i, h in enumerate(raw.header) if ":" in h and h != "00:00"]
    ends = [_end_label_minutes(raw, raw.header[i], None) for i in cols]
    if ends != [15 * k for k in range(1, 97)]:
        raise raw.fail("expected 96 interval-ending columns 00:15..24:00", None)
    dates = [str(d) for d in raw.col("日期")]
    days = _parse_wall(raw, dates, "%Y-%m-%d", "日期")
    grid = np.stack([_numbers(raw, raw.at(i), raw.header[i]) for i in cols], axis=1)
    seen: dict[str, int] = {}
    keep = np.ones(len(dates), dtype=bool)
    for i, d in enumerate(dates):
        if d in seen:
            j = seen[d]
            if not np.array_equal(grid[i], grid[j]):
                raise raw.fail(
                    f"day {d} appears again with different prices (first on row {raw.lines[j]})", i
                )
            keep[i] = False
        else:
            seen[d] = i
    rows = np.flatnonzero(keep)
    offsets = pd.to_timedelta(np.asarray(ends) - 15, unit="min")
    wall = pd.DatetimeIndex(
        np.concatenate([(days[int(r)] + offsets).to_numpy() for r in rows])
    ).as_unit("us")
    sub = _Raw(
        raw.path, raw.header, np.repeat(raw.cells[rows], 96, axis=0), np.repeat(raw.lines[rows], 96)
    )
    starts = _wall_to_utc(sub, wall, z.tz)
    return Imported(z.key, o.series or DA_SERIES, _series(sub, starts, grid[rows].ravel()), Q15)


def _datawhale(path: Path, o: _Options) -> Imported:
    price_col = "clearing price (CNY/MWh)"
    raw = _read_raw(path, ",", ["day", "time", price_col])
    z = _zone(o.zone, "CN-SD", "datawhale")
    raw = raw.take(raw.col(price_col) != "")
    if not len(raw.lines):
        raise InputFileError(str(path), "no rows with a price")
    minutes = np.asarray(
        [_end_label_minutes(raw, str(t), i) for i, t in enumerate(raw.col("time"))], dtype=np.int64
    )
    day = _parse_wall(raw, list(raw.col("day")), "%Y/%m/%d", "day")
    wall = pd.DatetimeIndex(day + pd.to_timedelta(minutes - 15, unit="min"))
    starts = _wall_to_utc(raw, wall, z.tz)
    values = _numbers(raw, raw.col(price_col), price_col)
    return Imported(z.key, o.series or DA_SERIES, _series(raw, starts, values), Q15)


FORMATS: Mapping[str, Callable[[Path, _Options], Imported]] = {
    "entsoe": _entsoe,
    "energinet": _energinet,
    "rebap": _rebap,
    "id-aep": _id_aep,
    "smard": _smard,
    "electricitymaps": _electricitymaps,
    "techarena-da": _techarena_da,
    "techarena-fcr": _techarena_fcr,
    "techarena-afrr": _techarena_afrr,
    "caiso-dervet": _caiso_dervet,
    "ercot-dam": _ercot_dam,
    "ercot-as": _ercot_as,
    "greendcc": _greendcc,
    "ercot-rtm": _ercot_rtm,
    "gansu": _gansu,
    "jiangsu": _jiangsu,
    "datawhale": _datawhale,
}


def import_file(
    path: Path,
    fmt: str,
    *,
    zone: str | None = None,
    column: str | None = None,
    series: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Imported:
    """Read a real-world market data file of format ``fmt`` (a key of :data:`FORMATS`).

    Parameters
    ----------
    path
        The source file.
    fmt
        Format key; see the module docstring for each format's time convention.
    zone
        Zone key; formats with a natural zone default to it, ``energinet`` needs DK1 or DK2.
    column
        The source column (or settlement point) to take, where the format has several.
    series
        Series name to record (``DA``, ``RT``, ``IMBALANCE``, ``ID``); the format's default
        otherwise.
    start, end
        Keep only local delivery days ``start <= day < end`` of the zone (UTC days for emission
        factors).
    """
    try:
        reader = FORMATS[fmt]
    except KeyError:
        raise PowerdeskError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})") from None
    imported = replace(reader(Path(path), _Options(zone, column, series)), source=Path(path))
    if start is None and end is None:
        return imported
    return _sliced(imported, start, end)


def _sliced(imported: Imported, start: date | None, end: date | None) -> Imported:
    tz = "UTC" if imported.emission_factors is not None else get_zone(imported.zone).tz

    def keep(index: pd.Index) -> npt.NDArray[np.bool_]:
        days = pd.DatetimeIndex(index).tz_convert(tz).date
        mask = np.ones(len(days), dtype=bool)
        if start is not None:
            mask &= days >= start
        if end is not None:
            mask &= days < end
        return mask

    prices = imported.prices
    if prices is not None:
        prices = prices[keep(prices.index)]
    reserves = {k: v[keep(v.index)] for k, v in imported.reserves.items()}
    reserves = {k: v for k, v in reserves.items() if len(v)}
    ef = imported.emission_factors
    if ef is not None:
        ef = ef[keep(ef.index)]
    if (prices is None or prices.empty) and not reserves and (ef is None or ef.empty):
        raise PowerdeskError(f"no data between {start} and {end}")
    features = imported.features
    if features is not None:
        features = features[keep(features.index)]
    return replace(
        imported, prices=prices, reserves=reserves, emission_factors=ef, features=features
    )


def _needs_interval_end(prices: pd.Series, resolution: timedelta, zone: Zone) -> bool:
    local = pd.DatetimeIndex(prices.index).tz_convert(zone.tz)
    days = {local[0].date(), local[-1].date()}
    return any(zone.resolution_on(d) != resolution for d in days)


def _write_text(path: Path, text: str) -> int:
    path.write_text(text, encoding="utf-8")
    return text.count("\n") - 1


def _feature_intervals(features: FeatureSet) -> pd.DataFrame:
    """The intervals of a feature file (what the import reports on)."""
    first = next(iter(features.columns.values()))
    starts = pd.DatetimeIndex(first.frame["interval_start"]).unique()
    return pd.DataFrame({"interval_start": starts, "interval_end": starts + first.resolution})


def _ef_hours(hours: list[datetime]) -> pd.DataFrame:
    """The intervals of an emission-factor file (what the import reports on)."""
    starts = pd.DatetimeIndex(hours)
    return pd.DataFrame({"interval_start": starts, "interval_end": starts + pd.Timedelta(hours=1)})


def write_import(
    imported: Imported,
    out: Path,
    *,
    reserve_out: Path | None = None,
    features_out: Path | None = None,
) -> list[Written]:
    """Write an import in canonical form, validated by the canonical readers first.

    Energy prices (or emission factors, or reserve prices of a reserve-only format) go to
    ``out``; reserve prices of a format that has both go to ``reserve_out`` (default:
    ``<out stem>_reserves.csv``). Every file is written to a temporary name, read back with the
    canonical reader, and only then renamed into place: all files or none.
    """
    out = Path(out)
    plan: list[tuple[Path, str, Callable[[Path], int], Callable[[Path], pd.DataFrame]]] = []
    prices = imported.prices if imported.prices is not None and len(imported.prices) else None
    if imported.emission_factors is not None:
        frame = imported.emission_factors
        plan.append(
            (
                out,
                "emission_factor",
                lambda p: write_ef_csv(frame, p),
                lambda p: _ef_hours(read_ef_csv(p, contiguous=True).hours()),
            )
        )
    else:
        zone = get_zone(imported.zone)
        if prices is not None:
            res = (
                imported.resolution
                if _needs_interval_end(prices, imported.resolution, zone)
                else None
            )
            plan.append(
                (
                    out,
                    "price",
                    lambda p: write_price_csv(prices, p, resolution=res),
                    lambda p: read_price_frame(p, zone),
                )
            )
        if imported.reserves:
            target = (
                out
                if prices is None
                else (reserve_out or out.with_name(f"{out.stem}_reserves.csv"))
            )
            reserves = imported.reserves
            plan.append(
                (
                    target,
                    "reserve_price",
                    lambda p: write_reserve_price_csv(reserves, p),
                    lambda p: read_reserve_price_frame(p, zone),
                )
            )
    if features_out is not None:
        feats = imported.features
        if feats is None or feats.empty:
            raise PowerdeskError(
                f"{imported.source or out}: this format carries no features for --features-out"
            )
        fzone = get_zone(imported.zone)
        plan.append(
            (
                Path(features_out),
                "features",
                lambda p: _write_text(p, feature_csv(feats)),
                lambda p: _feature_intervals(read_feature_csv([p], fzone)),
            )
        )
    if not plan:
        raise PowerdeskError("the import produced no data")
    written: list[Written] = []
    with staged_files([path for path, *_ in plan]) as temps:
        for (path, kind, write, check), tmp in zip(plan, temps, strict=True):
            write(tmp)
            try:
                table = check(tmp)
            except InputFileError as exc:
                problem = exc.problem.split(" (")[0]
                hint = "; import a gap-free part with --start/--end" if "missing" in problem else ""
                raise PowerdeskError(
                    f"{imported.source or path}: cannot write {path.name}: {problem}{hint}"
                ) from None
            written.append(
                Written(
                    path,
                    kind,
                    len(table),
                    pd.Timestamp(table["interval_start"].min()),
                    pd.Timestamp(table["interval_end"].max()),
                )
            )
    return written
