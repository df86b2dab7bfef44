"""Run-once claims: exclusive, never re-run a success unless forced, retry failures, take over
dead claims after the lease; history is appended, never rewritten."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from engine.core.db import make_engine, migrate
from engine.core.errors import PowerdeskError
from engine.scheduling.runs import (
    Claim,
    LostClaimError,
    claim,
    finish,
    heartbeat,
    history,
    make_owner,
    recent_runs,
    run_once,
    start,
    succeeded_keys,
)

KEY = "settle:example-dc:2025-03-30"
T0 = datetime(2025, 3, 31, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


def test_first_claim_wins_and_a_second_is_refused(engine: Engine) -> None:
    a = claim(engine, KEY, "host-a:1:x", now=T0)
    assert a is not None
    assert (a.attempt, a.job, a.forced) == (1, "settle", False)
    assert claim(engine, KEY, "host-b:2:y", now=T0 + timedelta(minutes=1)) is None
    # force does not override a live claim
    assert claim(engine, KEY, "host-b:2:y", force=True, now=T0) is None


def test_success_is_never_rerun_unless_forced(engine: Engine) -> None:
    calls: list[int] = []

    def job(c: Claim) -> Mapping[str, Any]:
        calls.append(c.attempt)
        return {"attempt": c.attempt, "forced": c.forced}

    first = run_once(engine, KEY, job)
    again = run_once(engine, KEY, job)
    assert (first.status, first.attempt, first.result) == (
        "succeeded",
        1,
        {"attempt": 1, "forced": False},
    )
    assert again.status == "skipped"
    assert again.reason is not None
    assert "succeeded already" in again.reason
    forced = run_once(engine, KEY, job, force=True)
    assert (forced.status, forced.attempt) == ("succeeded", 2)
    assert calls == [1, 2]
    runs = history(engine, KEY)
    # the forced re-run is a new attempt; the first success stays on record unchanged
    assert [(r.attempt, r.status, r.forced) for r in runs] == [
        (1, "succeeded", False),
        (2, "succeeded", True),
    ]
    assert runs[0].result == {"attempt": 1, "forced": False}
    assert run_once(engine, KEY, job).status == "skipped"


def test_failure_is_recorded_and_retried_as_next_attempt(engine: Engine) -> None:
    inputs: dict[str, int] = {}

    def job(c: Claim) -> Mapping[str, Any]:
        if "meter" not in inputs:
            raise FileNotFoundError("meter data for 2025-03-30 not in yet")
        return {"meter_rows": inputs["meter"]}

    failed = run_once(engine, KEY, job)
    assert failed.status == "failed"
    assert failed.error == "FileNotFoundError: meter data for 2025-03-30 not in yet"
    inputs["meter"] = 92
    ok = run_once(engine, KEY, job)
    assert (ok.status, ok.attempt, ok.result) == ("succeeded", 2, {"meter_rows": 92})
    runs = history(engine, KEY)
    assert [r.status for r in runs] == ["failed", "succeeded"]
    assert runs[0].error is not None
    assert "Traceback" in runs[0].error
    assert runs[0].finished_at is not None


def test_a_forced_rerun_that_fails_does_not_reopen_the_key(engine: Engine) -> None:
    assert run_once(engine, KEY, lambda c: {}).status == "succeeded"

    def boom(c: Claim) -> Mapping[str, Any]:
        raise RuntimeError("solver failed")

    assert run_once(engine, KEY, boom, force=True).status == "failed"
    # a plain claim still sees the earlier success
    assert claim(engine, KEY, make_owner()) is None
    assert KEY in succeeded_keys(engine, [KEY, "settle:example-dc:2025-03-31"])


def test_stale_claim_is_taken_over_after_the_lease(engine: Engine) -> None:
    lease = timedelta(minutes=10)
    dead = claim(engine, KEY, "host-a:1:dead", now=T0, lease=lease)
    assert dead is not None
    start(engine, dead, now=T0)
    assert heartbeat(engine, dead, now=T0 + timedelta(minutes=5))
    # within the lease counted from the last heartbeat: still theirs
    assert claim(engine, KEY, "host-b:2:new", now=T0 + timedelta(minutes=14), lease=lease) is None
    taken = claim(engine, KEY, "host-b:2:new", now=T0 + timedelta(minutes=16), lease=lease)
    assert taken is not None
    assert taken.attempt == 2
    runs = history(engine, KEY)
    assert [(r.attempt, r.status) for r in runs] == [(1, "abandoned"), (2, "claimed")]
    assert runs[0].error is not None
    assert "taken over by host-b:2:new" in runs[0].error
    # the presumed-dead claimant comes back: it cannot record anything any more
    assert not heartbeat(engine, dead)
    with pytest.raises(LostClaimError):
        finish(engine, dead, result={"late": True})
    finish(engine, taken, result={"ok": True})
    assert history(engine, KEY)[1].status == "succeeded"


def test_bad_keys_and_naive_instants_are_refused(engine: Engine) -> None:
    for bad in ("settle", ":x", "settle:", " settle:x", "x:" + "y" * 300):
        with pytest.raises(PowerdeskError):
            claim(engine, bad, "o")
    with pytest.raises(PowerdeskError, match="no UTC offset"):
        claim(engine, KEY, "o", now=datetime(2025, 3, 31, 8, 0))  # noqa: DTZ001


def test_unrecordable_result_is_a_failure(engine: Engine) -> None:
    out = run_once(engine, KEY, lambda c: {"x": object()})
    assert out.status == "failed"
    assert out.error is not None
    assert "cannot record object" in out.error


def test_claims_are_exclusive_under_a_thread_race(engine: Engine) -> None:
    keys = [f"bid:DE-LU:site-{i}:2025-10-26" for i in range(30)]
    ran: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def job(c: Claim) -> Mapping[str, Any]:
        with lock:
            ran[c.key] += 1
        return {}

    def worker() -> None:
        owner = make_owner()
        barrier.wait()
        for k in keys:
            run_once(engine, k, job, owner=owner)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ran == Counter(dict.fromkeys(keys, 1))
    assert succeeded_keys(engine, keys) == set(keys)
    assert len(recent_runs(engine, limit=1000)) == len(keys)
