"""Canonical price files in the database: one Dataset per file (pinned by SHA-256), its values as
PricePoints with their publication instants.

Loading the same bytes again is a no-op; a second file for the same zone and series (a
revision, or the next month) adds a dataset, and :func:`load_series` merges them: where two
datasets hold a value for the same interval and publication instant, the later-loaded dataset
wins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlmodel
from sqlalchemy import insert, select
from sqlmodel import Session

from engine.core.errors import ConflictError, InputFileError, NotFoundError
from engine.io.activations import read_activation_csv
from engine.io.canonical import (
    DA_SERIES,
    price_series,
    read_price_frame,
    read_reserve_price_frame,
    reserve_series,
)
from engine.io.features import read_feature_csv
from engine.models.market import Dataset, PricePoint
from market import KnownSeries, Zone, get_zone

RESERVE_SERIES = "RESERVE"
_CHUNK = 5000


@dataclass(frozen=True)
class LoadResult:
    """Outcome of :func:`load_price_file`."""

    dataset_id: int
    sha256: str
    rows: int
    created: bool  # False when the same bytes were loaded before (nothing changed)


FEATURE_PREFIX = "feature:"
FEATURES_LABEL = "FEATURES"
ACTIVATIONS_LABEL = "ACTIVATIONS"


def _header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig") as f:
            header = f.readline()
    except (OSError, UnicodeDecodeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputFileError(str(path), f"cannot read file ({problem})") from None
    return [c.strip() for c in header.split(",")]


def _is_reserve_file(path: Path) -> bool:
    return "product" in _header(path)


def _is_activation_file(path: Path) -> bool:
    return "called_mw" in _header(path)


def _is_feature_file(path: Path) -> bool:
    header = _header(path)
    return "interval_start" in header and "price" not in header and "product" not in header


def load_price_file(
    session: Session,
    path: Path,
    zone: Zone | str,
    series: str = DA_SERIES,
    *,
    now: datetime | None = None,
) -> LoadResult:
    """Store a canonical price (or reserve price) file in the database.

    Parameters
    ----------
    session
        Open session; the caller commits.
    path
        Canonical price file, a reserve price file (recognised by its ``product`` column; its
        points are stored with the product key as series), an activation file (recognised by
        its ``called_mw`` column; stored as series ``<KEY>_CALLED_MW`` and ``<KEY>_MILEAGE_MW``,
        :mod:`engine.io.activations`) or a feature file (no ``price`` column; each feature
        stored as series ``feature:<name>`` with its knowledge times).
    zone
        Zone of the prices.
    series
        Series name of an energy price file (``DA``, ``IMBALANCE``, ``RT``...); decides the
        publication times (see :func:`engine.io.canonical.read_price_csv`).
    now
        Import instant recorded on the dataset (default: the current time).

    Returns
    -------
    LoadResult
        The dataset id and whether it was created (False: the same bytes were already loaded).

    Raises
    ------
    engine.core.errors.InputFileError
        The file is not a valid canonical file for the zone.
    engine.core.errors.ConflictError
        The same bytes were loaded before as a different zone or series.
    """
    z = zone if isinstance(zone, Zone) else get_zone(zone)
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read file ({exc.strerror})") from None
    sha = hashlib.sha256(data).hexdigest()
    activation = _is_activation_file(path)
    reserve = not activation and _is_reserve_file(path)
    feature = not activation and not reserve and _is_feature_file(path)
    kind, label = (
        ("activation", ACTIVATIONS_LABEL)
        if activation
        else ("reserve_price", RESERVE_SERIES)
        if reserve
        else ("feature", FEATURES_LABEL)
        if feature
        else ("price", series)
    )
    ds = session.exec(sqlmodel.select(Dataset).where(Dataset.sha256 == sha)).first()
    if ds is not None:
        if (ds.zone, ds.series, ds.kind) != (z.key, label, kind):
            raise ConflictError(
                f"{path}: these bytes were loaded before as {ds.kind} {ds.zone}/{ds.series} "
                f"(dataset {ds.id})"
            )
        assert ds.id is not None
        return LoadResult(ds.id, sha, ds.rows, created=False)

    if activation:
        calls = read_activation_csv(path, z)
        frame = pd.concat(
            [
                k.frame.assign(
                    interval_end=k.frame["interval_start"] + k.resolution,
                    price=k.frame["value"],
                    series=key,
                )
                for key, k in calls.items()
            ],
            ignore_index=True,
        )
        series_keys = frame["series"].to_numpy(dtype=object)
        unit = "MW"
    elif feature:
        columns = read_feature_csv([path], z).columns
        frame = pd.concat(
            [
                s.frame.assign(
                    interval_end=s.frame["interval_start"] + s.resolution,
                    price=s.frame["value"],
                    series=f"{FEATURE_PREFIX}{name}",
                )
                for name, s in columns.items()
            ],
            ignore_index=True,
        )
        series_keys = frame["series"].to_numpy(dtype=object)
        unit = "feature"
    elif reserve:
        frame = read_reserve_price_frame(path, z)
        knowns = reserve_series(frame, z)
        published = pd.concat(
            [
                k.frame.assign(product=key)[["interval_start", "product", "published_at"]]
                for key, k in knowns.items()
            ]
        )
        frame = frame.merge(published, on=["interval_start", "product"], how="left")
        series_keys = frame["product"].to_numpy(dtype=object)
        unit = f"{z.currency}/MW"
    else:
        frame = read_price_frame(path, z)
        known = price_series(frame, z, series)
        frame = frame.merge(
            known.frame[["interval_start", "published_at"]], on="interval_start", how="left"
        )
        series_keys = np.full(len(frame), series, dtype=object)
        unit = f"{z.currency}/MWh"
    dataset = Dataset(
        kind=kind,
        zone=z.key,
        series=label,
        unit=unit,
        sha256=sha,
        source=path.name[:400],
        rows=len(frame),
        imported_at=now or datetime.now(UTC),
    )
    session.add(dataset)
    session.flush()
    assert dataset.id is not None
    starts = _py_instants(frame["interval_start"])
    ends = _py_instants(frame["interval_end"])
    pubs = _py_instants(frame["published_at"])
    values = frame["price"].to_numpy(dtype=np.float64)
    rows = [
        {
            "dataset_id": dataset.id,
            "zone": z.key,
            "series": str(series_keys[i]),
            "interval_start": starts[i],
            "interval_end": ends[i],
            "published_at": pubs[i],
            "value": float(values[i]),
        }
        for i in range(len(frame))
    ]
    table = PricePoint.__table__  # type: ignore[attr-defined]
    for lo in range(0, len(rows), _CHUNK):
        session.execute(insert(table), rows[lo : lo + _CHUNK])
    return LoadResult(dataset.id, sha, len(rows), created=True)


def stored_feature_names(session: Session, zone: Zone | str) -> list[str]:
    """Names of the features stored for ``zone`` (loaded from feature files)."""
    z = zone if isinstance(zone, Zone) else get_zone(zone)
    table = PricePoint.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(table.c.series)
        .where(table.c.zone == z.key, table.c.series.like(f"{FEATURE_PREFIX}%"))
        .distinct()
    ).all()
    return sorted(str(r[0])[len(FEATURE_PREFIX) :] for r in rows)


def _py_instants(column: pd.Series) -> list[datetime]:
    return [t.to_pydatetime() for t in pd.DatetimeIndex(column).tz_convert("UTC")]


def load_series(session: Session, zone: Zone | str, series: str) -> KnownSeries:
    """Read a stored series back as a :class:`~market.KnownSeries`.

    Parameters
    ----------
    session
        Open session.
    zone
        Zone key.
    series
        ``DA``, ``IMBALANCE``, ... or a reserve product key (``FCR``, ``REGUP``...).

    Raises
    ------
    engine.core.errors.NotFoundError
        Nothing is stored for that zone and series.
    """
    z = zone if isinstance(zone, Zone) else get_zone(zone)
    table = PricePoint.__table__  # type: ignore[attr-defined]
    ds_table = Dataset.__table__  # type: ignore[attr-defined]
    query = (
        select(
            table.c.interval_start,
            table.c.interval_end,
            table.c.published_at,
            table.c.value,
            table.c.dataset_id,
        )
        .where(table.c.zone == z.key, table.c.series == series)
        .order_by(table.c.interval_start, table.c.published_at, table.c.dataset_id)
    )
    rows = session.execute(query).all()
    if not rows:
        raise NotFoundError(f"no {series} prices stored for zone {z.key}")
    frame = pd.DataFrame(
        rows, columns=["interval_start", "interval_end", "published_at", "value", "dataset_id"]
    )
    for col in ("interval_start", "interval_end", "published_at"):
        frame[col] = pd.DatetimeIndex(pd.to_datetime(frame[col], utc=True)).as_unit("us")
    # a later-loaded dataset replaces an earlier one's value for the same publication
    frame = frame.drop_duplicates(["interval_start", "published_at"], keep="last")
    ids = sorted(set(int(i) for i in frame["dataset_id"]))
    datasets = session.execute(
        select(ds_table.c.id, ds_table.c.unit, ds_table.c.sha256, ds_table.c.source).where(
            ds_table.c.id.in_(ids)
        )
    ).all()
    units = sorted({d.unit for d in datasets})
    source = "; ".join(f"{d.source} (sha256 {d.sha256})" for d in datasets)
    last = frame.iloc[-1]
    resolution = pd.Timestamp(last["interval_end"]) - pd.Timestamp(last["interval_start"])
    return KnownSeries(
        frame[["interval_start", "published_at", "value"]].reset_index(drop=True),
        timedelta(seconds=resolution.total_seconds()),
        units[0] if len(units) == 1 else "/".join(units),
        source,
    )
