"""Bids: build the bid set of a site and delivery day, list, show and submit them."""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import fields
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import CachedAuditorKey, ClockDep, EngineDep, SettingsDep, TraderKey
from api.routes.sites import IdempotencyKey
from api.schemas import (
    BidDetail,
    BidIn,
    BidSummary,
    BreachOut,
    Day,
    Page,
    ProvenanceOut,
    Strategy,
    SubmissionOut,
    next_offset,
)
from api.workers import build_in_background
from engine.bids.service import (
    BidRecord,
    BidRequest,
    bid_version,
    get_bid,
    list_bids,
    submit_bid,
)
from engine.bids.submission import OutboxAdapter
from engine.core.errors import NotFoundError

router = APIRouter(tags=["bids"])


def _summary(d: dict[str, Any]) -> BidSummary:
    return BidSummary(
        id=d["id"],
        site=d["site"],
        zone=d["zone"],
        day=d["day"],
        strategy=d["strategy"],
        currency=d["currency"],
        expected_cost=str(d["expected_cost"]),
        objective=d["objective"],
        breaches=[BreachOut(**b) for b in d["breaches"]],
        provenance=ProvenanceOut(
            inputs_as_of=d["inputs_as_of"],
            gate_closure=d["gate_closure"],
            perfect_information=d["perfect_information"],
            price_sources=[s for s in d["price_sources"].split("\n") if s],
            site_sha256=d["site_sha256"],
            code_version=d["code_version"],
            solver=d["solver"],
            solver_version=d["solver_version"],
            solver_status=d["solver_status"],
            parameter_hash=d["parameter_hash"],
            scenario_method=d["scenario_method"],
            n_scenarios=d["n_scenarios"],
        ),
        submission=SubmissionOut(
            status=d["submission_status"],
            submitted_at=d["submitted_at"],
            sha256=d["submission_sha256"],
        ),
        created_at=d["created_at"],
    )


def bid_detail(b: BidRecord) -> BidDetail:
    """A stored bid as its response body."""
    # Shallow: dataclasses.asdict would deep-copy the curves and the schedule.
    d = {f.name: getattr(b, f.name) for f in fields(b)}
    return BidDetail(
        **_summary(d).model_dump(),
        curves=b.curves,
        reserve_bids=b.reserve_bids,
        block_bids=b.block_bids,
        schedule=b.schedule,
    )


@router.post("/bids", response_model=BidDetail, status_code=201)
async def create_bid(
    body: BidIn,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> BidDetail:
    """Build and store the bid set of a registered site for a delivery day.

    Prices come from the store as a decision at ``as_of`` (default: gate closure) sees them; the
    bid records inputs-as-of, code version, solver and parameter hash."""
    what = BidRequest(
        site=body.site,
        day=body.day,
        strategy=body.strategy,
        as_of=body.as_of,
        n_scenarios=body.n_scenarios,
        offer_reserves=body.offer_reserves,
        allow_breaches=body.allow_breaches,
        seed=body.seed,
        model=None if body.model is None else body.model.value,
    )
    pool: Executor | None = request.app.state.bid_pool
    url = settings.resolved_database_url
    bid_id = await build_in_background(pool, engine, url, what, principal.key_id, now)
    return bid_detail(get_bid(engine, bid_id))


@router.get("/bids", response_model=Page[BidSummary])
async def bids(
    engine: EngineDep,
    _: CachedAuditorKey,
    site: Annotated[str | None, Query(max_length=200)] = None,
    day: Annotated[Day | None, Query()] = None,
    zone: Annotated[str | None, Query(max_length=32)] = None,
    strategy: Annotated[Strategy | None, Query()] = None,
    status: Annotated[Literal["built", "submitted", "superseded"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[BidSummary]:
    """Stored bids, newest first, filtered by site, delivery day, zone, strategy, status."""
    rows, total = list_bids(
        engine,
        site=site,
        day=day,
        zone=zone,
        strategy=strategy,
        submission_status=status,
        limit=limit,
        offset=offset,
    )
    return Page[BidSummary](
        items=[_summary(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


BidId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class BidCache:
    """Serialised bid documents by id, valid while the bid's submission state is unchanged."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._docs: OrderedDict[int, tuple[tuple[str, str | None], bytes]] = OrderedDict()

    def get(self, bid_id: int, version: tuple[str, str | None]) -> bytes | None:
        hit = self._docs.get(bid_id)
        if hit is None or hit[0] != version:
            return None
        self._docs.move_to_end(bid_id)
        return hit[1]

    def put(self, bid_id: int, version: tuple[str, str | None], body: bytes) -> None:
        self._docs[bid_id] = (version, body)
        while len(self._docs) > self.size:
            self._docs.popitem(last=False)


@router.get("/bids/{bid_id}", response_model=BidDetail)
async def bid(bid_id: BidId, request: Request, engine: EngineDep, _: CachedAuditorKey) -> Response:
    """One bid: curves, reserve bids, block bids, planned schedule, provenance, submission."""
    cache: BidCache = request.app.state.bid_cache
    version = bid_version(engine, bid_id)
    if version is None:
        raise NotFoundError(f"no bid {bid_id}")
    body = cache.get(bid_id, version)
    if body is None:
        record = get_bid(engine, bid_id)
        body = bid_detail(record).model_dump_json().encode()
        cache.put(bid_id, (record.submission_status, record.submission_sha256), body)
    return Response(body, media_type="application/json")


@router.post("/bids/{bid_id}/submit", response_model=BidDetail)
def submit(
    bid_id: BidId,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> BidDetail:
    """Hand a built bid to the exchange (the outbox in POWERDESK_HOME) before gate closure.

    Submitting it again is a no-op; a hindsight bid, a bid after gate closure or a second bid
    for a site and day that already has a submitted one is a 409."""
    home = FsPath(settings.home)
    return bid_detail(submit_bid(engine, bid_id, OutboxAdapter(engine, home), now=now))
