"""Price store: datasets pinned by SHA-256, idempotent loading, read back as KnownSeries."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from engine.core.db import make_engine, migrate, session_scope
from engine.core.errors import ConflictError, InputFileError, NotFoundError
from engine.io.canonical import read_price_csv, read_reserve_price_csv
from engine.marketdata.store import load_price_file, load_series
from engine.models.market import Dataset, PricePoint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prices"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _count(session: object, table: type) -> int:
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[attr-defined]


def _roundtrip(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    da = FIXTURES / "de_lu_2025_03_da.csv"
    with session_scope(engine) as s:
        first = load_price_file(s, da, "DE-LU", "DA", now=NOW)
    assert first.created
    assert first.rows == 743
    with session_scope(engine) as s:
        again = load_price_file(s, da, "DE-LU", "DA", now=NOW)
        assert not again.created
        assert again.dataset_id == first.dataset_id
        assert _count(s, Dataset) == 1
        assert _count(s, PricePoint) == 743
    with session_scope(engine) as s:
        stored = load_series(s, "DE-LU", "DA")
    direct = read_price_csv(da, "DE-LU")
    pd.testing.assert_frame_equal(stored.frame, direct.frame, check_dtype=False)
    assert stored.resolution == timedelta(hours=1)
    assert stored.unit == "EUR/MWh"
    assert first.sha256 in stored.source
    # knowledge time survives the database: the spring DST day (23 h) becomes known at
    # 12:45 CET on 2025-03-29
    cut = datetime(2025, 3, 29, 11, 45, tzinfo=UTC)
    day = stored.between(
        datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 30, 22, tzinfo=UTC)
    )
    assert len(day.final()) == 23
    assert day.as_of(cut).empty
    assert len(day.as_of(cut + timedelta(seconds=1))) == 23
    engine.dispose()


def test_store_round_trip_sqlite(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'p.db'}")


@pytest.mark.postgres
def test_store_round_trip_postgres(postgres_url: str) -> None:
    _roundtrip(postgres_url)


def test_reserves_and_conflicts(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate(engine)
    res = FIXTURES / "caiso_2020_03_reserves.csv"
    with session_scope(engine) as s:
        loaded = load_price_file(s, res, "CAISO", now=NOW)
    assert loaded.rows == 1486
    with session_scope(engine) as s:
        regup = load_series(s, "CAISO", "REGUP")
    assert regup.unit == "USD/MW"
    direct = read_reserve_price_csv(res, "CAISO")["REGUP"]
    pd.testing.assert_frame_equal(regup.frame, direct.frame, check_dtype=False)
    # the same bytes under another series is a conflict; nothing is added
    copy = tmp_path / "da.csv"
    shutil.copy(FIXTURES / "caiso_2020_03_da.csv", copy)
    with session_scope(engine) as s:
        load_price_file(s, copy, "CAISO", "DA", now=NOW)
    with (
        pytest.raises(ConflictError, match="loaded before as price CAISO/DA"),
        session_scope(engine) as s,
    ):
        load_price_file(s, copy, "CAISO", "RT", now=NOW)
    with session_scope(engine) as s, pytest.raises(NotFoundError, match="no RT prices"):
        load_series(s, "CAISO", "RT")
    engine.dispose()


def test_bad_file_stores_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate(engine)
    bad = tmp_path / "bad.csv"
    lines = (FIXTURES / "dk1_2023_10_da.csv").read_text().splitlines()
    del lines[100]
    bad.write_text("\n".join(lines) + "\n")
    with (
        pytest.raises(InputFileError, match="row 101: missing interval"),
        session_scope(engine) as s,
    ):
        load_price_file(s, bad, "DK1", now=NOW)
    with session_scope(engine) as s:
        assert _count(s, Dataset) == 0
    engine.dispose()
