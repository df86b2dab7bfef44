"""Bidding library (pure): the co-optimised DA + ancillary bid of a data-centre site.

Data in, values out: this package never reads the clock, the environment, files or a database.
Entry points: :class:`Site` (from the site file), :func:`make_scenarios` (price scenarios known
before gate closure), :func:`solve_day` (one day's bids and schedule), :func:`flat_schedule`
(price-taker plan) and :func:`clear_curve` (what a DA curve holds at a price).

Names are imported on first use (PEP 562), so importing one light submodule (errors, say)
does not load the heavy ones.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bidding.day import (
        DEFAULT_CACHE,
        MODEL_VERSION,
        DayGrid,
        ModelCache,
        SolveOptions,
        build_curves,
        day_grid,
        day_shape,
        flat_schedule,
        solve_day,
    )
    from bidding.errors import (
        BiddingError,
        ConstraintBreach,
        InfeasibleSiteError,
        ScenarioError,
        SiteError,
        SolverFailedError,
    )
    from bidding.model import BidModel, BidShape, BlockJobShape, ProductShape, build_model
    from bidding.plan import BlockBid, DayPlan, ObjectiveParts, Provenance, ReserveBid
    from bidding.scenarios import PriceScenarios, make_scenarios
    from bidding.site import (
        Battery,
        DemandResponse,
        JobClass,
        Load,
        Ppa,
        Site,
        StepProfile,
    )
    from bidding.solve import DEFAULT_HIGHS_OPTIONS, RECOURSE_HIGHS_OPTIONS, SolveStats, solve_model
    from market.clearing import DACurve, clear_curve

_WHERE: dict[str, str] = {
    "Battery": "bidding.site",
    "BidModel": "bidding.model",
    "BidShape": "bidding.model",
    "BiddingError": "bidding.errors",
    "BlockBid": "bidding.plan",
    "BlockJobShape": "bidding.model",
    "ConstraintBreach": "bidding.errors",
    "DACurve": "market.clearing",
    "DEFAULT_CACHE": "bidding.day",
    "DEFAULT_HIGHS_OPTIONS": "bidding.solve",
    "DayGrid": "bidding.day",
    "DayPlan": "bidding.plan",
    "DemandResponse": "bidding.site",
    "InfeasibleSiteError": "bidding.errors",
    "JobClass": "bidding.site",
    "Load": "bidding.site",
    "MODEL_VERSION": "bidding.day",
    "ModelCache": "bidding.day",
    "ObjectiveParts": "bidding.plan",
    "Ppa": "bidding.site",
    "PriceScenarios": "bidding.scenarios",
    "ProductShape": "bidding.model",
    "Provenance": "bidding.plan",
    "RECOURSE_HIGHS_OPTIONS": "bidding.solve",
    "ReserveBid": "bidding.plan",
    "ScenarioError": "bidding.errors",
    "Site": "bidding.site",
    "SiteError": "bidding.errors",
    "SolveOptions": "bidding.day",
    "SolveStats": "bidding.solve",
    "SolverFailedError": "bidding.errors",
    "StepProfile": "bidding.site",
    "build_curves": "bidding.day",
    "build_model": "bidding.model",
    "clear_curve": "market.clearing",
    "day_grid": "bidding.day",
    "day_shape": "bidding.day",
    "flat_schedule": "bidding.day",
    "make_scenarios": "bidding.scenarios",
    "solve_day": "bidding.day",
    "solve_model": "bidding.solve",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_CACHE",
    "DEFAULT_HIGHS_OPTIONS",
    "MODEL_VERSION",
    "RECOURSE_HIGHS_OPTIONS",
    "Battery",
    "BidModel",
    "BidShape",
    "BiddingError",
    "BlockBid",
    "BlockJobShape",
    "ConstraintBreach",
    "DACurve",
    "DayGrid",
    "DayPlan",
    "DemandResponse",
    "InfeasibleSiteError",
    "JobClass",
    "Load",
    "ModelCache",
    "ObjectiveParts",
    "Ppa",
    "PriceScenarios",
    "ProductShape",
    "Provenance",
    "ReserveBid",
    "ScenarioError",
    "Site",
    "SiteError",
    "SolveOptions",
    "SolveStats",
    "SolverFailedError",
    "StepProfile",
    "build_curves",
    "build_model",
    "clear_curve",
    "day_grid",
    "day_shape",
    "flat_schedule",
    "make_scenarios",
    "solve_day",
    "solve_model",
]
