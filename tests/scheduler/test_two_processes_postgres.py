"""Two scheduler processes, one PostgreSQL database, the same 50 business keys: each runs once."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from engine.bids.submission import OutboxAdapter
from engine.core.db import make_engine, migrate
from engine.models.jobs import JobRun
from engine.scheduling.schedule import JobContext, JobFunction, JobKind, JobRunner, load_config
from tests.scheduler.conftest import write_config

SITES = [(f"dc-{i}", zone) for i, zone in enumerate(["DE-LU", "ERCOT", "CN-GS", "DK1", "CAISO"])]
NOW = "2025-11-03T18:00:00+00:00"  # spans the ERCOT/CAISO fall-back day in the window


class _SideEffect:
    """Creates one file per run, named by key and process (a double run leaves two files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, ctx: JobContext) -> Mapping[str, Any]:
        name = ctx.key.replace(":", "_")
        (self.folder / f"{name}.{os.getpid()}").write_text(ctx.key, encoding="utf-8")
        time.sleep(0.01)  # hold the claim a little, so the other process meets it
        return {"pid": os.getpid()}


def _scheduler_process(url: str, config_path: str, effects: str, go: Any) -> None:
    engine = make_engine(url)
    cfg = load_config(Path(config_path))
    fn = _SideEffect(Path(effects))
    registry: dict[JobKind, JobFunction] = dict.fromkeys(JobKind, fn)
    home = Path(effects).parent / f"home-{os.getpid()}"
    runner = JobRunner(engine, cfg, registry, OutboxAdapter(engine, home), home)
    go.wait()
    runner.run_due(datetime.fromisoformat(NOW))
    engine.dispose()


@pytest.mark.postgres
def test_two_processes_run_each_key_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    migrate(engine)
    config_path = write_config(tmp_path / "cfg", SITES, "catch_up_days = 9\n[bid]\nenabled = false")
    cfg = load_config(config_path)
    probe = JobRunner(engine, cfg, {}, OutboxAdapter(engine, tmp_path), tmp_path)
    keys = {r.key for r in probe.due(datetime.fromisoformat(NOW).astimezone(UTC))}
    assert len(keys) >= 50  # 5 sites x 9-10 settlement days + monthly reports
    effects = tmp_path / "effects"
    effects.mkdir()

    ctx = mp.get_context("spawn")
    go = ctx.Barrier(2)  # both processes start claiming at the same moment
    procs = [
        ctx.Process(
            target=_scheduler_process, args=(postgres_url, str(config_path), str(effects), go)
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0

    per_key = Counter(f.read_text(encoding="utf-8") for f in effects.iterdir())
    assert per_key == Counter(dict.fromkeys(keys, 1))
    with engine.connect() as conn:
        rows = conn.execute(select(col(JobRun.key), col(JobRun.attempt), col(JobRun.status))).all()
    engine.dispose()
    assert sorted(r.key for r in rows) == sorted(keys)
    assert {(r.attempt, r.status) for r in rows} == {(1, "succeeded")}
    # both processes took part (the race was real), visible in the side-effect file names
    assert len({f.suffix for f in effects.iterdir()}) == 2
