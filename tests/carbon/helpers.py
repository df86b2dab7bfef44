"""Builders of report inputs for the carbon tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from carbon import GridFactors, ReportInputs, RetirementRecord, SiteLoad

HOUR = timedelta(hours=1)
T0 = datetime(2025, 3, 3, 0, tzinfo=UTC)


def hours_from(start: datetime, n: int) -> list[datetime]:
    """n consecutive UTC hour starts (test data only; the package derives its own grid)."""
    return [start + k * HOUR for k in range(n)]


def certificate(
    rid: str,
    hour: datetime,
    energy_mwh: str,
    *,
    technology: str = "wind",
    site: str = "dc",
    zone: str = "DE-LU",
    scheme: str = "EnergyTag GC",
    consumption: tuple[datetime, datetime] | None = None,
    production_end: datetime | None = None,
    ef: str | None = None,
) -> RetirementRecord:
    """A retirement of an hourly certificate produced in ``hour`` for ``site``."""
    c_start, c_end = consumption if consumption is not None else (hour, hour + HOUR)
    return RetirementRecord(
        retirement_id=rid,
        certificate_id_first=f"{rid}-0",
        certificate_id_last=f"{rid}-9",
        energy_wh=int(Decimal(energy_mwh) * 1_000_000),
        scheme=scheme,
        technology=technology,
        zone=zone,
        production_start=hour,
        production_end=production_end if production_end is not None else hour + HOUR,
        site=site,
        consumption_start=c_start,
        consumption_end=c_end,
        beneficiary="Example DC GmbH",
        ef_tco2e_per_mwh=None if ef is None else Decimal(ef),
    )


def worked_example(
    annual_residual: str | None = "0.575", retirements: Sequence[RetirementRecord] | None = None
) -> ReportInputs:
    """The worked example of docs/carbon.md: one site, four hours, L = 10 MWh each."""
    hs = hours_from(T0, 4)
    g = ["0.2", "0.5", "0.5", "0.2"]
    ef = ["0.6", "0.3", "0.3", "0.6"]
    res = ["0.70", "0.45", "0.45", "0.70"]
    if retirements is None:
        retirements = [certificate("r2", hs[1], "15"), certificate("r3", hs[2], "5")]
    return ReportInputs(
        period_start=hs[0],
        period_end=hs[-1] + HOUR,
        sites=(SiteLoad("dc", "DE-LU", {h: Decimal(10) for h in hs}),),
        grid=(
            GridFactors(
                "DE-LU",
                ef_tco2e_per_mwh={h: Decimal(v) for h, v in zip(hs, ef, strict=True)},
                carbon_free_share={h: Decimal(v) for h, v in zip(hs, g, strict=True)},
                ef_residual_tco2e_per_mwh={h: Decimal(v) for h, v in zip(hs, res, strict=True)},
                annual_ef_residual_tco2e_per_mwh=None
                if annual_residual is None
                else Decimal(annual_residual),
            ),
        ),
        retirements=tuple(retirements),
    )
