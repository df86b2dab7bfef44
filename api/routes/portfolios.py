"""Portfolios: register a portfolio over registered sites, build its co-optimised bid for a
delivery day (one ``bid`` per site and the migratable jobs' allocation), submit it, settle it,
read the allocation, the settled results per site with their roll-up and the carbon figures."""

from __future__ import annotations

from concurrent.futures import Executor
from datetime import date, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import AuditorKey, CachedAuditorKey, ClockDep, EngineDep, SettingsDep, TraderKey
from api.routes.sites import IdempotencyKey
from api.schemas import BidOptions, Day, Name, Page, next_offset
from api.schemas import Request as Body
from api.workers import build_in_background
from engine.bids.documents import document_energy_mwh, site_placement_cost
from engine.bids.portfolio import (
    PortfolioBidRecord,
    PortfolioBidRequest,
    get_portfolio_bid,
    list_portfolio_bids,
    submit_portfolio_bid,
)
from engine.bids.submission import OutboxAdapter
from engine.scheduling.daily import portfolio_carbon_figures
from engine.settlement.portfolio import PortfolioResult, portfolio_results, settle_portfolio_day
from engine.sites.portfolios import (
    PortfolioRecord,
    get_portfolio,
    list_portfolios,
    register_portfolio,
)
from market import get_zone

router = APIRouter(prefix="/portfolios", tags=["portfolios"])

PortfolioName = Annotated[str, Path(min_length=1, max_length=200)]
PortfolioBidId = Annotated[int, Path(ge=1, le=2**31 - 1)]


# -- bodies -----------------------------------------------------------------------------------


class PortfolioIn(Body):
    """A portfolio file's content (docs/portfolio.md) over registered sites."""

    content: str = Field(max_length=200_000, description="The portfolio file (TOML text).")
    sites: list[Name] = Field(
        min_length=1,
        max_length=100,
        description="Registered sites of the portfolio, in the order of the file's `sites`.",
    )
    replace: bool = Field(False, description="Overwrite a stored portfolio of the same name.")


class PlacementOut(BaseModel):
    """Where a migratable job may run."""

    site: str
    max_power_mw: float
    cost_per_mwh: float


class MigratableJobOut(BaseModel):
    """A migratable job of a portfolio."""

    name: str
    energy_mwh: float
    window_start_minute: int
    window_end_minute: int
    placements: list[PlacementOut]


class PortfolioOut(BaseModel):
    """A stored portfolio."""

    name: str
    sha256: str
    currency: str
    sites: list[str]
    zones: list[str]
    migratable_jobs: list[MigratableJobOut]
    created_at: datetime
    updated_at: datetime


class PortfolioDetail(PortfolioOut):
    """A stored portfolio with its file's content as submitted."""

    content: str


class PortfolioBidIn(BidOptions):
    """What to build: a delivery day of the portfolio (the options of `POST /bids`)."""


class SiteBidOut(BaseModel):
    """One site's bid of a portfolio build (the full bid: `GET /bids/{bid_id}`)."""

    site: str
    zone: str
    bid_id: int
    expected_cost: str
    gate_closure: datetime
    submission_status: Literal["built", "submitted", "superseded"]
    submission_sha256: str | None


class PortfolioBidOut(BaseModel):
    """A portfolio build: one bid per site and the allocation's summary."""

    id: int
    portfolio: str
    portfolio_sha256: str
    day: date
    strategy: str
    inputs_as_of: datetime
    currency: str
    expected_cost: str = Field(description="The portfolio's expected cost [currency], exact.")
    status: Literal["built", "submitted", "partly submitted", "superseded"]
    bids: list[SiteBidOut]
    migratable_energy_mwh: dict[str, str] = Field(
        description="Placed IT energy per `job@site` [MWh], exact (Wh)."
    )
    created_at: datetime


class IntervalOut(BaseModel):
    """IT power of a migratable job at a site in one interval."""

    interval_start: datetime
    it_mw: float


class JobAllocationOut(BaseModel):
    """Where and when one migratable job runs at one site."""

    job: str
    site: str
    cost_per_mwh: str
    interval_minutes: int
    energy_mwh: str = Field(description="Placed IT energy [MWh], each interval rounded to the Wh.")
    intervals: list[IntervalOut]


class AllocationOut(BaseModel):
    """The allocation of every migratable job of a build per site and interval."""

    portfolio: str
    portfolio_bid_id: int
    day: date
    jobs: list[JobAllocationOut]
    placement_cost: dict[str, str] = Field(
        description="Planned placement cost per site [currency], the settlement's rule."
    )


class PortfolioSettlementIn(Body):
    """Settle every site of the portfolio on a delivery day (each its submitted bid)."""

    day: Day
    force: bool = Field(False, description="Record a correction of every site's settlement.")
    reason: str = Field("", max_length=500)


class SiteResultOut(BaseModel):
    """A site's settled day within its portfolio (money as exact decimal strings)."""

    site: str
    zone: str
    settlement_run: int
    bid_id: int
    portfolio_bid_id: int
    energy_cost: str
    imbalance_cost: str
    degradation_cost: str
    placement_cost: str
    ppa_cost: str
    reserve_revenue: str
    total_cost: str


class PortfolioResultOut(BaseModel):
    """A portfolio's settled day: every site and the exact sums over them."""

    portfolio: str
    day: date
    currency: str
    sites: list[SiteResultOut]
    totals: dict[str, str] = Field(
        description="Sums over the sites: total_cost = energy_cost + imbalance_cost + "
        "degradation_cost + placement_cost + ppa_cost - reserve_revenue."
    )


# -- renderers --------------------------------------------------------------------------------


def portfolio_out(r: PortfolioRecord) -> PortfolioOut:
    """A stored portfolio as its response body."""
    p = r.portfolio
    return PortfolioOut(
        name=r.name,
        sha256=r.sha256,
        currency=p.currency,
        sites=list(r.sites),
        zones=[s.zone for s in p.sites],
        migratable_jobs=[
            MigratableJobOut(
                name=j.name,
                energy_mwh=j.energy_mwh,
                window_start_minute=j.window_start_minute,
                window_end_minute=j.window_end_minute,
                placements=[
                    PlacementOut(
                        site=x.site, max_power_mw=x.max_power_mw, cost_per_mwh=x.cost_per_mwh
                    )
                    for x in j.placements
                ],
            )
            for j in p.jobs
        ],
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def portfolio_bid_out(engine: Any, r: PortfolioBidRecord) -> PortfolioBidOut:
    """A stored portfolio build as its response body."""
    return PortfolioBidOut(
        id=r.id,
        portfolio=r.portfolio,
        portfolio_sha256=r.portfolio_sha256,
        day=r.day,
        strategy=r.strategy,
        inputs_as_of=r.inputs_as_of,
        currency=r.currency,
        expected_cost=str(r.expected_cost),
        status=r.status,
        bids=[
            SiteBidOut(
                site=b.site,
                zone=b.zone,
                bid_id=b.id,
                expected_cost=str(b.expected_cost),
                gate_closure=b.gate_closure,
                submission_status=b.submission_status,
                submission_sha256=b.submission_sha256,
            )
            for b in r.site_bids(engine)
        ],
        migratable_energy_mwh={
            f"{a['job']}@{a['site']}": str(document_energy_mwh(a)) for a in r.allocation
        },
        created_at=r.created_at,
    )


def result_out(r: PortfolioResult) -> PortfolioResultOut:
    """A settled portfolio day as its response body."""
    return PortfolioResultOut.model_validate(r.to_json_dict())


# -- routes -----------------------------------------------------------------------------------


@router.post(
    "",
    response_model=PortfolioDetail,
    status_code=201,
    responses={200: {"model": PortfolioDetail, "description": "Already stored as given"}},
)
def create_portfolio(
    body: PortfolioIn,
    engine: EngineDep,
    principal: TraderKey,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PortfolioDetail:
    """Register a portfolio file's content over registered sites (`POST /sites` first);
    validated against them before it is stored. 201 when stored, 200 when stored before as
    given; another portfolio of the same name is a 409 unless ``replace`` is set."""
    record, written = register_portfolio(
        engine, body.content, body.sites, replace=body.replace, created_by=principal.key_id
    )
    if not written:
        response.status_code = 200
    return PortfolioDetail(**portfolio_out(record).model_dump(), content=record.content)


@router.get("", response_model=Page[PortfolioOut])
async def portfolios(
    engine: EngineDep,
    _: CachedAuditorKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[PortfolioOut]:
    """Stored portfolios by name."""
    records, total = list_portfolios(engine, limit=limit, offset=offset)
    return Page[PortfolioOut](
        items=[portfolio_out(r) for r in records],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.get("/{name}", response_model=PortfolioDetail)
async def portfolio(name: PortfolioName, engine: EngineDep, _: CachedAuditorKey) -> PortfolioDetail:
    """One stored portfolio with its file's content."""
    record = get_portfolio(engine, name)
    return PortfolioDetail(**portfolio_out(record).model_dump(), content=record.content)


@router.post("/{name}/bids", response_model=PortfolioBidOut, status_code=201)
async def create_portfolio_bid(
    name: PortfolioName,
    body: PortfolioBidIn,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> PortfolioBidOut:
    """Build the portfolio's co-optimised bid for a delivery day from stored prices: one bid per
    site in its zone (each readable at `GET /bids/{bid_id}`) and the allocation of every
    migratable job per site and interval, stored in one transaction."""
    what = PortfolioBidRequest(
        portfolio=name,
        day=body.day,
        strategy=body.strategy,
        as_of=body.as_of,
        n_scenarios=body.n_scenarios,
        offer_reserves=body.offer_reserves,
        allow_breaches=body.allow_breaches,
        seed=body.seed,
    )
    pool: Executor | None = request.app.state.bid_pool
    url = settings.resolved_database_url
    bid_id = await build_in_background(pool, engine, url, what, principal.key_id, now)
    return portfolio_bid_out(engine, get_portfolio_bid(engine, bid_id))


@router.get("/{name}/bids", response_model=Page[PortfolioBidOut])
def portfolio_bids(
    name: PortfolioName,
    engine: EngineDep,
    _: CachedAuditorKey,
    day: Annotated[Day | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[PortfolioBidOut]:
    """The portfolio's builds, newest first, optionally of one delivery day."""
    get_portfolio(engine, name)
    rows, total = list_portfolio_bids(engine, name, day=day, limit=limit, offset=offset)
    return Page[PortfolioBidOut](
        items=[portfolio_bid_out(engine, r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.get("/{name}/bids/{bid_id}", response_model=PortfolioBidOut)
def portfolio_bid(
    name: PortfolioName, bid_id: PortfolioBidId, engine: EngineDep, _: CachedAuditorKey
) -> PortfolioBidOut:
    """One build: its site bids (with their submission state) and the placed energy."""
    return portfolio_bid_out(engine, get_portfolio_bid(engine, bid_id, name))


@router.get("/{name}/bids/{bid_id}/allocation", response_model=AllocationOut)
def allocation(
    name: PortfolioName, bid_id: PortfolioBidId, engine: EngineDep, _: CachedAuditorKey
) -> AllocationOut:
    """The allocation of every migratable job of a build per site and interval, with the
    planned placement cost per site."""
    r = get_portfolio_bid(engine, bid_id, name)
    sites = {b.site: b.zone for b in r.site_bids(engine)}
    return AllocationOut(
        portfolio=r.portfolio,
        portfolio_bid_id=r.id,
        day=r.day,
        jobs=[JobAllocationOut(**a, energy_mwh=str(document_energy_mwh(a))) for a in r.allocation],
        placement_cost={
            site: str(site_placement_cost(r.allocation, site, get_zone(zone).minor_unit))
            for site, zone in sites.items()
        },
    )


@router.post("/{name}/bids/{bid_id}/submit", response_model=PortfolioBidOut)
def submit(
    name: PortfolioName,
    bid_id: PortfolioBidId,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> PortfolioBidOut:
    """Hand every site bid of a build to its zone's exchange outbox before gate closure, through
    the one submission path (`POST /bids/{bid_id}/submit` per site). All sites are checked
    first: a hindsight build, a passed gate closure or another bid already submitted for a site
    is a 409 and submits nothing."""
    get_portfolio_bid(engine, bid_id, name)
    adapter = OutboxAdapter(engine, FsPath(settings.home))
    return portfolio_bid_out(engine, submit_portfolio_bid(engine, bid_id, adapter, now=now))


@router.post(
    "/{name}/settlements",
    response_model=PortfolioResultOut,
    status_code=201,
    responses={200: {"model": PortfolioResultOut, "description": "Settled before: as stored"}},
)
def settle(
    name: PortfolioName,
    body: PortfolioSettlementIn,
    response: Response,
    engine: EngineDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> PortfolioResultOut:
    """Settle every site of the portfolio on a day (each once, as `POST /settlements`; ``force``
    records a correction of each) and return the sites with their roll-up: 201 when a site was
    settled now, 200 when all were settled before. A site without a submitted bid of one of the
    portfolio's builds, or without its meter readings, is an error that settles no site."""
    result = settle_portfolio_day(
        engine, name, body.day, force=body.force, reason=body.reason, now=now
    )
    if not result.created:
        response.status_code = 200
    return result_out(result)


@router.get("/{name}/results", response_model=PortfolioResultOut)
def results(
    name: PortfolioName,
    engine: EngineDep,
    _: CachedAuditorKey,
    day: Annotated[Day, Query()],
) -> PortfolioResultOut:
    """The settled day: every site's settlement (newest run) with its placement cost, and the
    exact sums over the sites. 404 until every site is settled."""
    return result_out(portfolio_results(engine, name, day))


@router.get("/{name}/reports/carbon", response_model=dict[str, Any])
def carbon(
    name: PortfolioName,
    engine: EngineDep,
    settings: SettingsDep,
    _: AuditorKey,
    first_day: Annotated[Day, Query(description="First local delivery day (inclusive).")],
    last_day: Annotated[Day, Query(description="Last local delivery day (inclusive).")],
) -> dict[str, Any]:
    """Every site's carbon report (as `GET /reports/carbon`) and the portfolio's figures: the
    exact sums of the sites' energy and emissions (scores are per site)."""
    return portfolio_carbon_figures(engine, name, first_day, last_day, settings.grid_factors)
