"""Market data: the zone registry and imported prices as of a time."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query
from sqlalchemy import Engine

from api.deps import CachedAuditorKey, EngineDep
from api.schemas import (
    Instant,
    Page,
    PricePointOut,
    PricesOut,
    ProductOut,
    ResolutionOut,
    ZoneOut,
    next_offset,
)
from engine.marketdata.store import load_series
from market import ZONES, Product, Zone, get_zone

router = APIRouter(tags=["market"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def product_out(p: Product) -> ProductOut:
    """A product as its response body."""
    return ProductOut(
        key=p.key,
        name=p.name,
        direction=p.direction.value,
        payment=p.payment.value,
        block_minutes=int(p.block.total_seconds() // 60),
        min_size_mw=str(p.min_size_mw),
        activation_hours=p.activation_hours,
    )


def zone_out(z: Zone) -> ZoneOut:
    """A zone as its response body."""
    return ZoneOut(
        key=z.key,
        name=z.name,
        time_zone=z.tz,
        currency=z.currency,
        da_resolutions=[
            ResolutionOut(from_day=d, minutes=int(r.total_seconds() // 60))
            for d, r in z.da_resolutions
        ],
        gate_closure_local_d_minus_1=z.gate_closure.isoformat("minutes"),
        da_publication_local_d_minus_1=z.da_publication.isoformat("minutes"),
        price_floor_per_mwh=str(z.price_floor),
        price_cap_per_mwh=str(z.price_cap),
        tick_per_mwh=str(z.tick),
        minor_unit=str(z.minor_unit),
        products=[product_out(p) for p in z.products],
    )


_ZONES = {key: zone_out(z) for key, z in ZONES.items()}


@router.get("/zones", response_model=Page[ZoneOut])
async def list_zones(_: CachedAuditorKey, limit: Limit = 100, offset: Offset = 0) -> Page[ZoneOut]:
    """The zone registry: time zone, currency, DA resolution, gate closure, limits, products."""
    zones = list(_ZONES.values())
    return Page[ZoneOut](
        items=zones[offset : offset + limit],
        total=len(zones),
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, len(zones)),
    )


@router.get("/zones/{key}", response_model=ZoneOut)
async def show_zone(key: str, _: CachedAuditorKey) -> ZoneOut:
    """One zone of the registry."""
    return _ZONES.get(key) or zone_out(get_zone(key))


@router.get("/zones/{key}/products", response_model=Page[ProductOut])
async def zone_products(
    key: str, _: CachedAuditorKey, limit: Limit = 100, offset: Offset = 0
) -> Page[ProductOut]:
    """The products of a zone (DA energy first, then reserve products)."""
    products = (_ZONES.get(key) or zone_out(get_zone(key))).products
    return Page[ProductOut](
        items=products[offset : offset + limit],
        total=len(products),
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, len(products)),
    )


def _prices(
    engine: Engine,
    zone: str,
    series: str,
    as_of: pd.Timestamp,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    limit: int,
    offset: int,
) -> PricesOut:
    from sqlmodel import Session

    z = get_zone(zone)
    with Session(engine) as session:
        known = load_series(session, z, series)
    seen = known.as_of(as_of.to_pydatetime())
    if start is not None:
        seen = seen[seen.index >= start]
    if end is not None:
        seen = seen[seen.index < end]
    reserve = known.unit.endswith("/MW")
    page = seen.iloc[offset : offset + limit]
    items = [
        PricePointOut(
            interval_start=t.to_pydatetime(),
            price_per_mw=float(v) if reserve else None,
            price_per_mwh=None if reserve else float(v),
        )
        for t, v in zip(page.index, page.to_numpy(), strict=True)
    ]
    return PricesOut(
        zone=z.key,
        series=series,
        unit=known.unit,
        as_of=as_of.to_pydatetime(),
        resolution_minutes=known.resolution.total_seconds() / 60.0,
        source=known.source,
        items=items,
        total=len(seen),
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, len(seen)),
    )


@router.get("/prices", response_model=PricesOut)
def prices(
    engine: EngineDep,
    _: CachedAuditorKey,
    zone: Annotated[str, Query(min_length=1, max_length=32)],
    as_of: Annotated[Instant, Query(description="Decision time with UTC offset.")],
    series: Annotated[str, Query(min_length=1, max_length=64)] = "DA",
    start: Annotated[Instant | None, Query(description="Intervals starting at or after.")] = None,
    end: Annotated[Instant | None, Query(description="Intervals starting before.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Offset = 0,
) -> PricesOut:
    """Imported prices of a series as a decision at ``as_of`` sees them: for each interval the
    latest value published strictly before ``as_of`` (intervals not yet published are absent)."""
    return _prices(
        engine,
        zone,
        series,
        pd.Timestamp(as_of),
        None if start is None else pd.Timestamp(start),
        None if end is None else pd.Timestamp(end),
        limit,
        offset,
    )
