"""Bids as records: one site and delivery day decided by a strategy at a decision time, stored with
their provenance (inputs-as-of, code version, solver, parameter hash, price sources), and submitted
through the one submission path.

The decision is :func:`engine.strategies.registry.decide` over the market data stored in the
database (:func:`engine.marketdata.view.from_database`): the function the backtest measures.
A ``perfect-foresight`` bid (the day's own final prices) is flagged ``perfect_information`` and
is never submittable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, Select, Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bidding import DayPlan
from engine.bids.documents import plan_documents
from engine.bids.submission import SubmissionAdapter
from engine.core.errors import ConflictError, NotFoundError, PowerdeskError
from engine.core.jsonio import canonical_json, compact_json
from engine.marketdata.view import MarketData, from_database
from engine.models.bids import BidRow
from engine.sites.registry import get_site
from engine.strategies.names import DEFAULT_SCENARIOS, DEFAULT_STRATEGY
from engine.strategies.registry import (
    StrategyConfig,
    decide,
    decision_time,
    get_strategy,
    price_model,
)
from market import gate_closure_utc, get_zone, to_money

T_BID: Table = BidRow.__table__  # type: ignore[attr-defined]


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
        A :class:`~engine.strategies.names.StrategyName`.
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
    model
        Price model (a :mod:`forecast.models` name); ``None``: the zone's default
        (:func:`~engine.strategies.registry.price_model`).
    """

    site: str
    day: date
    strategy: str = DEFAULT_STRATEGY
    as_of: datetime | None = None
    n_scenarios: int = DEFAULT_SCENARIOS
    offer_reserves: bool = True
    allow_breaches: bool = False
    seed: int = 0
    model: str | None = None


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
    decision: dict[str, Any] | None = None


def _dumps(value: Any) -> str:
    return compact_json(value)


def bid_row(
    plan: DayPlan,
    *,
    site_sha256: str,
    strategy: str,
    perfect_information: bool,
    inputs_as_of: datetime,
    gate_closure: datetime,
    sources: Sequence[str],
    created_at: datetime,
    created_by: str,
) -> dict[str, Any]:
    """The ``bid`` row of a site's plan, ``built`` (a single site's or a portfolio's site)."""
    zone = get_zone(plan.zone)
    docs = plan_documents(plan)
    prov = plan.provenance
    return {
        "site": plan.site,
        "site_sha256": site_sha256,
        "zone": zone.key,
        "day": plan.day,
        "strategy": strategy,
        "perfect_information": perfect_information,
        "inputs_as_of": inputs_as_of,
        "gate_closure": gate_closure,
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
        "created_at": created_at,
        "created_by": created_by,
    }


@dataclass(frozen=True, slots=True)
class Decision:
    """A request decided over the stored data: the plan and what it was decided from."""

    plan: DayPlan
    data: MarketData | None
    config: StrategyConfig
    as_of: datetime
    gate: datetime
    hindsight: bool
    site_sha256: str


def decide_request(engine: Engine, request: BidRequest, *, now: datetime | None = None) -> Decision:
    """Decide ``request`` over the stored market data (nothing is stored): the decision of
    :func:`build_bid`, and of :func:`submitted_plan` when it rebuilds a submitted bid.

    Raises
    ------
    As :func:`build_bid`.
    """
    stored = get_site(engine, request.site)
    site, zone = stored.site, get_zone(stored.zone)
    strategy = get_strategy(request.strategy)
    gate = gate_closure_utc(request.day, zone)
    hindsight = strategy.hindsight
    built_at = now or datetime.now(UTC)
    if request.as_of is None:
        as_of = built_at if hindsight else gate
    else:
        as_of = decision_time(request.day, zone, request.as_of, strategy)
    data = None
    if strategy.scenarios is not None:
        with Session(engine) as session:
            reserve_keys = site.reserve_products if request.offer_reserves else ()
            data = from_database(session, zone, reserve_keys)
    config = StrategyConfig(
        n_scenarios=request.n_scenarios,
        seed=request.seed,
        offer_reserves=request.offer_reserves,
        strict=not request.allow_breaches,
        model=price_model(zone, data, request.model),
    )
    plan = decide(request.strategy, site, zone, request.day, data, config, as_of=as_of)
    return Decision(plan, data, config, as_of, gate, hindsight, stored.sha256)


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
    built_at = now or datetime.now(UTC)
    decided = decide_request(engine, request, now=built_at)
    row = bid_row(
        decided.plan,
        site_sha256=decided.site_sha256,
        strategy=request.strategy,
        perfect_information=decided.hindsight,
        inputs_as_of=decided.as_of,
        gate_closure=decided.gate,
        sources=[] if decided.data is None else decided.data.sources(),
        created_at=built_at,
        created_by=created_by,
    )
    row["decision_json"] = _dumps(
        {
            "seed": request.seed,
            "model": decided.config.model,
            "offer_reserves": request.offer_reserves,
            "allow_breaches": request.allow_breaches,
        }
    )
    with engine.begin() as conn:
        key = conn.execute(T_BID.insert().values(**row)).inserted_primary_key
    assert key is not None
    return get_bid(engine, int(key[0]))


def submitted_plan(engine: Engine, record: BidRecord) -> Decision:
    """The decision behind a stored bid, rebuilt from the stored data as of its inputs time
    (the real-time stage re-plans this plan: it needs the scenarios and schedules the bid
    documents do not keep).

    Raises
    ------
    PowerdeskError
        The rebuilt plan is not the stored one (other data since, or a bid stored before its
        settings were kept, built with a seed or price model other than the defaults).
    """
    kept = record.decision or {}
    request = BidRequest(
        site=record.site,
        day=record.day,
        strategy=record.strategy,
        as_of=record.inputs_as_of,
        n_scenarios=record.n_scenarios,
        seed=int(kept.get("seed", 0)),
        model=kept.get("model"),
        offer_reserves=bool(kept.get("offer_reserves", True)),
        allow_breaches=bool(kept.get("allow_breaches", False)),
    )
    decided = decide_request(engine, request, now=record.inputs_as_of)
    if decided.plan.provenance.parameter_hash != record.parameter_hash:
        raise PowerdeskError(
            f"bid {record.id} of {record.site} on {record.day} cannot be rebuilt from the stored "
            "data with its recorded settings (its parameter hash differs)"
        )
    return decided


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
        decision=None if r.decision_json is None else json.loads(r.decision_json),
    )


_SUMMARY_COLUMNS = [
    c
    for c in T_BID.c
    if c.name not in {"curves_json", "schedule_json", "reserve_bids_json", "block_bids_json"}
]


# Read statements are built once (per filter combination): building and keying a statement per
# call costs more than the query itself on SQLite.
_GET_BID = select(T_BID).where(T_BID.c.id == bindparam("id"))
_SUBMITTED = select(T_BID).where(
    T_BID.c.site == bindparam("site"),
    T_BID.c.day == bindparam("day"),
    T_BID.c.submission_status == "submitted",
)
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
    """The bid set as handed to the exchange: canonical JSON (sorted keys), units in names.

    The DA curves carry every job's power, the non-preemptible jobs' included: they are the
    quantities the market clears and settlement settles; ``block_bids`` name the blocks inside
    them (``block_bids_in_curves``).
    """
    doc = {
        "format": "powerdesk-bid/1",
        "bid_id": bid.id,
        "site": bid.site,
        "zone": bid.zone,
        "delivery_day": bid.day.isoformat(),
        "currency": bid.currency,
        "da_curves": bid.curves,
        "block_bids": bid.block_bids,
        "block_bids_in_curves": True,
        "reserve_bids": bid.reserve_bids,
        "parameter_hash": bid.parameter_hash,
        "code_version": bid.code_version,
    }
    return canonical_json(doc)


def submission_key(zone: str, site: str, day: date) -> str:
    """The business key of a site's submission for a delivery day (the scheduler's bid key)."""
    return f"bid:{zone}:{site}:{day.isoformat()}"


def exchange_file_name(site: str, day: date) -> str:
    """The name of the exchange file of a site's bid for a delivery day."""
    return f"bid-{site}-{day.isoformat()}.json"


def submitted_bid(engine: Engine, site: str, day: date) -> BidRecord | None:
    """The bid submitted for ``site`` on ``day``, if any (there is at most one)."""
    with engine.connect() as conn:
        row = conn.execute(_SUBMITTED, {"site": site, "day": day}).first()
    return None if row is None else _record(row)


def submit_bid(
    engine: Engine,
    bid_id: int,
    adapter: SubmissionAdapter,
    *,
    now: datetime | None = None,
    replace: bool = False,
) -> BidRecord:
    """Hand a built bid to the exchange through ``adapter`` before its gate closure.

    This is the only place a bid becomes ``submitted`` (API, scheduler and CLI alike), and a
    site has at most one submitted bid per delivery day (a unique index guards it). Re-submitting
    the submitted bid is a no-op.

    Parameters
    ----------
    replace
        Replace the site's submitted bid of the day (a forced re-run): the earlier one becomes
        ``superseded`` and the exchange file is replaced.

    Raises
    ------
    ConflictError
        A perfect-foresight bid (hindsight), a passed gate closure, or another bid already
        submitted for the site and day (without ``replace``).
    """
    at = now or datetime.now(UTC)
    bid = get_bid(engine, bid_id)
    if bid.submission_status == "submitted":
        return bid
    if bid.perfect_information:
        raise ConflictError(f"bid {bid_id} uses hindsight prices (perfect-foresight)")
    if bid.submission_status != "built":
        raise ConflictError(f"bid {bid_id} is {bid.submission_status}, not built")
    if at >= bid.gate_closure:
        raise ConflictError(f"gate closure {bid.gate_closure.isoformat()} of {bid.day} has passed")
    other = submitted_bid(engine, bid.site, bid.day)
    if other is not None and not replace:
        raise ConflictError(f"bid {other.id} is already submitted for {bid.site} on {bid.day}")
    data = exchange_document(bid)
    adapter.submit(
        submission_key(bid.zone, bid.site, bid.day),
        bid.zone,
        bid.day,
        {exchange_file_name(bid.site, bid.day): data},
        replace=replace,
    )
    try:
        with engine.begin() as conn:
            if other is not None:
                conn.execute(
                    T_BID.update()
                    .where(T_BID.c.id == other.id, T_BID.c.submission_status == "submitted")
                    .values(submission_status="superseded")
                )
            done = conn.execute(
                T_BID.update()
                .where(T_BID.c.id == bid_id, T_BID.c.submission_status == "built")
                .values(
                    submission_status="submitted",
                    submitted_at=at,
                    submission_sha256=hashlib.sha256(data).hexdigest(),
                )
            ).rowcount
    except IntegrityError:
        done = 0
    if done != 1:
        winner = submitted_bid(engine, bid.site, bid.day)
        if winner is not None and winner.id == bid_id:
            return winner
        raise ConflictError(
            f"another bid was submitted for {bid.site} on {bid.day} at the same time"
        )
    return get_bid(engine, bid_id)
