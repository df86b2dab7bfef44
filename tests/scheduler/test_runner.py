"""Catch-up, retries and run-once behaviour of the job runner (driven with explicit instants)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from engine.bids.submission import OutboxAdapter
from engine.scheduling.jobs import default_registry
from engine.scheduling.runs import history
from engine.scheduling.schedule import JobContext, JobFunction, JobKind, JobRunner
from scheduler.app import build_scheduler, catch_up
from tests.scheduler.conftest import config


class Recorder:
    """Job functions that record every call (the side effects we count)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool]] = []
        self.missing_inputs: set[str] = set()

    def __call__(self, ctx: JobContext) -> Mapping[str, Any]:
        self.calls.append((ctx.key, ctx.attempt, ctx.forced))
        if ctx.key in self.missing_inputs:
            raise LookupError(f"meter data for {ctx.day} not in yet")
        return {"day": ctx.day, "month": ctx.month, "due_at": ctx.due_at}

    def keys(self) -> list[str]:
        return [k for k, _, _ in self.calls]


def _runner(
    engine: Engine, tmp_path: Path, rec: Recorder, body: str = "catch_up_days = 3"
) -> JobRunner:
    cfg = config(tmp_path / "cfg", (("example-dc", "DE-LU"),), body)
    registry: dict[JobKind, JobFunction] = dict.fromkeys(JobKind, rec)
    home = tmp_path / "home"
    return JobRunner(engine, cfg, registry, OutboxAdapter(engine, home), home)


NO_BID_REPORT = "catch_up_days = {}\n[bid]\nenabled = false\n[report]\nenabled = false"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_missed_settlement_is_caught_up_once_on_restart(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(engine, tmp_path, rec, NO_BID_REPORT.format(3))
    # up at 07:00Z on 2025-03-31 (before settlement of 03-30 at 10:00 CEST = 08:00Z)
    with freeze_time("2025-03-31T07:00:00Z"):
        catch_up(runner)
    # within the 3-day window: 03-27 (settled 03-28 09:00Z) to 03-29; 03-30 is not due yet
    assert rec.keys() == [
        "settle:example-dc:2025-03-27",
        "settle:example-dc:2025-03-28",
        "settle:example-dc:2025-03-29",
    ]
    # down over 08:00Z, restarted at 12:00Z: the missed run is made up, once
    rec.calls.clear()
    restarted = _runner(engine, tmp_path, rec, NO_BID_REPORT.format(3))
    with freeze_time("2025-03-31T12:00:00Z"):
        outcomes = catch_up(restarted)
    assert [(o.key, o.status) for o in outcomes] == [("settle:example-dc:2025-03-30", "succeeded")]
    assert rec.calls == [("settle:example-dc:2025-03-30", 1, False)]
    # another restart (or a second host) finds nothing left to do
    with freeze_time("2025-03-31T12:05:00Z"):
        assert catch_up(restarted) == []
    assert len(rec.calls) == 1
    recorded = history(engine, "settle:example-dc:2025-03-30")[0]
    assert recorded.result == {
        "day": "2025-03-30",
        "month": None,
        "due_at": "2025-03-31T08:00:00+00:00",
    }


def test_catch_up_window_limits_how_far_back(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(engine, tmp_path, rec, NO_BID_REPORT.format(1))
    # 10-25 settles on 10-26 10:00 CET = 09:00Z, 10-26 (25 h day) on 10-27 09:00Z
    runner.run_due(_at("2025-10-27T08:59:00+00:00"))  # 10-25 fired 23:59 h ago
    assert rec.keys() == ["settle:example-dc:2025-10-25"]
    rec.calls.clear()
    # down until 10-28 09:01Z: 10-26 fired 24:01 h ago (out of the window), 10-27 just now
    with freeze_time("2025-10-28T09:01:00Z"):
        runner.run_due()
    assert rec.keys() == ["settle:example-dc:2025-10-27"]
    assert history(engine, "settle:example-dc:2025-10-26") == []


def test_failed_settlement_is_retried_on_the_next_tick(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    rec.missing_inputs.add("settle:example-dc:2025-10-26")
    runner = _runner(engine, tmp_path, rec, NO_BID_REPORT.format(3))
    first = runner.run_due(_at("2025-10-27T09:00:00+00:00"))
    assert [(o.key, o.status) for o in first][-1] == ("settle:example-dc:2025-10-26", "failed")
    assert first[-1].error == "LookupError: meter data for 2025-10-26 not in yet"
    rec.missing_inputs.clear()
    rec.calls.clear()
    # next day's tick: yesterday's failure is retried (attempt 2) along with today's day
    second = runner.run_due(_at("2025-10-28T09:00:00+00:00"))
    assert [(o.key, o.status, o.attempt) for o in second] == [
        ("settle:example-dc:2025-10-26", "succeeded", 2),
        ("settle:example-dc:2025-10-27", "succeeded", 1),
    ]
    assert [r.status for r in history(engine, "settle:example-dc:2025-10-26")] == [
        "failed",
        "succeeded",
    ]


def test_bid_is_due_only_between_fire_time_and_gate_closure(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(engine, tmp_path, rec, "[settle]\nenabled = false\n[report]\nenabled = false")
    # delivery day 2025-03-30 (23 h): fire 03-29 11:00 CET = 10:00Z, gate closure 11:00Z
    assert runner.run_due(_at("2025-03-29T09:59:00+00:00")) == []
    out = runner.run_due(_at("2025-03-29T10:30:00+00:00"))
    assert [(o.key, o.status) for o in out] == [("bid:DE-LU:example-dc:2025-03-30", "succeeded")]
    # down over the whole window of 2025-03-31 (fire 03-30 09:00Z, gate 10:00Z): no late bid
    assert runner.run_due(_at("2025-03-30T10:00:00+00:00")) == []
    assert rec.keys() == ["bid:DE-LU:example-dc:2025-03-30"]


def test_monthly_report_key_and_catch_up(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(
        engine,
        tmp_path,
        rec,
        "[bid]\nenabled = false\n[settle]\nenabled = false\n[report]\ncatch_up_days = 10",
    )
    assert runner.run_due(_at("2025-04-01T03:59:00+00:00")) == []
    runner.run_due(_at("2025-04-09T00:00:00+00:00"))  # down on the 1st: caught up a week later
    assert rec.calls == [("report:example-dc:2025-03", 1, False)]
    assert history(engine, "report:example-dc:2025-03")[0].result == {
        "day": None,
        "month": "2025-03-01",
        "due_at": "2025-04-01T04:00:00+00:00",
    }


def test_double_fire_of_an_ambiguous_wall_time_runs_once(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(
        engine,
        tmp_path,
        rec,
        NO_BID_REPORT.format(0) + '\n[settle]\ntime = "02:30"',
    )
    # APScheduler fires 02:30 twice on 2025-10-26 in Berlin (00:30Z and 01:30Z)
    first = runner.run_due(_at("2025-10-26T00:30:00+00:00"))
    second = runner.run_due(_at("2025-10-26T01:30:00+00:00"))
    assert [(o.key, o.status) for o in first] == [("settle:example-dc:2025-10-25", "succeeded")]
    assert second == []  # succeeded already: not even due
    spec = next(s for s in runner.specs if s.kind is JobKind.SETTLE)
    assert runner.tick(spec.id) == []  # a tick at the real now sees nothing due either
    assert rec.keys() == ["settle:example-dc:2025-10-25"]


def test_forced_rerun_is_a_new_attempt(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(engine, tmp_path, rec)
    due = runner.resolve("settle:example-dc:2025-03-30")
    assert (due.day, due.due_at) == (date(2025, 3, 30), _at("2025-03-31T08:00:00+00:00"))
    assert runner.run(due).status == "succeeded"
    assert runner.run(due).status == "skipped"
    forced = runner.run(due, force=True)
    assert (forced.status, forced.attempt) == ("succeeded", 2)
    assert rec.calls == [
        ("settle:example-dc:2025-03-30", 1, False),
        ("settle:example-dc:2025-03-30", 2, True),
    ]
    with pytest.raises(Exception, match="no configured job"):
        runner.resolve("settle:other-dc:2025-03-30")


def test_default_registry_runs_the_real_daily_cycle(engine: Engine, tmp_path: Path) -> None:
    from sqlmodel import Session

    from engine.marketdata.store import load_price_file
    from engine.settlement.service import import_meter

    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    with Session(engine) as session:
        load_price_file(session, fixtures / "prices" / "de_lu_2025_03_da.csv", "DE-LU")
        session.commit()
    cfg = config(tmp_path / "cfg", body="[report]\nenabled = false")
    home = tmp_path / "home"
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    bid = runner.run(runner.resolve("bid:DE-LU:example-dc:2025-03-30"))
    assert bid.status == "succeeded", bid.error
    outbox = list((home / "outbox" / "DE-LU" / "2025-03-30").iterdir())
    assert [p.name for p in outbox] == ["bid-example-dc-2025-03-30.json"]
    # Settlement waits for the meter: a clean failure, retried on a later tick.
    settle_key = "settle:example-dc:2025-03-30"
    first = runner.run(runner.resolve(settle_key))
    assert first.status == "failed"
    assert first.error is not None
    assert "meter data of example-dc does not cover" in first.error
    import_meter(
        engine, fixtures / "carbon" / "example-dc_2025_03_meter.csv", "example-dc", "DE-LU"
    )
    second = runner.run(runner.resolve(settle_key))
    assert (second.status, second.attempt) == ("succeeded", 2)
    assert second.result is not None
    assert second.result["run"] == 1
    assert runner.run(runner.resolve(settle_key)).status == "skipped"


def test_apscheduler_jobs_carry_trigger_grace_and_coalesce(engine: Engine, tmp_path: Path) -> None:
    rec = Recorder()
    runner = _runner(engine, tmp_path, rec, "[bid]\nlead_minutes = 90\nmisfire_grace_minutes = 120")
    scheduler = build_scheduler(runner, background=True)
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {"bid:example-dc", "settle:example-dc", "report:example-dc"}
        bid = jobs["bid:example-dc"]
        assert bid.misfire_grace_time == 90 * 60  # capped at the lead: no bid after gate closure
        assert bid.coalesce is True
        assert bid.max_instances == 1
        assert str(bid.trigger.timezone) == "Europe/Berlin"
        assert (bid.next_run_time.hour, bid.next_run_time.minute) == (10, 30)
        assert jobs["settle:example-dc"].misfire_grace_time == 2 * 3600
    finally:
        scheduler.shutdown(wait=False)
    assert rec.calls == []
    assert timedelta(0) < runner.config.lease
