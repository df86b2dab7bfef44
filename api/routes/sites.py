"""Sites: register a site file's content, list and show stored sites."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.deps import CachedAuditorKey, EngineDep, TraderKey
from api.schemas import Page, SiteDetail, SiteIn, SiteOut, next_offset
from engine.sites.registry import SiteFormat, SiteRecord, get_site, list_sites, register_site

router = APIRouter(tags=["sites"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key: the same key and body replay the stored response.",
    ),
]


def site_out(r: SiteRecord) -> SiteOut:
    """A stored site as its response body."""
    s = r.site
    return SiteOut(
        name=r.name,
        zone=r.zone,
        content_format=r.content_format,
        sha256=r.sha256,
        created_at=r.created_at,
        updated_at=r.updated_at,
        base_it_mw=s.load.base_it_mw,
        grid_import_max_mw=s.load.grid_import_max_mw,
        jobs=[j.name for j in s.jobs],
        battery_energy_mwh=None if s.battery is None else s.battery.energy_mwh,
        reserve_products=list(s.reserve_products),
    )


def site_detail(r: SiteRecord) -> SiteDetail:
    """A stored site with its content."""
    return SiteDetail(**site_out(r).model_dump(), content=r.content)


@router.post(
    "/sites",
    response_model=SiteDetail,
    status_code=201,
    responses={200: {"model": SiteDetail, "description": "Already stored with this content"}},
)
def create_site(
    body: SiteIn,
    engine: EngineDep,
    principal: TraderKey,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SiteDetail:
    """Register a site from its site-file content (TOML or JSON); validated before it is stored.

    201 when stored, 200 when the same content was stored before; a different site of the same
    name is a 409 unless ``replace`` is set."""
    fmt: SiteFormat = body.format
    if isinstance(body.content, dict):
        content, fmt = json.dumps(body.content, sort_keys=True), "json"
    else:
        content = body.content
    record, written = register_site(
        engine, content, fmt, replace=body.replace, created_by=principal.key_id
    )
    if not written:
        response.status_code = 200
    return site_detail(record)


@router.get("/sites", response_model=Page[SiteOut])
async def sites(
    engine: EngineDep,
    _: CachedAuditorKey,
    zone: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[SiteOut]:
    """Stored sites by name."""
    records, total = list_sites(engine, zone=zone, limit=limit, offset=offset)
    return Page[SiteOut](
        items=[site_out(r) for r in records],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.get("/sites/{name}", response_model=SiteDetail)
async def site(name: str, engine: EngineDep, _: CachedAuditorKey) -> SiteDetail:
    """One stored site with its content."""
    return site_detail(get_site(engine, name))
