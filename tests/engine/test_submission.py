"""The outbox: atomic, recorded with SHA-256, idempotent by key, conflicts refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from engine.bids.submission import OutboxAdapter
from engine.core.db import make_engine, migrate
from engine.core.errors import ConflictError, PowerdeskError
from engine.models.jobs import Submission

KEY = "bid:DE-LU:example-dc:2025-10-26"
DAY = date(2025, 10, 26)
CURVE = b"interval_start,price_per_mwh,energy_mwh\n2025-10-25T22:00:00+00:00,-500,84.0\n"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'out.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


def _rows(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (r.key, r.path, r.sha256)
            for r in conn.execute(
                select(col(Submission.key), col(Submission.path), col(Submission.sha256))
            )
        ]


def test_files_are_written_and_recorded_once(engine: Engine, tmp_path: Path) -> None:
    home = tmp_path / "home"
    outbox = OutboxAdapter(engine, home)
    files = {"curve.csv": CURVE, "bid.json": b'{"zone": "DE-LU"}'}
    first = outbox.submit(KEY, "DE-LU", DAY, files)
    assert [(s.path, s.new) for s in first] == [
        ("outbox/DE-LU/2025-10-26/bid.json", True),
        ("outbox/DE-LU/2025-10-26/curve.csv", True),
    ]
    assert (home / "outbox/DE-LU/2025-10-26/curve.csv").read_bytes() == CURVE
    assert first[1].sha256 == hashlib.sha256(CURVE).hexdigest()
    again = outbox.submit(KEY, "DE-LU", DAY, files)
    assert [s.new for s in again] == [False, False]
    assert len(_rows(engine)) == 2
    assert not list((home / "outbox/DE-LU/2025-10-26").glob(".*tmp"))


def test_other_bytes_conflict_unless_replaced(engine: Engine, tmp_path: Path) -> None:
    home = tmp_path / "home"
    outbox = OutboxAdapter(engine, home)
    outbox.submit(KEY, "DE-LU", DAY, {"curve.csv": CURVE})
    changed = CURVE.replace(b"84.0", b"80.0")
    with pytest.raises(ConflictError, match="already submitted with other content"):
        outbox.submit(KEY, "DE-LU", DAY, {"bid.json": b"{}", "curve.csv": changed})
    # nothing of the refused submission was written
    assert not (home / "outbox/DE-LU/2025-10-26/bid.json").exists()
    assert (home / "outbox/DE-LU/2025-10-26/curve.csv").read_bytes() == CURVE
    replaced = outbox.submit(KEY, "DE-LU", DAY, {"curve.csv": changed}, replace=True)
    assert replaced[0].new
    assert (home / "outbox/DE-LU/2025-10-26/curve.csv").read_bytes() == changed
    assert [sha for _, _, sha in _rows(engine)] == [
        hashlib.sha256(CURVE).hexdigest(),
        hashlib.sha256(changed).hexdigest(),
    ]


@pytest.mark.parametrize("name", ["../escape.csv", ".hidden", "a/b.csv", ""])
def test_unsafe_file_names_are_refused(engine: Engine, tmp_path: Path, name: str) -> None:
    with pytest.raises(PowerdeskError, match="bad exchange file name"):
        OutboxAdapter(engine, tmp_path).submit(KEY, "DE-LU", DAY, {name: b"x"})
