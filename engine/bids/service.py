"""Bids built through the API: one site and delivery day, inputs as of gate closure, persisted
with their provenance (inputs-as-of, code version, solver, parameter hash, price sources).

Strategies (as in the backtest): ``forecast`` (scenario-based stochastic bid from prices
published before the decision time), ``deterministic`` (one point forecast), ``price-taker``
(flat schedule, no shifting) and ``perfect-foresight`` (the day's own final prices: hindsight,
flagged ``perfect_information`` and never submittable).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, Table, bindparam, func, select
from sqlmodel import Session

from bidding import (
    DayPlan,
    ModelCache,
    PriceScenarios,
    Site,
    SolveOptions,
    flat_schedule,
    make_scenarios,
    solve_day,
)
from engine.bids.submission import SubmissionAdapter
from engine.core.errors import ConflictError, NotFoundError, PowerdeskError
from engine.io.canonical import DA_SERIES
from engine.marketdata.store import load_series
from engine.models.api import ApiBid
from engine.sites.registry import get_site
from market import (
    KnownSeries,
    Zone,
    delivery_day_bounds,
    delivery_intervals,
    gate_closure_utc,
    get_zone,
    require_aware,
    to_money,
)

T_BID: Table = ApiBid.__table__  # type: ignore[attr-defined]
STRATEGIES = ("forecast", "deterministic", "price-taker", "perfect-foresight")
RESERVE_LOOKBACK_DAYS = 7

# cvxpy problems are re-parameterised in place: one solve at a time per process.
_SOLVE_LOCK = threading.Lock()
_CACHE = ModelCache()


@dataclass(frozen=True, slots=True)
class BidRequest:
    """What to build.

    Parameters
    ----------
    site
        Name of a registered site.
    day
        Local delivery day.
    strategy
        One of :data:`STRATEGIES`.
    as_of
        Decision time [UTC]; default the zone's gate closure for ``day``. Only prices published
        strictly before it are used (not for ``perfect-foresight``).
    n_scenarios
        Price scenarios of the ``forecast`` strategy.
    offer_reserves
        Offer the site's reserve products where reserve prices are stored.
    allow_breaches
        Keep a plan in which a soft constraint gave way (reported); otherwise it is refused.
    seed
        Seed of the scenario perturbation (used only with little history).
    """

    site: str
    day: date
    strategy: str = "forecast"
    as_of: datetime | None = None
    n_scenarios: int = 5
    offer_reserves: bool = True
    allow_breaches: bool = False
    seed: int = 0


@dataclass(frozen=True, slots=True)
class BidRecord:
    """A stored bid (JSON parts already decoded)."""

    id: int
    site: str
    site_sha256: str
    zone: str
    day: date
    strategy: str
    perfect_information: bool
    inputs_as_of: datetime
    gate_closure: datetime
    price_sources: str
    code_version: str
    solver: str
    solver_version: str
    solver_status: str
    parameter_hash: str
    scenario_method: str
    n_scenarios: int
    currency: str
    expected_cost: Any
    objective: dict[str, float]
    curves: list[dict[str, Any]]
    reserve_bids: list[dict[str, Any]]
    block_bids: list[dict[str, Any]]
    schedule: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    submission_status: str
    submitted_at: datetime | None
    submission_sha256: str | None
    created_at: datetime


def _cut(series: KnownSeries, as_of: datetime) -> KnownSeries:
    """The series as a decision at ``as_of`` may hold it (later publications dropped)."""
    frame = series.frame[series.frame["published_at"] < pd.Timestamp(as_of)]
    return KnownSeries(frame.reset_index(drop=True), series.resolution, series.unit, series.source)


def _local_minutes(index: pd.DatetimeIndex, zone: Zone) -> list[int]:
    local = index.tz_convert(zone.tz)
    return [int(h) * 60 + int(m) for h, m in zip(local.hour, local.minute, strict=True)]


def reserve_forecast(known: pd.Series, day: date, zone: Zone) -> pd.Series | None:
    """Reserve prices for ``day``: the most recent past local day with prices, mapped onto the
    day's intervals by local wall-clock time (DST days line up), or None without history.

    ``known`` holds what is known at the decision time, indexed by UTC interval start
    [currency/MW per product interval].
    """
    if known.empty:
        return None
    targets = delivery_intervals(day, zone)
    wanted = _local_minutes(targets, zone)
    for back in range(1, RESERVE_LOOKBACK_DAYS + 1):
        past = date.fromordinal(day.toordinal() - back)
        start, end = delivery_day_bounds(past, zone)
        part = known[(known.index >= pd.Timestamp(start)) & (known.index < pd.Timestamp(end))]
        if part.empty:
            continue
        lookup: dict[int, float] = {}
        for minute, value in zip(
            _local_minutes(pd.DatetimeIndex(part.index), zone), part.tolist(), strict=True
        ):
            lookup.setdefault(minute, float(value))
        keys = sorted(lookup)
        values = []
        for minute in wanted:
            earlier = [k for k in keys if k <= minute]
            values.append(lookup[earlier[-1]] if earlier else lookup[keys[0]])
        return pd.Series(values, index=targets, dtype=np.float64)
    return None


def _reserve_prices(
    session: Session, site: Site, zone: Zone, day: date, as_of: datetime, hindsight: bool
) -> tuple[dict[str, pd.Series], list[str]]:
    prices: dict[str, pd.Series] = {}
    sources: list[str] = []
    for key in site.reserve_products:
        for series_key in (key, f"{key}_MILEAGE"):
            try:
                series = load_series(session, zone, series_key)
            except NotFoundError:
                continue
            if hindsight:
                start, end = delivery_day_bounds(day, zone)
                final = series.final()
                got = final[
                    (final.index >= pd.Timestamp(start)) & (final.index < pd.Timestamp(end))
                ]
                forecast = got if not got.empty else None
            else:
                forecast = reserve_forecast(series.as_of(as_of), day, zone)
            if forecast is not None:
                prices[series_key] = forecast
                sources.append(f"{series_key}: {series.source}")
    return prices, sources


def _f(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


def _iso(t: Any) -> str:
    return pd.Timestamp(t).tz_convert("UTC").isoformat()


def plan_documents(plan: DayPlan) -> dict[str, Any]:
    """The JSON parts of a plan: curves, reserve bids, block bids, schedule, breaches."""
    schedule = plan.schedule_frame()
    rows = []
    for start, values in zip(schedule.index, schedule.to_dict("records"), strict=True):
        row: dict[str, Any] = {"interval_start": _iso(start)}
        row.update({str(k): _f(v) for k, v in values.items()})
        rows.append(row)
    return {
        "curves": [
            {
                "interval_start": _iso(c.interval_start),
                "prices_per_mwh": [str(p) for p in c.prices_per_mwh],
                "quantities_mw": [_f(q) for q in c.quantities_mw],
            }
            for c in plan.da_curves
        ],
        "reserve_bids": [
            {
                "product": r.product,
                "start": _iso(r.start),
                "end": _iso(r.end),
                "capacity_mw": _f(r.capacity_mw),
                "price_per_mw": str(r.price_per_mw),
            }
            for r in plan.reserve_bids
        ],
        "block_bids": [
            {
                "job": b.job,
                "start": _iso(b.start),
                "end": _iso(b.end),
                "quantity_mw": _f(b.quantity_mw),
                "limit_price_per_mwh": str(b.limit_price_per_mwh),
            }
            for b in plan.block_bids
        ],
        "schedule": rows,
        "breaches": [
            {
                "group": b.group,
                "name": b.name,
                "amount_mwh": _f(b.amount),
                "penalty_cost": _f(b.penalty_cost, 2),
            }
            for b in plan.breaches
        ],
        "objective": {k: _f(v, 2) for k, v in asdict(plan.objective).items()},
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def build_bid(
    engine: Engine,
    request: BidRequest,
    *,
    created_by: str = "",
    now: datetime | None = None,
) -> BidRecord:
    """Build the bid set of ``request`` from stored prices, persist it and return it.

    Raises
    ------
    NotFoundError
        The site, or the zone's DA prices, are not stored.
    PowerdeskError
        A bad request (unknown strategy, decision time after gate closure).
    bidding.BiddingError
        No scenarios (no history before the decision time), an infeasible site, a solver failure.
    """
    if request.strategy not in STRATEGIES:
        raise PowerdeskError(
            f"unknown strategy {request.strategy!r} (choose {', '.join(STRATEGIES)})"
        )
    stored = get_site(engine, request.site)
    site, zone = stored.site, get_zone(stored.zone)
    gate = gate_closure_utc(request.day, zone)
    hindsight = request.strategy == "perfect-foresight"
    built_at = now or datetime.now(UTC)
    if request.as_of is not None:
        as_of = require_aware(request.as_of, "as_of")
        if as_of > gate and not hindsight:
            raise PowerdeskError(
                f"as_of {as_of.isoformat()} is after gate closure {gate.isoformat()} of "
                f"{request.day}: use strategy perfect-foresight for hindsight"
            )
    else:
        as_of = built_at if hindsight else gate
    sources: list[str] = []
    with Session(engine) as session:
        if request.strategy == "price-taker":
            reserves: dict[str, pd.Series] = {}
            scenarios = None
        else:
            history = load_series(session, zone, DA_SERIES)
            sources.append(f"{DA_SERIES}: {history.source}")
            if hindsight:
                scenarios = PriceScenarios.perfect_foresight(history, request.day, zone)
            else:
                known = _cut(history, as_of)
                if request.strategy == "forecast":
                    scenarios = make_scenarios(
                        known, request.day, zone, request.n_scenarios, request.seed
                    )
                else:
                    scenarios = PriceScenarios.deterministic(known, request.day, zone)
            reserves, reserve_sources = (
                _reserve_prices(session, site, zone, request.day, as_of, hindsight)
                if request.offer_reserves
                else ({}, [])
            )
            sources.extend(reserve_sources)
    if scenarios is None:
        plan = flat_schedule(site, zone, request.day)
    else:
        options = SolveOptions(
            offer_reserves=request.offer_reserves and bool(reserves),
            strict=not request.allow_breaches,
        )
        with _SOLVE_LOCK:
            plan = solve_day(site, zone, request.day, scenarios, reserves, options, _CACHE)
    docs = plan_documents(plan)
    prov = plan.provenance
    row = {
        "site": site.name,
        "site_sha256": stored.sha256,
        "zone": zone.key,
        "day": request.day,
        "strategy": request.strategy,
        "perfect_information": hindsight,
        "inputs_as_of": as_of,
        "gate_closure": gate,
        "price_sources": "\n".join(sources),
        "code_version": prov.code_version,
        "solver": prov.solver,
        "solver_version": prov.solver_version,
        "solver_status": prov.status,
        "parameter_hash": prov.parameter_hash,
        "scenario_method": prov.scenario_method,
        "n_scenarios": int(plan.probabilities.shape[0]),
        "currency": plan.currency,
        "expected_cost": to_money(float(plan.objective.total), zone.minor_unit),
        "objective_json": _dumps(docs["objective"]),
        "curves_json": _dumps(docs["curves"]),
        "reserve_bids_json": _dumps(docs["reserve_bids"]),
        "block_bids_json": _dumps(docs["block_bids"]),
        "schedule_json": _dumps(docs["schedule"]),
        "breaches_json": _dumps(docs["breaches"]),
        "submission_status": "built",
        "submitted_at": None,
        "submission_sha256": None,
        "created_at": built_at,
        "created_by": created_by,
    }
    with engine.begin() as conn:
        key = conn.execute(T_BID.insert().values(**row)).inserted_primary_key
    assert key is not None
    return get_bid(engine, int(key[0]))


def _record(r: Any) -> BidRecord:
    return BidRecord(
        id=int(r.id),
        site=r.site,
        site_sha256=r.site_sha256,
        zone=r.zone,
        day=r.day,
        strategy=r.strategy,
        perfect_information=bool(r.perfect_information),
        inputs_as_of=r.inputs_as_of,
        gate_closure=r.gate_closure,
        price_sources=r.price_sources,
        code_version=r.code_version,
        solver=r.solver,
        solver_version=r.solver_version,
        solver_status=r.solver_status,
        parameter_hash=r.parameter_hash,
        scenario_method=r.scenario_method,
        n_scenarios=int(r.n_scenarios),
        currency=r.currency,
        expected_cost=r.expected_cost,
        objective=json.loads(r.objective_json),
        curves=json.loads(r.curves_json),
        reserve_bids=json.loads(r.reserve_bids_json),
        block_bids=json.loads(r.block_bids_json),
        schedule=json.loads(r.schedule_json),
        breaches=json.loads(r.breaches_json),
        submission_status=r.submission_status,
        submitted_at=r.submitted_at,
        submission_sha256=r.submission_sha256,
        created_at=r.created_at,
    )


_SUMMARY_COLUMNS = [
    c
    for c in T_BID.c
    if c.name not in {"curves_json", "schedule_json", "reserve_bids_json", "block_bids_json"}
]


# Read statements are built once (per filter combination): building and keying a statement per
# call costs more than the query itself on SQLite.
_GET_BID = select(T_BID).where(T_BID.c.id == bindparam("id"))
_BID_VERSION = select(T_BID.c.submission_status, T_BID.c.submission_sha256).where(
    T_BID.c.id == bindparam("id")
)


@cache
def _bid_page(filters: tuple[str, ...]) -> tuple[Select[Any], Select[Any]]:
    cond = [T_BID.c[name] == bindparam(name) for name in filters]
    rows = (
        select(*_SUMMARY_COLUMNS)
        .where(*cond)
        .order_by(T_BID.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return rows, select(func.count()).select_from(T_BID).where(*cond)


def get_bid(engine: Engine, bid_id: int) -> BidRecord:
    """A stored bid with all its parts; :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        row = conn.execute(_GET_BID, {"id": bid_id}).first()
    if row is None:
        raise NotFoundError(f"no bid {bid_id}")
    return _record(row)


def bid_version(engine: Engine, bid_id: int) -> tuple[str, str | None] | None:
    """What can change on a stored bid (submission status and digest), or None if there is no
    such bid: a cheap query that lets a cache of a bid's full document stay valid."""
    with engine.connect() as conn:
        row = conn.execute(_BID_VERSION, {"id": bid_id}).first()
    return None if row is None else (str(row[0]), row[1])


def list_bids(
    engine: Engine,
    *,
    site: str | None = None,
    day: date | None = None,
    zone: str | None = None,
    strategy: str | None = None,
    submission_status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """A page of bids (newest first) without their curves and schedule, and the total count."""
    given = {
        "site": site,
        "day": day,
        "zone": zone,
        "strategy": strategy,
        "submission_status": submission_status,
    }
    filters = tuple(name for name, value in given.items() if value is not None)
    rows_q, count_q = _bid_page(filters)
    params = {**given, "limit": limit, "offset": offset}
    with engine.connect() as conn:
        rows = conn.execute(rows_q, params).all()
        total = int(conn.execute(count_q, params).scalar_one())
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["objective"] = json.loads(d.pop("objective_json"))
        d["breaches"] = json.loads(d.pop("breaches_json"))
        out.append(d)
    return out, total


def exchange_document(bid: BidRecord) -> bytes:
    """The bid set as handed to the exchange: canonical JSON (sorted keys), units in names."""
    doc = {
        "format": "powerdesk-bid/1",
        "bid_id": bid.id,
        "site": bid.site,
        "zone": bid.zone,
        "delivery_day": bid.day.isoformat(),
        "currency": bid.currency,
        "da_curves": bid.curves,
        "block_bids": bid.block_bids,
        "reserve_bids": bid.reserve_bids,
        "parameter_hash": bid.parameter_hash,
        "code_version": bid.code_version,
    }
    return (_dumps(doc) + "\n").encode()


def submit_bid(
    engine: Engine, bid_id: int, adapter: SubmissionAdapter, *, now: datetime | None = None
) -> BidRecord:
    """Hand a built bid to the exchange through ``adapter`` before its gate closure.

    Re-submitting the same bid is a no-op. A perfect-foresight bid (hindsight) and a bid whose
    gate closure has passed are refused with :class:`ConflictError`; so is a second bid for a site
    and day that already has a submitted one.
    """
    at = now or datetime.now(UTC)
    bid = get_bid(engine, bid_id)
    if bid.submission_status == "submitted":
        return bid
    if bid.perfect_information:
        raise ConflictError(f"bid {bid_id} uses hindsight prices (perfect-foresight)")
    if at >= bid.gate_closure:
        raise ConflictError(f"gate closure {bid.gate_closure.isoformat()} of {bid.day} has passed")
    with engine.connect() as conn:
        other = conn.execute(
            select(T_BID.c.id).where(
                T_BID.c.site == bid.site,
                T_BID.c.day == bid.day,
                T_BID.c.submission_status == "submitted",
            )
        ).first()
    if other is not None:
        raise ConflictError(f"bid {other.id} is already submitted for {bid.site} on {bid.day}")
    data = exchange_document(bid)
    adapter.submit(
        f"api-bid:{bid.site}:{bid.day.isoformat()}",
        bid.zone,
        bid.day,
        {f"bid-{bid.site}-{bid.day.isoformat()}.json": data},
    )
    with engine.begin() as conn:
        conn.execute(
            T_BID.update()
            .where(T_BID.c.id == bid_id)
            .values(
                submission_status="submitted",
                submitted_at=at,
                submission_sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return get_bid(engine, bid_id)
