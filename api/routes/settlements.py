"""Settlement: settle a site's delivery day once (corrections are explicit), read the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import CachedAuditorKey, ClockDep, EngineDep, TraderKey
from api.routes.sites import IdempotencyKey
from api.schemas import Day, SettlementIn, SettlementOut
from engine.core.errors import NotFoundError
from engine.settlement.service import SettlementRecord, latest_settlement, settle_site_day
from engine.sites.registry import get_site

router = APIRouter(prefix="/settlements", tags=["settlement"])


def settlement_out(r: SettlementRecord) -> SettlementOut:
    """A settlement run as its response body."""
    return SettlementOut(
        site=r.site,
        day=r.day,
        run=r.run,
        supersedes_run=r.supersedes_run,
        currency=r.currency,
        totals=r.totals,
        lines=r.lines,
        provenance=r.provenance,
        created=r.created,
    )


@router.get("", response_model=SettlementOut)
async def settlement(
    engine: EngineDep,
    _: CachedAuditorKey,
    site: Annotated[str, Query(min_length=1, max_length=200)],
    day: Annotated[Day, Query()],
) -> SettlementOut:
    """The newest settlement run of a site's delivery day."""
    record = latest_settlement(engine, site, day)
    if record is None:
        raise NotFoundError(f"no settlement of {site} on {day}")
    return settlement_out(record)


@router.post(
    "",
    response_model=SettlementOut,
    status_code=201,
    responses={200: {"model": SettlementOut, "description": "Settled before: returned as is"}},
)
def settle(
    body: SettlementIn,
    response: Response,
    engine: EngineDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> SettlementOut:
    """Settle a registered site's delivery day: its submitted bid cleared at the day's prices
    with the rule the backtest uses, metered deviations, reserve awards. Once per site and day,
    also under concurrent requests (200 with the stored run); ``force`` records a correction
    (201). A day without a submitted bid is 404."""
    stored = get_site(engine, body.site)
    record = settle_site_day(
        engine, stored.name, stored.zone, body.day, force=body.force, reason=body.reason, now=now
    )
    if not record.created:
        response.status_code = 200
    return settlement_out(record)
