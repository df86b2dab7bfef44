"""A portfolio's bids as records: one co-optimised decision per portfolio and delivery day,
stored as one ordinary ``bid`` per site (in its zone) plus the migratable jobs' allocation, and
submitted site by site through :func:`engine.bids.service.submit_bid`, the one submission path.

The decision is :func:`engine.strategies.portfolio.decide_portfolio` over the market data stored
in the database for every zone of the sites (:func:`engine.marketdata.view.from_database`), the
function ``powerdesk portfolio bid`` and the portfolio backtest call. Each site's row is built by
:func:`engine.bids.service.bid_row`, as a single site's is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlmodel import Session

from engine.bids.documents import allocation_documents
from engine.bids.service import (
    T_BID,
    BidRecord,
    bid_row,
    get_bid,
    submit_bid,
    submitted_bid,
)
from engine.bids.submission import SubmissionAdapter
from engine.core.errors import ConflictError, NotFoundError
from engine.core.jsonio import compact_json
from engine.marketdata.view import MarketData, from_database
from engine.models.portfolios import PortfolioBidRow
from engine.sites.portfolios import get_portfolio
from engine.sites.registry import get_site
from engine.strategies.names import DEFAULT_SCENARIOS, DEFAULT_STRATEGY
from engine.strategies.portfolio import decide_portfolio
from engine.strategies.registry import (
    StrategyConfig,
    decision_time,
    get_strategy,
    zone_models,
)
from market import gate_closure_utc, get_zone, to_money

T_PBID: Table = PortfolioBidRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PortfolioBidRequest:
    """What to build: as :class:`engine.bids.service.BidRequest`, for a registered portfolio.

    ``as_of`` defaults to the earliest gate closure of the sites' zones (the decision time of
    :func:`~engine.strategies.portfolio.decide_portfolio`); a later one is refused for a
    strategy without hindsight.
    """

    portfolio: str
    day: date
    strategy: str = DEFAULT_STRATEGY
    as_of: datetime | None = None
    n_scenarios: int = DEFAULT_SCENARIOS
    offer_reserves: bool = True
    allow_breaches: bool = False
    seed: int = 0


@dataclass(frozen=True, slots=True)
class PortfolioBidRecord:
    """A stored portfolio build: its site bids (site, bid id; file order) and the allocation."""

    id: int
    portfolio: str
    portfolio_sha256: str
    day: date
    strategy: str
    inputs_as_of: datetime
    currency: str
    expected_cost: Decimal
    bids: tuple[tuple[str, int], ...]
    allocation: list[dict[str, Any]]
    created_at: datetime
    status: str  # built, submitted, partly submitted or superseded (from the site bids)

    def site_bids(self, engine: Engine) -> list[BidRecord]:
        """The stored site bids, in the portfolio's site order."""
        return [get_bid(engine, bid_id) for _, bid_id in self.bids]


def _status(statuses: list[str]) -> str:
    if all(s == "submitted" for s in statuses):
        return "submitted"
    if any(s == "superseded" for s in statuses):
        return "superseded"
    if all(s == "built" for s in statuses):
        return "built"
    return "partly submitted"


def _record(engine: Engine, row: Any) -> PortfolioBidRecord:
    bids = tuple((str(b["site"]), int(b["bid_id"])) for b in json.loads(row.bids_json))
    with engine.connect() as conn:
        found = dict(
            conn.execute(
                select(T_BID.c.id, T_BID.c.submission_status).where(
                    T_BID.c.id.in_([b for _, b in bids])
                )
            ).all()
        )
    return PortfolioBidRecord(
        id=int(row.id),
        portfolio=row.portfolio,
        portfolio_sha256=row.portfolio_sha256,
        day=row.day,
        strategy=row.strategy,
        inputs_as_of=row.inputs_as_of,
        currency=row.currency,
        expected_cost=row.expected_cost,
        bids=bids,
        allocation=json.loads(row.allocation_json),
        created_at=row.created_at,
        status=_status([str(found.get(b, "missing")) for _, b in bids]),
    )


def build_portfolio_bid(
    engine: Engine,
    request: PortfolioBidRequest,
    *,
    created_by: str = "",
    now: datetime | None = None,
) -> PortfolioBidRecord:
    """Decide the portfolio's day jointly from stored prices; store one bid per site and the
    allocation in one transaction (nothing is written when anything fails).

    Raises
    ------
    NotFoundError
        The portfolio, a site or a zone's DA prices are not stored.
    PowerdeskError
        A bad request (unknown strategy, decision time after a gate closure).
    bidding.BiddingError
        No history before the decision time, an infeasible portfolio, a solver failure.
    """
    stored = get_portfolio(engine, request.portfolio)
    portfolio = stored.portfolio
    strategy = get_strategy(request.strategy)
    zones = {s.zone: get_zone(s.zone) for s in portfolio.sites}
    built_at = now or datetime.now(UTC)
    t = min(decision_time(request.day, z, request.as_of, strategy) for z in zones.values())
    as_of = built_at if strategy.hindsight and request.as_of is None else t
    data: dict[str, MarketData] | None = None
    if strategy.scenarios is not None:
        data = {}
        with Session(engine) as session:
            for key, zone in sorted(zones.items()):
                products = sorted(
                    {p for s in portfolio.sites if s.zone == key for p in s.reserve_products}
                )
                data[key] = from_database(session, zone, products if request.offer_reserves else ())
    config = StrategyConfig(
        n_scenarios=request.n_scenarios,
        seed=request.seed,
        offer_reserves=request.offer_reserves,
        strict=not request.allow_breaches,
        zone_models=zone_models(zones.values(), data),
    )
    plan = decide_portfolio(
        request.strategy, portfolio, request.day, data, config, as_of=request.as_of
    )
    rows = [
        bid_row(
            site_plan,
            site_sha256=get_site(engine, site_plan.site).sha256,
            strategy=request.strategy,
            perfect_information=strategy.hindsight,
            inputs_as_of=as_of,
            gate_closure=gate_closure_utc(request.day, zones[site_plan.zone]),
            sources=[] if data is None else data[site_plan.zone].sources(),
            created_at=built_at,
            created_by=created_by,
        )
        for site_plan in plan.plans
    ]
    first = zones[portfolio.sites[0].zone]
    with engine.begin() as conn:
        bids = []
        for row in rows:
            inserted = conn.execute(T_BID.insert().values(**row)).inserted_primary_key
            assert inserted is not None
            bids.append({"site": row["site"], "bid_id": int(inserted[0])})
        inserted = conn.execute(
            T_PBID.insert().values(
                portfolio=portfolio.name,
                portfolio_sha256=stored.sha256,
                day=request.day,
                strategy=request.strategy,
                inputs_as_of=as_of,
                currency=portfolio.currency,
                expected_cost=to_money(float(plan.provenance.objective), first.minor_unit),
                bids_json=compact_json(bids),
                allocation_json=compact_json(allocation_documents(plan.allocation)),
                created_at=built_at,
                created_by=created_by,
            )
        ).inserted_primary_key
    assert inserted is not None
    return get_portfolio_bid(engine, int(inserted[0]))


def get_portfolio_bid(
    engine: Engine, bid_id: int, portfolio: str | None = None
) -> PortfolioBidRecord:
    """A stored portfolio build (of ``portfolio`` when given); :class:`NotFoundError` if none."""
    with engine.connect() as conn:
        row = conn.execute(select(T_PBID).where(T_PBID.c.id == bid_id)).first()
    if row is None or (portfolio is not None and row.portfolio != portfolio):
        where = "" if portfolio is None else f" of portfolio {portfolio!r}"
        raise NotFoundError(f"no portfolio bid {bid_id}{where}")
    return _record(engine, row)


def list_portfolio_bids(
    engine: Engine,
    portfolio: str,
    *,
    day: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PortfolioBidRecord], int]:
    """A page of a portfolio's builds (newest first), and how many there are."""
    cond = [T_PBID.c.portfolio == portfolio]
    if day is not None:
        cond.append(T_PBID.c.day == day)
    with engine.connect() as conn:
        rows = conn.execute(
            select(T_PBID).where(*cond).order_by(T_PBID.c.id.desc()).limit(limit).offset(offset)
        ).all()
        total = len(conn.execute(select(T_PBID.c.id).where(*cond)).all())
    return [_record(engine, r) for r in rows], total


def portfolio_bid_of(engine: Engine, portfolio: str, day: date, bid_id: int) -> PortfolioBidRecord:
    """The build of ``portfolio`` on ``day`` that stored the site bid ``bid_id``.

    Raises
    ------
    NotFoundError
        The site bid is not part of any build of the portfolio on that day.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(T_PBID).where(T_PBID.c.portfolio == portfolio, T_PBID.c.day == day)
        ).all()
    for row in rows:
        if any(int(b["bid_id"]) == bid_id for b in json.loads(row.bids_json)):
            return _record(engine, row)
    raise NotFoundError(f"bid {bid_id} is not a site bid of portfolio {portfolio!r} on {day}")


def submit_portfolio_bid(
    engine: Engine,
    bid_id: int,
    adapter: SubmissionAdapter,
    *,
    now: datetime | None = None,
    replace: bool = False,
) -> PortfolioBidRecord:
    """Submit every site bid of a portfolio build through :func:`submit_bid`, each to its
    zone's outbox. Every site is checked before any is submitted (a hindsight build, a passed
    gate closure, another bid already submitted for a site without ``replace``), so a refusal
    submits nothing; site bids submitted already are left as they are (a retry completes a
    build whose submission was cut short).

    Raises
    ------
    ConflictError
        As :func:`submit_bid`, naming the site.
    """
    at = now or datetime.now(UTC)
    record = get_portfolio_bid(engine, bid_id)
    bids = record.site_bids(engine)
    for bid in bids:
        if bid.submission_status == "submitted":
            continue
        if bid.perfect_information:
            raise ConflictError(f"portfolio bid {bid_id} uses hindsight prices ({record.strategy})")
        if bid.submission_status != "built":
            raise ConflictError(
                f"portfolio bid {bid_id}: the bid of {bid.site} is {bid.submission_status}"
            )
        if at >= bid.gate_closure:
            raise ConflictError(
                f"gate closure {bid.gate_closure.isoformat()} of {bid.site} on {bid.day} has passed"
            )
        other = submitted_bid(engine, bid.site, bid.day)
        if other is not None and not replace:
            raise ConflictError(f"bid {other.id} is already submitted for {bid.site} on {bid.day}")
    for bid in bids:
        submit_bid(engine, bid.id, adapter, now=at, replace=replace)
    return get_portfolio_bid(engine, bid_id)


def latest_portfolio_bid(engine: Engine, portfolio: str, day: date) -> PortfolioBidRecord | None:
    """The newest build of ``portfolio`` for ``day``, if any."""
    rows, _ = list_portfolio_bids(engine, portfolio, day=day, limit=1)
    return rows[0] if rows else None
