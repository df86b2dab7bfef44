"""Carbon report: Scope 2 (location- and market-based), hourly CFE, green shares (docs/carbon.md).

Arithmetic and rounding
    Every figure is computed exactly (rationals from the Decimal inputs, :mod:`carbon.exact`) and
    rounded once for reporting: tCO2e, MWh and scores to 6 decimals, half to even. Per-hour
    figures are rounded on their own, so rounded hours need not add up to the rounded total in
    the last digit; totals are always rounded from exact sums.

Scope of a retirement
    A retirement is considered when its consumption interval lies within the reporting period
    (so consecutive reports never claim the same retirement twice). It is *eligible* for a site
    when it was retired for that site, its device's zone lies in the scheme's claim area for the
    site's zone (:func:`market.schemes.may_claim`: same zone for EnergyTag GCs, AIB countries
    for GOs, the same country for I-RECs, US RECs and China GECs; same zone for an unknown
    scheme) and its production starts in a local calendar year of the zone that the consumption
    interval touches (vintage: "instruments of that year"). It is *hourly-eligible* for hour h
    when, in addition, its production interval lies within the UTC hour ``[h, h + 1 h)`` and the
    consumption interval covers that hour. Every retirement is listed in the report with the
    reason when it is not applied.

Order of applying instruments
    Where instruments exceed consumption, they are applied in the order EF ascending, then
    production start, then first and last certificate id, then retirement id
    (:meth:`carbon.instruments.RetirementRecord.order_key`). Instruments beyond consumption are
    not applied (no negative emissions); in hourly matching the excess of an hour is reported as
    unapplied and never moves to another hour or site.

Factors
    EFgrid[m,h] is the hourly grid factor, else the zone's annual one; g[m,h] likewise. EFres[m,h]
    is the hourly residual factor, else the annual residual factor, else (no residual mix
    published) the grid-average factor EFgrid[m,h] -- the report says which, per zone, with hour
    counts. The residual factor of annual matching is the published annual one, else the
    unweighted mean of EFres[m,h] over the period's hours (docs/carbon.md example: 0.575).

Chinese definitions
    PUE, CUE (location- and market-based), the green-electricity share and its instrument totals
    as Chinese reporting defines them, beside the figures above: :mod:`carbon.cn`.

Green share and CFE
    Per site, then summed: S_annual = sum_s min(C_s, RE_s) / sum_s C_s, S_hourly =
    sum_{s,h} min(L, RE[s,h]) / sum L (for one site these are the formulas of docs/carbon.md; the
    per-site minimum stops one site's surplus covering another's). G[s,h] is carbon-free
    hourly-eligible instruments plus on-site carbon-free generation; RE[s,h] is renewable
    hourly-eligible instruments. Scores are ``None`` when the period's consumption is zero.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from carbon.cn import (
    DEFINITIONS,
    ChinaFigures,
    GreenSupply,
    china_figures,
    counted_green_mwh,
    green_supply,
)
from carbon.errors import CarbonInputError
from carbon.exact import PLACES, location_based_tco2e, quantize
from carbon.inputs import HOUR, GridFactors, ReportInputs, SiteLoad
from carbon.instruments import RetirementRecord
from market import get_zone
from market.schemes import may_claim

FORMAT = "powerdesk.carbon.report/1"
INSTRUMENT_ORDER = (
    "ef_tco2e_per_mwh ascending, then production_start, certificate_id_first, "
    "certificate_id_last, retirement_id"
)
ROUNDING = (
    f"exact rational arithmetic; reported figures rounded once to {PLACES} decimals, half-even"
)

# Reasons a retirement is not applied (or only in annual matching).
ELIGIBLE = "eligible"
OUTSIDE_PERIOD = "consumption interval outside the reporting period"
UNKNOWN_SITE = "retired for a site not in this report"
OTHER_ZONE = "device outside the site's market boundary"
VINTAGE = "production year outside the consumption year"


@dataclass(frozen=True, slots=True)
class HourDetail:
    """Figures of one site and hour (rounded; MWh, tCO2e, factors as used)."""

    site: str
    interval_start: datetime
    load_mwh: Decimal
    carbon_free_supply_mwh: Decimal
    matched_carbon_free_mwh: Decimal
    cfe_mwh: Decimal
    renewable_matched_mwh: Decimal
    instruments_mwh: Decimal
    applied_mwh: Decimal
    unapplied_excess_mwh: Decimal
    ef_grid_tco2e_per_mwh: Decimal
    carbon_free_share: Decimal
    ef_residual_tco2e_per_mwh: Decimal
    residual_source: str
    location_based_tco2e: Decimal
    market_based_hourly_tco2e: Decimal


@dataclass(frozen=True, slots=True)
class InstrumentUse:
    """What a report did with one retirement."""

    record: RetirementRecord
    status: str
    hourly_eligible: bool
    applied_annual_mwh: Decimal
    applied_hourly_mwh: Decimal


@dataclass(frozen=True, slots=True)
class ResidualUse:
    """Where the residual-mix factors of one zone came from."""

    zone: str
    hours_hourly_residual: int
    hours_annual_residual: int
    hours_grid_average: int
    annual_factor_tco2e_per_mwh: Decimal
    annual_factor_source: str

    @property
    def note(self) -> str:
        """One sentence for the reader of the report."""
        if self.hours_grid_average:
            return (
                f"No residual mix published for {self.hours_grid_average} hours of {self.zone}: "
                "the grid-average factor was used instead (market-based figures are then "
                "understated against a true residual mix)."
            )
        return f"Residual mix of {self.zone} as published."


@dataclass(frozen=True, slots=True)
class SiteFigures:
    """Totals of one site (rounded)."""

    site: str
    zone: str
    consumption_mwh: Decimal
    location_based_tco2e: Decimal
    market_based_annual_tco2e: Decimal
    market_based_hourly_tco2e: Decimal
    applied_annual_mwh: Decimal
    applied_hourly_mwh: Decimal
    unapplied_excess_mwh: Decimal
    unapplied_excess_annual_mwh: Decimal
    cfe_score: Decimal | None
    matched_only_score: Decimal | None
    green_share_annual: Decimal | None
    green_share_hourly: Decimal | None
    china: ChinaFigures | None = None


@dataclass(frozen=True, slots=True)
class CarbonReport:
    """Every figure of a carbon report, rounded for reporting (see module docstring).

    Emissions in [tCO2e], energy in [MWh], scores and shares in [1] (0..1).
    """

    period_start: datetime
    period_end: datetime
    consumption_mwh: Decimal
    location_based_tco2e: Decimal
    market_based_annual_tco2e: Decimal
    market_based_hourly_tco2e: Decimal
    cfe_score: Decimal | None
    matched_only_score: Decimal | None
    green_share_annual: Decimal | None
    green_share_hourly: Decimal | None
    unapplied_excess_mwh: Decimal
    unapplied_excess_annual_mwh: Decimal
    applied_annual_mwh: Decimal
    applied_hourly_mwh: Decimal
    cfe_grid_basis: str
    inputs_sha256: str
    sites: tuple[SiteFigures, ...]
    residual: tuple[ResidualUse, ...]
    instruments: tuple[InstrumentUse, ...]
    hours: tuple[HourDetail, ...]
    datasets: tuple[tuple[str, str, str, str], ...]
    china: ChinaFigures | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The report.json document (docs/formats.md, "Carbon report"), deterministic."""

        def s(x: Decimal | None) -> str | None:
            return None if x is None else str(x)

        return {
            "format": FORMAT,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "hours": len({h.interval_start for h in self.hours}),
            "consumption_mwh": s(self.consumption_mwh),
            "location_based_tco2e": s(self.location_based_tco2e),
            "market_based_annual_tco2e": s(self.market_based_annual_tco2e),
            "market_based_hourly_tco2e": s(self.market_based_hourly_tco2e),
            "cfe_score": s(self.cfe_score),
            "matched_only_score": s(self.matched_only_score),
            "green_share_annual": s(self.green_share_annual),
            "green_share_hourly": s(self.green_share_hourly),
            "unapplied_excess_mwh": s(self.unapplied_excess_mwh),
            "unapplied_excess_annual_mwh": s(self.unapplied_excess_annual_mwh),
            "applied_annual_mwh": s(self.applied_annual_mwh),
            "applied_hourly_mwh": s(self.applied_hourly_mwh),
            **(self.china.to_json_dict() if self.china is not None else {}),
            "inputs_sha256": self.inputs_sha256,
            "parameters": {
                "methodology": "powerdesk docs/carbon.md (GHG Protocol Scope 2 2015, hourly "
                "matching per the 2025 revision draft, 24/7 CFE)",
                "cfe_grid_basis": self.cfe_grid_basis,
                "instrument_order": INSTRUMENT_ORDER,
                "rounding": ROUNDING,
                "annual_residual_factor": "published annual residual factor, else the "
                "unweighted mean of the hourly residual factors over the period",
                "residual_fallback": "grid-average factor where no residual mix is published",
                "retirement_scope": "consumption interval within the reporting period",
                "hourly_eligibility": "production interval within one UTC hour covered by "
                "the consumption interval; same site, device in the scheme's claim area",
                "china_definitions": DEFINITIONS,
            },
            "residual_mix": [
                {
                    "zone": r.zone,
                    "hours_hourly_residual": r.hours_hourly_residual,
                    "hours_annual_residual": r.hours_annual_residual,
                    "hours_grid_average": r.hours_grid_average,
                    "grid_average_used": r.hours_grid_average > 0,
                    "annual_ef_residual_tco2e_per_mwh": str(r.annual_factor_tco2e_per_mwh),
                    "annual_factor_source": r.annual_factor_source,
                    "note": r.note,
                }
                for r in self.residual
            ],
            "emission_factor_datasets": [
                {"name": n, "role": role, "source": src, "sha256": sha}
                for n, role, src, sha in self.datasets
                if role != "meter"
            ],
            "datasets": [
                {"name": n, "role": role, "source": src, "sha256": sha}
                for n, role, src, sha in self.datasets
            ],
            "sites": [
                {
                    "site": f.site,
                    "zone": f.zone,
                    "consumption_mwh": s(f.consumption_mwh),
                    "location_based_tco2e": s(f.location_based_tco2e),
                    "market_based_annual_tco2e": s(f.market_based_annual_tco2e),
                    "market_based_hourly_tco2e": s(f.market_based_hourly_tco2e),
                    "applied_annual_mwh": s(f.applied_annual_mwh),
                    "applied_hourly_mwh": s(f.applied_hourly_mwh),
                    "unapplied_excess_mwh": s(f.unapplied_excess_mwh),
                    "unapplied_excess_annual_mwh": s(f.unapplied_excess_annual_mwh),
                    "cfe_score": s(f.cfe_score),
                    "matched_only_score": s(f.matched_only_score),
                    "green_share_annual": s(f.green_share_annual),
                    "green_share_hourly": s(f.green_share_hourly),
                    **(f.china.to_json_dict() if f.china is not None else {}),
                }
                for f in self.sites
            ],
            "instruments": [
                {
                    **u.record.to_json_dict(),
                    "ef_applied_tco2e_per_mwh": str(u.record.ef),
                    "renewable": u.record.renewable,
                    "carbon_free": u.record.carbon_free,
                    "status": u.status,
                    "hourly_eligible": u.hourly_eligible,
                    "applied_annual_mwh": s(u.applied_annual_mwh),
                    "applied_hourly_mwh": s(u.applied_hourly_mwh),
                }
                for u in self.instruments
            ],
            "hourly": [
                {
                    "site": h.site,
                    "interval_start": h.interval_start.isoformat(),
                    "load_mwh": s(h.load_mwh),
                    "carbon_free_supply_mwh": s(h.carbon_free_supply_mwh),
                    "matched_carbon_free_mwh": s(h.matched_carbon_free_mwh),
                    "cfe_mwh": s(h.cfe_mwh),
                    "renewable_matched_mwh": s(h.renewable_matched_mwh),
                    "instruments_mwh": s(h.instruments_mwh),
                    "applied_mwh": s(h.applied_mwh),
                    "unapplied_excess_mwh": s(h.unapplied_excess_mwh),
                    "ef_grid_tco2e_per_mwh": s(h.ef_grid_tco2e_per_mwh),
                    "carbon_free_share": s(h.carbon_free_share),
                    "ef_residual_tco2e_per_mwh": s(h.ef_residual_tco2e_per_mwh),
                    "residual_source": h.residual_source,
                    "location_based_tco2e": s(h.location_based_tco2e),
                    "market_based_hourly_tco2e": s(h.market_based_hourly_tco2e),
                }
                for h in self.hours
            ],
        }


def inputs_sha256(inputs: ReportInputs) -> str:
    """SHA-256 of the canonical JSON of the inputs (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(inputs.to_json_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------
# Factors per hour


@dataclass(frozen=True, slots=True)
class _ZoneFactors:
    ef_grid: dict[datetime, Fraction]
    share: dict[datetime, Fraction]
    ef_res: dict[datetime, Fraction]
    res_source: dict[datetime, str]
    annual_res: Fraction
    use: ResidualUse
    raw_grid: dict[datetime, Decimal]
    raw_share: dict[datetime, Decimal]
    raw_res: dict[datetime, Decimal]


def _zone_factors(g: GridFactors, hours: Sequence[datetime]) -> _ZoneFactors:
    ef_grid: dict[datetime, Fraction] = {}
    share: dict[datetime, Fraction] = {}
    ef_res: dict[datetime, Fraction] = {}
    source: dict[datetime, str] = {}
    raw_grid: dict[datetime, Decimal] = {}
    raw_share: dict[datetime, Decimal] = {}
    raw_res: dict[datetime, Decimal] = {}
    counts = {"hourly": 0, "annual": 0, "grid-average": 0}
    for h in hours:
        grid = g.ef_tco2e_per_mwh.get(h, g.annual_ef_tco2e_per_mwh)
        if grid is None:
            raise CarbonInputError(f"no grid emission factor for {g.zone} at {h.isoformat()}")
        cf = g.carbon_free_share.get(h, g.annual_carbon_free_share)
        if cf is None:
            raise CarbonInputError(f"no carbon-free share for {g.zone} at {h.isoformat()}")
        res = g.ef_residual_tco2e_per_mwh.get(h)
        if res is not None:
            src = "hourly"
        elif g.annual_ef_residual_tco2e_per_mwh is not None:
            res, src = g.annual_ef_residual_tco2e_per_mwh, "annual"
        else:
            res, src = grid, "grid-average"
        counts[src] += 1
        raw_grid[h], raw_share[h], raw_res[h], source[h] = grid, cf, res, src
        ef_grid[h], share[h], ef_res[h] = Fraction(grid), Fraction(cf), Fraction(res)
    if g.annual_ef_residual_tco2e_per_mwh is not None:
        annual = Fraction(g.annual_ef_residual_tco2e_per_mwh)
        annual_source = "published annual residual factor"
    else:
        annual = sum(ef_res.values(), Fraction(0)) / len(hours)
        annual_source = (
            "mean of hourly residual factors"
            if counts["grid-average"] == 0
            else "mean of hourly factors, grid average where no residual mix is published"
        )
    use = ResidualUse(
        zone=g.zone,
        hours_hourly_residual=counts["hourly"],
        hours_annual_residual=counts["annual"],
        hours_grid_average=counts["grid-average"],
        annual_factor_tco2e_per_mwh=quantize(annual),
        annual_factor_source=annual_source,
    )
    return _ZoneFactors(ef_grid, share, ef_res, source, annual, use, raw_grid, raw_share, raw_res)


# ----------------------------------------------------------------------------------------------
# Eligibility


def _local_years(start: datetime, end: datetime, tz: ZoneInfo) -> range:
    last = end - timedelta(microseconds=1)  # half-open: the last instant is just before end
    return range(start.astimezone(tz).year, last.astimezone(tz).year + 1)


def _classify(
    r: RetirementRecord, inputs: ReportInputs, sites: dict[str, SiteLoad]
) -> tuple[str, datetime | None]:
    """Status of a retirement and, when hourly-eligible, its production hour."""
    if r.consumption_start < inputs.period_start or r.consumption_end > inputs.period_end:
        return OUTSIDE_PERIOD, None
    site = sites.get(r.site)
    if site is None:
        return UNKNOWN_SITE, None
    if not may_claim(r.scheme, r.zone, site.zone):
        return OTHER_ZONE, None
    tz = get_zone(site.zone).zoneinfo
    if r.production_start.astimezone(tz).year not in _local_years(
        r.consumption_start, r.consumption_end, tz
    ):
        return VINTAGE, None
    hour = r.production_start.replace(minute=0, second=0, microsecond=0)
    end = hour + HOUR
    if r.production_end <= end and r.consumption_start <= hour and end <= r.consumption_end:
        return ELIGIBLE, hour
    return ELIGIBLE, None


def _apply(
    instruments: Sequence[RetirementRecord], capacity: Fraction, applied: dict[str, Fraction]
) -> tuple[Fraction, Fraction]:
    """Apply instruments in the documented order up to ``capacity`` [MWh].

    Returns the applied energy and its emissions; adds each instrument's applied energy to
    ``applied``.
    """
    used = Fraction(0)
    emissions = Fraction(0)
    for r in sorted(instruments, key=RetirementRecord.order_key):
        take = min(Fraction(r.energy_wh, 1_000_000), capacity - used)
        if take <= 0:
            break
        used += take
        emissions += take * Fraction(r.ef)
        applied[r.retirement_id] += take
    return used, emissions


def _ratio(num: Fraction, den: Fraction) -> Decimal | None:
    return None if den == 0 else quantize(num / den)


# ----------------------------------------------------------------------------------------------
# The report


def compute_report(inputs: ReportInputs) -> CarbonReport:
    """Compute every figure of the carbon report from its inputs (pure, deterministic).

    Parameters
    ----------
    inputs
        Period, sites with hourly load [MWh], grid factors, retirements, dataset pins and
        declared parameters.

    Returns
    -------
    CarbonReport
        Figures rounded once to 6 decimals, half-even, from exact arithmetic.

    Raises
    ------
    CarbonInputError
        A grid factor is missing for an hour of the period.
    """
    hours = inputs.hours
    sites = {s.name: s for s in inputs.sites}
    factors = {
        g.zone: _zone_factors(g, hours)
        for g in inputs.grid
        if g.zone in {s.zone for s in inputs.sites}
    }

    status: dict[str, str] = {}
    hourly_hour: dict[str, datetime | None] = {}
    annual_by_site: dict[str, list[RetirementRecord]] = defaultdict(list)
    hourly_by_site_hour: dict[tuple[str, datetime], list[RetirementRecord]] = defaultdict(list)
    for r in inputs.retirements:
        kind, hour = _classify(r, inputs, sites)
        status[r.retirement_id] = kind
        hourly_hour[r.retirement_id] = hour
        if kind == ELIGIBLE:
            annual_by_site[r.site].append(r)
            if hour is not None:
                hourly_by_site_hour[(r.site, hour)].append(r)

    applied_annual: dict[str, Fraction] = defaultdict(Fraction)
    applied_hourly: dict[str, Fraction] = defaultdict(Fraction)
    site_figures: list[SiteFigures] = []
    details: list[HourDetail] = []
    tot: dict[str, Fraction] = defaultdict(Fraction)
    green_total = GreenSupply()
    it_total: Fraction | None = Fraction(0)

    for site in inputs.sites:
        f = factors[site.zone]
        acc: dict[str, Fraction] = defaultdict(Fraction)
        for h in hours:
            load = Fraction(site.load_mwh[h])
            instruments = hourly_by_site_hour.get((site.name, h), [])
            offered = sum((Fraction(r.energy_wh, 1_000_000) for r in instruments), Fraction(0))
            carbon_free = sum(
                (Fraction(r.energy_wh, 1_000_000) for r in instruments if r.carbon_free),
                Fraction(site.onsite_carbon_free_mwh.get(h, Decimal(0))),
            )
            renewable = sum(
                (Fraction(r.energy_wh, 1_000_000) for r in instruments if r.renewable),
                Fraction(0),
            )
            matched, inst_emissions = _apply(instruments, load, applied_hourly)
            excess = max(Fraction(0), offered - load)
            u = min(load, carbon_free)
            cfe = u + f.share[h] * (load - u)
            re_matched = min(load, renewable)
            lb = location_based_tco2e([(site.load_mwh[h], f.raw_grid[h])])
            mb = inst_emissions + (load - matched) * f.ef_res[h]
            for key, value in (
                ("load", load),
                ("u", u),
                ("cfe", cfe),
                ("re", re_matched),
                ("applied_hourly", matched),
                ("excess", excess),
                ("lb", lb),
                ("mb_hourly", mb),
            ):
                acc[key] += value
            details.append(
                HourDetail(
                    site=site.name,
                    interval_start=h,
                    load_mwh=quantize(load),
                    carbon_free_supply_mwh=quantize(carbon_free),
                    matched_carbon_free_mwh=quantize(u),
                    cfe_mwh=quantize(cfe),
                    renewable_matched_mwh=quantize(re_matched),
                    instruments_mwh=quantize(offered),
                    applied_mwh=quantize(matched),
                    unapplied_excess_mwh=quantize(excess),
                    ef_grid_tco2e_per_mwh=f.raw_grid[h],
                    carbon_free_share=f.raw_share[h],
                    ef_residual_tco2e_per_mwh=f.raw_res[h],
                    residual_source=f.res_source[h],
                    location_based_tco2e=quantize(lb),
                    market_based_hourly_tco2e=quantize(mb),
                )
            )
        # Annual matching: C_s, A_s, M_s = min(C_s, A_s) in the documented order.
        annual = annual_by_site.get(site.name, [])
        offered_annual = sum((Fraction(r.energy_wh, 1_000_000) for r in annual), Fraction(0))
        renewable_annual = sum(
            (Fraction(r.energy_wh, 1_000_000) for r in annual if r.renewable), Fraction(0)
        )
        matched_annual, inst_annual = _apply(annual, acc["load"], applied_annual)
        acc["mb_annual"] = inst_annual + (acc["load"] - matched_annual) * f.annual_res
        acc["applied_annual"] = matched_annual
        acc["excess_annual"] = max(Fraction(0), offered_annual - acc["load"])
        acc["re_annual"] = min(acc["load"], renewable_annual)
        for key, value in acc.items():
            tot[key] += value
        it = (
            sum((Fraction(v) for v in site.it_load_mwh.values()), Fraction(0))
            if site.it_load_mwh
            else None
        )
        onsite = sum((Fraction(v) for v in site.onsite_carbon_free_mwh.values()), Fraction(0))
        green = green_supply(annual, onsite)
        counted = counted_green_mwh(acc["load"], green)
        green_total += green
        tot["green_counted"] += counted
        it_total = None if it is None or it_total is None else it_total + it
        site_figures.append(
            SiteFigures(
                site=site.name,
                zone=site.zone,
                consumption_mwh=quantize(acc["load"]),
                location_based_tco2e=quantize(acc["lb"]),
                market_based_annual_tco2e=quantize(acc["mb_annual"]),
                market_based_hourly_tco2e=quantize(acc["mb_hourly"]),
                applied_annual_mwh=quantize(acc["applied_annual"]),
                applied_hourly_mwh=quantize(acc["applied_hourly"]),
                unapplied_excess_mwh=quantize(acc["excess"]),
                unapplied_excess_annual_mwh=quantize(acc["excess_annual"]),
                cfe_score=_ratio(acc["cfe"], acc["load"]),
                matched_only_score=_ratio(acc["u"], acc["load"]),
                green_share_annual=_ratio(acc["re_annual"], acc["load"]),
                green_share_hourly=_ratio(acc["re"], acc["load"]),
                china=china_figures(acc["load"], it, acc["lb"], acc["mb_annual"], green, counted),
            )
        )

    uses = tuple(
        InstrumentUse(
            record=r,
            status=status[r.retirement_id],
            hourly_eligible=hourly_hour[r.retirement_id] is not None,
            applied_annual_mwh=quantize(applied_annual.get(r.retirement_id, Fraction(0))),
            applied_hourly_mwh=quantize(applied_hourly.get(r.retirement_id, Fraction(0))),
        )
        for r in sorted(inputs.retirements, key=RetirementRecord.order_key)
    )
    return CarbonReport(
        period_start=inputs.period_start,
        period_end=inputs.period_end,
        consumption_mwh=quantize(tot["load"]),
        location_based_tco2e=quantize(tot["lb"]),
        market_based_annual_tco2e=quantize(tot["mb_annual"]),
        market_based_hourly_tco2e=quantize(tot["mb_hourly"]),
        cfe_score=_ratio(tot["cfe"], tot["load"]),
        matched_only_score=_ratio(tot["u"], tot["load"]),
        green_share_annual=_ratio(tot["re_annual"], tot["load"]),
        green_share_hourly=_ratio(tot["re"], tot["load"]),
        unapplied_excess_mwh=quantize(tot["excess"]),
        unapplied_excess_annual_mwh=quantize(tot["excess_annual"]),
        applied_annual_mwh=quantize(tot["applied_annual"]),
        applied_hourly_mwh=quantize(tot["applied_hourly"]),
        cfe_grid_basis=inputs.parameters.cfe_grid_basis,
        inputs_sha256=inputs_sha256(inputs),
        sites=tuple(site_figures),
        residual=tuple(factors[z].use for z in sorted(factors)),
        instruments=uses,
        hours=tuple(details),
        datasets=tuple((d.name, d.role, d.source, d.sha256) for d in inputs.datasets),
        china=china_figures(
            tot["load"],
            it_total,
            tot["lb"],
            tot["mb_annual"],
            green_total,
            tot["green_counted"],
        ),
    )
