"""Scheduled job runs: what the daily cycle did, attempt by attempt (read-only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import CachedAuditorKey, EngineDep
from api.schemas import JobRunOut, Page, next_offset
from engine.core.errors import NotFoundError
from engine.scheduling.runs import JobRunRecord, history, runs_page

router = APIRouter(prefix="/jobs", tags=["jobs"])

RunState = Literal["claimed", "running", "succeeded", "failed", "abandoned"]


def run_out(r: JobRunRecord) -> JobRunOut:
    """A job run as its response body."""
    return JobRunOut(
        id=r.id,
        job=r.job,
        key=r.key,
        attempt=r.attempt,
        status=r.status,
        claimed_by=r.claimed_by,
        claimed_at=r.claimed_at,
        heartbeat_at=r.heartbeat_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        forced=r.forced,
        result=None if r.result is None else dict(r.result),
        error=r.error,
    )


@router.get("/runs", response_model=Page[JobRunOut])
async def runs(
    engine: EngineDep,
    _: CachedAuditorKey,
    job: Annotated[str | None, Query(max_length=32, description="bid, settle, report")] = None,
    status: Annotated[RunState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[JobRunOut]:
    """Attempts of scheduled jobs, newest first (each business key runs once; a forced re-run
    or a retry after a failure is a further attempt)."""
    rows, total = runs_page(engine, job=job, status=status, limit=limit, offset=offset)
    return Page[JobRunOut](
        items=[run_out(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.get("/runs/{key}", response_model=list[JobRunOut])
async def runs_of_key(
    key: Annotated[str, Path(min_length=1, max_length=200)],
    engine: EngineDep,
    _: CachedAuditorKey,
) -> list[JobRunOut]:
    """Every attempt of one business key (e.g. ``settle:example-dc:2025-03-30``), oldest first."""
    attempts = history(engine, key)
    if not attempts:
        raise NotFoundError(f"no job run of {key!r}")
    return [run_out(r) for r in attempts]
