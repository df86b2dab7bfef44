"""The scheduler process: APScheduler 3 cron jobs over
:class:`engine.scheduling.schedule.JobRunner`.

One APScheduler job per (kind, site) with a :class:`~apscheduler.triggers.cron.CronTrigger` in the
zone's local time, a per-job misfire grace, ``coalesce=True`` (several missed fires run once) and
``max_instances=1``. A fire runs every *due* key of its spec that has not succeeded; the run-once
claims make a second process, a restart or a double fire (an ambiguous autumn wall time fires
twice in APScheduler 3) a no-op. On start the same catch-up runs once for every spec before the
cron loop begins, so runs missed while the process was down are made up.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler, SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from engine.bids.submission import OutboxAdapter, SubmissionAdapter
from engine.scheduling.jobs import default_registry
from engine.scheduling.runs import RunOutcome
from engine.scheduling.schedule import JobRunner, JobSpec, Registry, SchedulerConfig, load_config

log = logging.getLogger("powerdesk.scheduler")


def make_runner(
    engine: Engine,
    config: SchedulerConfig,
    home: Path,
    *,
    registry: Registry | None = None,
    submitter: SubmissionAdapter | None = None,
    clock: Callable[[], datetime] | None = None,
) -> JobRunner:
    """A runner with the default registry and the outbox unless others are given."""
    return JobRunner(
        engine,
        config,
        registry if registry is not None else default_registry(),
        submitter if submitter is not None else OutboxAdapter(engine, home),
        home,
        clock=clock,
    )


def _log_outcomes(outcomes: list[RunOutcome]) -> None:
    for o in outcomes:
        if o.status == "succeeded":
            log.info("%s attempt %s succeeded", o.key, o.attempt)
        elif o.status == "skipped":
            log.info("%s skipped: %s", o.key, o.reason)
        else:
            log.error("%s attempt %s %s: %s", o.key, o.attempt, o.status, o.error)


def _tick(runner: JobRunner, spec_id: str) -> None:
    _log_outcomes(runner.tick(spec_id))


def add_jobs(scheduler: BaseScheduler, runner: JobRunner) -> list[JobSpec]:
    """Add one cron job per spec of ``runner`` to ``scheduler``; returns the specs."""
    for spec in runner.specs:
        scheduler.add_job(
            _tick,
            trigger=spec.trigger(),
            args=[runner, spec.id],
            id=spec.id,
            name=f"{spec.id} ({spec.describe()})",
            misfire_grace_time=max(1, int(spec.misfire_grace.total_seconds())),
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
    return list(runner.specs)


def build_scheduler(runner: JobRunner, *, background: bool = False) -> BaseScheduler:
    """A Blocking (or Background) scheduler in UTC holding the runner's cron jobs."""
    scheduler: BaseScheduler = (
        BackgroundScheduler(timezone=UTC) if background else BlockingScheduler(timezone=UTC)
    )
    add_jobs(scheduler, runner)
    return scheduler


def catch_up(runner: JobRunner, now: datetime | None = None) -> list[RunOutcome]:
    """Run everything due (now or ``now``) that has not succeeded: the start-up catch-up."""
    outcomes = runner.run_due(now)
    _log_outcomes(outcomes)
    return outcomes


def run(runner: JobRunner, *, once: bool = False) -> list[RunOutcome]:
    """Catch up, then (unless ``once``) run the cron loop until SIGTERM or SIGINT.

    The first signal shuts the scheduler down after the running jobs finish (their claims are
    then complete); a second signal exits at once, leaving in-flight claims to expire with
    their lease.
    """
    outcomes = catch_up(runner)
    if once:
        return outcomes
    scheduler = build_scheduler(runner)
    stopping = threading.Event()
    stoppers: list[threading.Thread] = []

    launching = threading.Event()

    def _shutdown() -> None:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                scheduler.shutdown(wait=True)
                return
            except SchedulerNotRunningError:
                # Not running yet: if the main thread is about to start it, wait for that;
                # if it has not got there, it sees ``stopping`` and never starts.
                if not launching.is_set() or time.monotonic() > deadline:
                    return
                time.sleep(0.02)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            raise SystemExit(128 + signum)
        stopping.set()
        log.info("signal %s: finishing running jobs, then stopping", signum)
        # Not in the handler itself: the signal may interrupt the main thread while it holds the
        # scheduler's wake-up event's lock (a plain lock), which shutdown() takes again.
        stopper = threading.Thread(target=_shutdown, name="scheduler-stop")
        stoppers.append(stopper)
        stopper.start()

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, _stop)
    try:
        for job in scheduler.get_jobs():
            log.info("scheduled %s", job.name)
        launching.set()
        if not stopping.is_set():
            scheduler.start()  # blocks until shutdown
    finally:
        for stopper in stoppers:
            stopper.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return outcomes


def run_from_config(
    engine: Engine, home: Path, config_path: Path, *, once: bool = False
) -> list[RunOutcome]:
    """Load ``config_path`` and :func:`run` the default runner."""
    return run(make_runner(engine, load_config(config_path), home), once=once)
