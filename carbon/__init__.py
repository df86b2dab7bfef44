"""Carbon accounting (pure): Scope 2, CFE and green-share formulas of docs/carbon.md.

Data in, values out: :class:`ReportInputs` (period, hourly load per site, grid factors per zone,
retirements, dataset pins, declared parameters) go into :func:`compute_report`, which returns a
:class:`CarbonReport` computed exactly and rounded once (6 decimals, half-even).
"""

from carbon.errors import CarbonInputError
from carbon.exact import PLACES, location_based_tco2e, quantize
from carbon.inputs import (
    CFE_GRID_BASES,
    DatasetPin,
    GridFactors,
    ReportInputs,
    ReportParameters,
    SiteLoad,
)
from carbon.instruments import TECHNOLOGIES, RetirementRecord, Technology
from carbon.mix import DIRECT_EF_TCO2E_PER_MWH, GridPoint, grid_factors
from carbon.report import (
    CarbonReport,
    HourDetail,
    InstrumentUse,
    ResidualUse,
    SiteFigures,
    compute_report,
    inputs_sha256,
)

__all__ = [
    "CFE_GRID_BASES",
    "DIRECT_EF_TCO2E_PER_MWH",
    "PLACES",
    "TECHNOLOGIES",
    "CarbonInputError",
    "CarbonReport",
    "DatasetPin",
    "GridFactors",
    "GridPoint",
    "HourDetail",
    "InstrumentUse",
    "ReportInputs",
    "ReportParameters",
    "ResidualUse",
    "RetirementRecord",
    "SiteFigures",
    "SiteLoad",
    "Technology",
    "compute_report",
    "grid_factors",
    "inputs_sha256",
    "location_based_tco2e",
    "quantize",
]
