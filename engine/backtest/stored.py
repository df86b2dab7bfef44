"""Backtests started through the API: over a registered site and the prices in the database.

:func:`create_backtest` records the request (status ``queued``); :func:`run_backtest_job` runs
it with :func:`engine.backtest.runner.backtest_days` (the same decide/clear/settle core and the
same input checks as ``powerdesk backtest``, over :func:`engine.marketdata.view.from_database`)
and stores ``summary.json``'s document and the per-day rows. The API
calls it in a background thread; the day problems go to the configured executor (a local process
pool by default, so the solves do not compete with the API for its interpreter).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, Table, func, select
from sqlmodel import Session

from engine.backtest.runner import (
    DAY_COLUMNS,
    MONEY_FIELDS,
    PERFECT_FORESIGHT,
    PRICE_TAKER,
    check_market_data,
    delivery_days,
    energy,
    money,
    run_strategies,
)
from engine.core.errors import NotFoundError, PowerdeskError
from engine.marketdata.view import from_database
from engine.models.backtests import BacktestRow
from engine.sites.registry import get_site
from engine.strategies.names import DEFAULT_SCENARIOS
from engine.strategies.registry import StrategyConfig, get_strategy, price_model
from market import get_zone

T_BT: Table = BacktestRow.__table__  # type: ignore[attr-defined]
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """A backtest of a registered site over local delivery days ``[start, end)``."""

    site: str
    start: date
    end: date
    strategy: str = "forecast"
    n_scenarios: int = DEFAULT_SCENARIOS
    seed: int = 0
    regret: bool = True
    rt_stage: bool = False
    model: str | None = None
    rt_every_minutes: int = 0


@dataclass(frozen=True, slots=True)
class BacktestRecord:
    """A stored backtest run."""

    id: int
    status: str
    request: dict[str, Any]
    summary: dict[str, Any] | None
    days: list[dict[str, Any]] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _record(r: Any) -> BacktestRecord:
    return BacktestRecord(
        id=int(r.id),
        status=r.status,
        request=json.loads(r.request_json),
        summary=None if r.summary_json is None else json.loads(r.summary_json),
        days=None if r.days_json is None else json.loads(r.days_json),
        error=r.error,
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


def create_backtest(
    engine: Engine, request: BacktestRequest, *, created_by: str = "", now: datetime | None = None
) -> BacktestRecord:
    """Check and record a backtest request (status ``queued``).

    Raises
    ------
    NotFoundError
        The site is not registered.
    PowerdeskError
        Unknown strategy, ``end <= start`` or more than :data:`MAX_DAYS` days.
    """
    get_strategy(request.strategy)
    if request.model is not None:
        StrategyConfig(model=request.model)  # an unknown model is refused here, in one line
    get_site(engine, request.site)
    if request.end <= request.start:
        raise PowerdeskError(f"end {request.end} must be after start {request.start} (exclusive)")
    if (request.end - request.start).days > MAX_DAYS:
        raise PowerdeskError(f"a backtest through the API covers at most {MAX_DAYS} days")
    doc = {**asdict(request), "start": request.start.isoformat(), "end": request.end.isoformat()}
    with engine.begin() as conn:
        key = conn.execute(
            T_BT.insert().values(
                status="queued",
                request_json=json.dumps(doc, sort_keys=True),
                created_at=now or datetime.now(UTC),
                created_by=created_by,
            )
        ).inserted_primary_key
    assert key is not None
    return get_backtest(engine, int(key[0]))


def get_backtest(engine: Engine, backtest_id: int) -> BacktestRecord:
    """A stored backtest; :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(T_BT).where(T_BT.c.id == backtest_id)).first()
    if row is None:
        raise NotFoundError(f"no backtest {backtest_id}")
    return _record(row)


def list_backtests(
    engine: Engine, *, limit: int = 50, offset: int = 0
) -> tuple[list[BacktestRecord], int]:
    """A page of stored backtests, newest first, and how many there are."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(T_BT).order_by(T_BT.c.id.desc()).limit(limit).offset(offset)
        ).all()
        total = int(conn.execute(select(func.count()).select_from(T_BT)).scalar_one())
    return [_record(r) for r in rows], total


def _set(engine: Engine, backtest_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(T_BT.update().where(T_BT.c.id == backtest_id).values(**values))


def run_backtest_job(
    engine: Engine, backtest_id: int, *, executor: str = "local:1"
) -> BacktestRecord:
    """Run a recorded backtest now and store its outcome (``succeeded`` or ``failed`` with the
    one-line reason); returns the final record."""
    record = get_backtest(engine, backtest_id)
    _set(engine, backtest_id, status="running", started_at=datetime.now(UTC))
    req = record.request
    try:
        stored = get_site(engine, req["site"])
        site, zone = stored.site, get_zone(stored.zone)
        days = delivery_days(date.fromisoformat(req["start"]), date.fromisoformat(req["end"]))
        with Session(engine) as session:
            data = from_database(session, zone, site.reserve_products)
        check_market_data(
            data,
            days,
            zone,
            [req["strategy"], PERFECT_FORESIGHT, PRICE_TAKER],
            f"stored DA prices of {zone.key}",
            f"stored imbalance prices of {zone.key}",
        )
        config = StrategyConfig(
            n_scenarios=int(req["n_scenarios"]),
            seed=int(req["seed"]),
            rt_stage=bool(req.get("rt_stage", False)),
            rt_every_minutes=int(req.get("rt_every_minutes", 0)),
            model=price_model(zone, data, req.get("model")),
        )
        inputs = {
            "site": {"name": site.name, "sha256": stored.sha256},
            "prices": {"source": data.da.source},
        }
        if data.imbalance is not None:
            inputs["imbalance_prices"] = {"source": data.imbalance.source}
        for key, series in data.reserves.items():
            kind = "activations" if key in data.activations else "reserve_prices"
            inputs[f"{kind}_{key}"] = {"source": series.source}
        outcome = run_strategies(
            req["strategy"],
            site,
            zone,
            days,
            data,
            config,
            inputs=inputs,
            end=date.fromisoformat(req["end"]),
            regret=bool(req.get("regret", True)),
            executor=executor,
        )
        summary, run = outcome.summary, outcome.run
        rows = []
        for o in run.outcomes:
            row: dict[str, Any] = {"day": o.day.isoformat()}
            row.update({name: money(getattr(o, name), zone) for name in MONEY_FIELDS})
            row["grid_energy_mwh"] = energy(o.grid_energy_mwh)
            rows.append(row)
        assert all(tuple(r) == DAY_COLUMNS for r in rows)
    except Exception as exc:  # recorded on the run, which the client polls
        _set(
            engine,
            backtest_id,
            status="failed",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=datetime.now(UTC),
        )
        return get_backtest(engine, backtest_id)
    _set(
        engine,
        backtest_id,
        status="succeeded",
        summary_json=json.dumps(summary, sort_keys=True),
        days_json=json.dumps(rows),
        finished_at=datetime.now(UTC),
    )
    return get_backtest(engine, backtest_id)
