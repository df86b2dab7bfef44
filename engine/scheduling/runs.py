"""Run-once jobs: claims in the ``job_run`` table keyed by a business key.

A job is a function of a business key such as ``bid:DE-LU:example-dc:2025-03-30``,
``settle:example-dc:2025-03-30`` or ``report:example-dc:2025-03``. Whoever wants to run it first
*claims* it; the claim is an ``INSERT`` of the key's next attempt number, and the unique
``(key, attempt)`` constraint lets exactly one of several concurrent claimants win, whether they
are threads, processes or hosts, on PostgreSQL and SQLite alike.

Rules of a key's life (every attempt is a row of its own; history is appended, never rewritten):

- no attempt yet, or the newest attempt ``failed`` or was ``abandoned``: the key may be claimed
  (the next attempt);
- some attempt ``succeeded``: the key is done; it is claimed again only with ``force=True``, which
  appends a new attempt marked ``forced`` (the earlier success stays on record);
- the newest attempt is in flight (``claimed`` or ``running``): nobody else may claim it, even
  with ``force``, until its *lease* expires.

The lease
---------
A claimant proves it is alive by its heartbeat (``heartbeat_at``): :func:`run_once` renews it from
a background thread every ``lease / 3`` while the job function runs. A claim whose heartbeat is
older than the lease (default :data:`DEFAULT_LEASE`, 10 minutes) belongs to a claimant presumed
dead (killed process, lost host): the next claimant marks that attempt ``abandoned`` and takes the
key over with a new attempt. A claimant that comes back after losing its lease cannot record its
result (:class:`LostClaimError`). The lease must be longer than the longest pause a live process
can suffer (GC, a stalled database); the job function itself may run longer than the lease,
because the heartbeat keeps renewing it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from engine.core.errors import ConflictError, PowerdeskError
from engine.models.jobs import JobRun

DEFAULT_LEASE = timedelta(minutes=10)
"""How long a claim survives without a heartbeat before another claimant may take it over."""

MAX_KEY_LENGTH = 200
_ERROR_TEXT_LIMIT = 16_000


class RunStatus(StrEnum):
    """Status of one attempt (one ``job_run`` row)."""

    CLAIMED = "claimed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # its claimant's lease expired; the outcome is unknown


IN_FLIGHT = (RunStatus.CLAIMED.value, RunStatus.RUNNING.value)


class LostClaimError(ConflictError):
    """The claim is no longer ours (the lease expired and another claimant took the key over)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A won claim: the right to run attempt ``attempt`` of ``key``."""

    id: int
    key: str
    job: str
    attempt: int
    owner: str
    forced: bool
    claimed_at: datetime


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What :func:`run_once` did with a key.

    ``status`` is ``succeeded`` or ``failed`` when this call ran the job, ``skipped`` when it did
    not (``reason`` says why: done already, or in flight elsewhere) and ``lost`` when the job ran
    but its lease had been taken over before the result could be recorded.
    """

    key: str
    status: str
    attempt: int | None = None
    result: Mapping[str, Any] | None = None
    error: str | None = None
    reason: str | None = None

    @property
    def ran(self) -> bool:
        """True when this call ran the job function."""
        return self.status in ("succeeded", "failed", "lost")


@dataclass(frozen=True, slots=True)
class JobRunRecord:
    """One ``job_run`` row as plain data (for listings)."""

    id: int
    job: str
    key: str
    attempt: int
    status: str
    claimed_by: str
    claimed_at: datetime
    heartbeat_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    forced: bool
    result: Mapping[str, Any] | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form; instants in ISO 8601 UTC."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.astimezone(UTC).isoformat()

        return {
            "id": self.id,
            "job": self.job,
            "key": self.key,
            "attempt": self.attempt,
            "status": self.status,
            "claimed_by": self.claimed_by,
            "claimed_at": iso(self.claimed_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "forced": self.forced,
            "result": self.result,
            "error": self.error,
        }


def make_owner() -> str:
    """A claimant id unique across hosts and restarts: ``host:pid:uuid``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def job_of(key: str) -> str:
    """The job kind of a business key: the part before the first ``:``."""
    return key.split(":", 1)[0]


def _check_key(key: str) -> None:
    kind, sep, rest = key.partition(":")
    if not kind or not sep or not rest or len(key) > MAX_KEY_LENGTH or key != key.strip():
        raise PowerdeskError(
            f"bad job key {key!r}: expected '<job>:<part>[:<part>...]', at most "
            f"{MAX_KEY_LENGTH} characters"
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise PowerdeskError(f"{what} {t.isoformat()} has no UTC offset")
    return t.astimezone(UTC)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return _aware(value, "result instant").isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot record {type(value).__name__} in a job result")


def result_json(result: Mapping[str, Any]) -> str:
    """A job result as the JSON text stored in ``job_run.result`` (Decimals as exact text)."""
    return json.dumps(dict(result), default=_json_default, sort_keys=True, ensure_ascii=False)


def claim(
    engine: Engine,
    key: str,
    owner: str,
    *,
    force: bool = False,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> Claim | None:
    """Claim ``key`` for ``owner``; ``None`` when it is done or in flight elsewhere.

    Parameters
    ----------
    engine
        Database holding ``job_run``.
    key
        Business key ``<job>:<part>...``.
    owner
        Claimant id (:func:`make_owner`).
    force
        Claim even if an attempt succeeded (a new, ``forced`` attempt); never overrides a live
        in-flight claim.
    lease
        Age of the newest heartbeat [time] after which an in-flight attempt is abandoned.
    now
        Current instant (tz-aware); defaults to the clock.

    Returns
    -------
    Claim or None
        The won claim, or ``None`` when the key is not ours to run now.
    """
    _check_key(key)
    now = _aware(now, "now") if now is not None else _utcnow()
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                select(
                    col(JobRun.id),
                    col(JobRun.attempt),
                    col(JobRun.status),
                    col(JobRun.heartbeat_at),
                )
                .where(col(JobRun.key) == key)
                .order_by(col(JobRun.attempt))
            ).all()
            if not force and any(r.status == RunStatus.SUCCEEDED for r in rows):
                return None
            latest = rows[-1] if rows else None
            if latest is not None and latest.status in IN_FLIGHT:
                if latest.heartbeat_at > now - lease:
                    return None
                # Conditional on the state we read, so of two claimants taking over the same
                # dead claim only one updates it (the other sees rowcount 0, or blocks on the
                # row lock and then finds the row changed).
                taken = conn.execute(
                    update(JobRun)
                    .where(
                        col(JobRun.id) == latest.id,
                        col(JobRun.status).in_(IN_FLIGHT),
                        col(JobRun.heartbeat_at) == latest.heartbeat_at,
                    )
                    .values(
                        status=RunStatus.ABANDONED.value,
                        finished_at=now,
                        error=f"lease of {lease} expired (last heartbeat "
                        f"{latest.heartbeat_at.isoformat()}); taken over by {owner}",
                    )
                )
                if taken.rowcount != 1:
                    return None
            attempt = 1 if latest is None else latest.attempt + 1
            new_id = conn.execute(
                insert(JobRun)
                .values(
                    job=job_of(key),
                    key=key,
                    attempt=attempt,
                    status=RunStatus.CLAIMED.value,
                    claimed_by=owner,
                    claimed_at=now,
                    heartbeat_at=now,
                    forced=force,
                )
                .returning(col(JobRun.id))
            ).scalar_one()
    except IntegrityError:
        # Another claimant inserted this attempt first: the key is theirs.
        return None
    return Claim(
        id=int(new_id or 0),
        key=key,
        job=job_of(key),
        attempt=attempt,
        owner=owner,
        forced=force,
        claimed_at=now,
    )


def _owned_update(engine: Engine, c: Claim, values: Mapping[str, Any]) -> bool:
    with engine.begin() as conn:
        res = conn.execute(
            update(JobRun)
            .where(
                col(JobRun.id) == c.id,
                col(JobRun.claimed_by) == c.owner,
                col(JobRun.status).in_(IN_FLIGHT),
            )
            .values(**values)
        )
        return bool(res.rowcount == 1)


def start(engine: Engine, c: Claim, *, now: datetime | None = None) -> None:
    """Mark the claimed attempt ``running``; :class:`LostClaimError` if it is no longer ours."""
    now = _aware(now, "now") if now is not None else _utcnow()
    if not _owned_update(engine, c, {"status": RunStatus.RUNNING.value, "started_at": now}):
        raise LostClaimError(f"job {c.key} attempt {c.attempt} is no longer claimed by {c.owner}")


def heartbeat(engine: Engine, c: Claim, *, now: datetime | None = None) -> bool:
    """Renew the lease of an in-flight claim; False when it is no longer ours."""
    now = _aware(now, "now") if now is not None else _utcnow()
    return _owned_update(engine, c, {"heartbeat_at": now})


def finish(
    engine: Engine,
    c: Claim,
    *,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record the outcome of a claimed attempt: ``succeeded`` with ``result`` or ``failed``.

    Raises
    ------
    LostClaimError
        When the attempt is no longer ours (its lease was taken over).
    """
    now = _aware(now, "now") if now is not None else _utcnow()
    values: dict[str, Any] = {"finished_at": now, "heartbeat_at": now}
    if error is None:
        values["status"] = RunStatus.SUCCEEDED.value
        values["result"] = result_json(result or {})
    else:
        values["status"] = RunStatus.FAILED.value
        values["error"] = error[-_ERROR_TEXT_LIMIT:]
        if result is not None:
            values["result"] = result_json(result)
    if not _owned_update(engine, c, values):
        raise LostClaimError(
            f"job {c.key} attempt {c.attempt} lost its claim before its outcome was recorded"
        )


class _Heartbeat:
    """Renews a claim's lease from a daemon thread while the job function runs."""

    def __init__(self, engine: Engine, c: Claim, every: timedelta) -> None:
        self._engine = engine
        self._claim = c
        self._every_s = max(every.total_seconds(), 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat:{c.key}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                if not heartbeat(self._engine, self._claim):
                    return
            except Exception:
                # A database hiccup must not kill the job; the next beat retries and the lease
                # absorbs a few missed beats.
                continue

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_once(
    engine: Engine,
    key: str,
    fn: Callable[[Claim], Mapping[str, Any]],
    *,
    owner: str | None = None,
    force: bool = False,
    lease: timedelta = DEFAULT_LEASE,
) -> RunOutcome:
    """Claim ``key``, run ``fn(claim)``, record its result; a no-op when not ours to run.

    ``fn`` returns a JSON-able mapping (Decimals, dates and paths become text) recorded as the
    attempt's result. Any exception it raises is recorded as a failed attempt (the error text
    keeps the traceback) and returned as ``status="failed"`` rather than raised, so a scheduler
    loop carries on; the key may then be retried. ``KeyboardInterrupt``/``SystemExit`` are
    recorded as a failure and re-raised.

    Returns
    -------
    RunOutcome
        ``succeeded``/``failed``/``lost`` when ``fn`` ran, ``skipped`` (with a reason) otherwise.
    """
    owner = owner or make_owner()
    c = claim(engine, key, owner, force=force, lease=lease)
    if c is None:
        return RunOutcome(key=key, status="skipped", reason=_skip_reason(engine, key))
    try:
        start(engine, c)
    except LostClaimError as exc:
        return RunOutcome(key=key, status="lost", attempt=c.attempt, error=str(exc))
    try:
        with _Heartbeat(engine, c, lease / 3):
            result = dict(fn(c))
        result_json(result)  # refuse an unrecordable result as a failure of the job
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        try:
            finish(engine, c, error="".join(traceback.format_exception(exc)))
        except LostClaimError as lost:
            return RunOutcome(key=key, status="lost", attempt=c.attempt, error=str(lost))
        return RunOutcome(key=key, status="failed", attempt=c.attempt, error=message)
    except BaseException as exc:
        finish(engine, c, error=f"interrupted: {type(exc).__name__}")
        raise
    try:
        finish(engine, c, result=result)
    except LostClaimError as lost:
        return RunOutcome(key=key, status="lost", attempt=c.attempt, error=str(lost))
    return RunOutcome(key=key, status="succeeded", attempt=c.attempt, result=result)


def _skip_reason(engine: Engine, key: str) -> str:
    runs = history(engine, key)
    done = [r for r in runs if r.status == RunStatus.SUCCEEDED]
    if done:
        return f"succeeded already (attempt {done[-1].attempt})"
    if runs and runs[-1].status in IN_FLIGHT:
        return f"in flight (attempt {runs[-1].attempt}, {runs[-1].claimed_by})"
    return "claimed by another process"


def _record(row: JobRun) -> JobRunRecord:
    assert row.id is not None
    return JobRunRecord(
        id=row.id,
        job=row.job,
        key=row.key,
        attempt=row.attempt,
        status=row.status,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        heartbeat_at=row.heartbeat_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        forced=row.forced,
        result=None if row.result is None else json.loads(row.result),
        error=row.error,
    )


def history(engine: Engine, key: str) -> list[JobRunRecord]:
    """Every attempt of ``key``, oldest first."""
    with Session(engine) as session:
        rows = session.exec(
            sm_select(JobRun).where(JobRun.key == key).order_by(col(JobRun.attempt))
        ).all()
        return [_record(r) for r in rows]


def recent_runs(engine: Engine, *, limit: int = 50, job: str | None = None) -> list[JobRunRecord]:
    """The newest ``limit`` attempts (optionally of one job kind), newest first."""
    return runs_page(engine, job=job, limit=limit)[0]


def runs_page(
    engine: Engine,
    *,
    job: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[JobRunRecord], int]:
    """A page of attempts (newest first), optionally of one job kind and status, and how many
    match in all."""
    cond = []
    if job is not None:
        cond.append(col(JobRun.job) == job)
    if status is not None:
        cond.append(col(JobRun.status) == status)
    stmt = (
        sm_select(JobRun)
        .where(*cond)
        .order_by(col(JobRun.claimed_at).desc(), col(JobRun.id).desc())
        .limit(limit)
        .offset(offset)
    )
    count = sm_select(func.count()).select_from(JobRun).where(*cond)
    with Session(engine) as session:
        rows = [_record(r) for r in session.exec(stmt).all()]
        total = int(session.exec(count).one())
    return rows, total


def succeeded_keys(engine: Engine, keys: Iterable[str]) -> set[str]:
    """The subset of ``keys`` with a succeeded attempt."""
    wanted = sorted(set(keys))
    done: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):  # stay below bound-parameter limits
            chunk = wanted[i : i + 500]
            done.update(
                conn.execute(
                    select(col(JobRun.key))
                    .where(
                        col(JobRun.key).in_(chunk),
                        col(JobRun.status) == RunStatus.SUCCEEDED.value,
                    )
                    .distinct()
                ).scalars()
            )
    return done
