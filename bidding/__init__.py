"""Bidding library (pure): the co-optimised DA + ancillary bid of a data-centre site.

Data in, values out: this package never reads the clock, the environment, files or a database.
Entry points: :class:`Site` (from the site file), :func:`make_scenarios` (price scenarios known
before gate closure), :func:`solve_day` (one day's bids and schedule), :func:`flat_schedule`
(price-taker plan) and :func:`clear_curve` (what a DA curve holds at a price).
"""

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
