"""Carbon reports: Scope 2, hourly CFE and green shares of a site, from what is stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AuditorKey, EngineDep, SettingsDep
from api.schemas import Day
from engine.scheduling.daily import carbon_figures
from engine.sites.registry import get_site

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/carbon", response_model=dict[str, Any])
def carbon_report(
    engine: EngineDep,
    settings: SettingsDep,
    _: AuditorKey,
    site: Annotated[str, Query(min_length=1, max_length=200)],
    first_day: Annotated[Day, Query(description="First local delivery day (inclusive).")],
    last_day: Annotated[Day, Query(description="Last local delivery day (inclusive).")],
) -> dict[str, Any]:
    """The carbon report of a registered site over whole local days: its stored meter readings,
    the certificates retired for it in the ledger and the grid factors configured in
    ``POWERDESK_GRID_FACTORS``. Figures are exact decimals as strings (docs/carbon.md)."""
    stored = get_site(engine, site)
    return carbon_figures(
        engine, stored.name, stored.zone, first_day, last_day, settings.grid_factors
    )
