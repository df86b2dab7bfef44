"""Backtests: start one in the background, poll its status, read its summary and days."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import ApiSettingsDep, CachedAuditorKey, EngineDep, TraderKey
from api.errors import ApiError
from api.routes.sites import IdempotencyKey
from api.schemas import (
    BacktestDayOut,
    BacktestIn,
    BacktestOut,
    BacktestSummaryOut,
    Page,
    next_offset,
)
from engine.backtest.stored import (
    BacktestRecord,
    BacktestRequest,
    create_backtest,
    get_backtest,
    run_backtest_job,
)

router = APIRouter(prefix="/backtests", tags=["backtests"])
log = logging.getLogger("powerdesk.api")
BacktestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def backtest_out(r: BacktestRecord) -> BacktestOut:
    """A backtest run as its response body."""
    return BacktestOut(
        id=r.id,
        status=r.status,
        request=r.request,
        error=r.error,
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


@router.post("", response_model=BacktestOut, status_code=202)
def start_backtest(
    body: BacktestIn,
    request: Request,
    engine: EngineDep,
    api_settings: ApiSettingsDep,
    principal: TraderKey,
    idempotency_key: IdempotencyKey = None,
) -> BacktestOut:
    """Start a backtest of a registered site over delivery days ``[start, end)`` on the stored
    prices (same strategies and settlement as ``powerdesk backtest``); poll ``GET
    /backtests/{id}`` until it has succeeded or failed."""
    record = create_backtest(
        engine,
        BacktestRequest(
            site=body.site,
            start=body.start,
            end=body.end,
            strategy=body.strategy,
            n_scenarios=body.n_scenarios,
            seed=body.seed,
            regret=body.regret,
            rt_stage=body.rt_stage,
            model=None if body.model is None else body.model.value,
            rt_every_minutes=body.rt_every_minutes,
        ),
        created_by=principal.key_id,
    )
    pool: Executor = request.app.state.backtest_pool
    pool.submit(run_backtest_job, engine, record.id, executor=api_settings.backtest_executor)
    return backtest_out(record)


@router.get("/{backtest_id}", response_model=BacktestOut)
async def backtest(backtest_id: BacktestId, engine: EngineDep, _: CachedAuditorKey) -> BacktestOut:
    """Status of a backtest: queued, running, succeeded or failed (with the reason)."""
    return backtest_out(get_backtest(engine, backtest_id))


def _finished(engine: EngineDep, backtest_id: int) -> BacktestRecord:
    record = get_backtest(engine, backtest_id)
    if record.status != "succeeded":
        detail = f": {record.error}" if record.error else ""
        raise ApiError(
            409, "backtest_not_succeeded", f"backtest {backtest_id} is {record.status}{detail}"
        )
    return record


@router.get("/{backtest_id}/summary", response_model=BacktestSummaryOut)
async def backtest_summary(
    backtest_id: BacktestId, engine: EngineDep, _: CachedAuditorKey
) -> BacktestSummaryOut:
    """The summary of a finished backtest (the content of ``summary.json``)."""
    record = _finished(engine, backtest_id)
    assert record.summary is not None
    return BacktestSummaryOut(**record.summary)


@router.get("/{backtest_id}/days", response_model=Page[BacktestDayOut])
async def backtest_days(
    backtest_id: BacktestId,
    engine: EngineDep,
    _: CachedAuditorKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 366,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[BacktestDayOut]:
    """One row per delivery day of a finished backtest (the rows of ``days.csv``)."""
    record = _finished(engine, backtest_id)
    rows = record.days or []
    return Page[BacktestDayOut](
        items=[BacktestDayOut(**r) for r in rows[offset : offset + limit]],
        total=len(rows),
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, len(rows)),
    )
