"""Carbon figures as Chinese reporting defines them for computing facilities (pure).

Beside the GHG Protocol figures of :mod:`carbon.report`, per site and for the report:

``pue``
    Power usage effectiveness: facility energy / IT equipment energy [1] (GB/T 32910.3-2016,
    PUE = total data-centre energy / IT equipment energy). Facility energy is the metered
    consumption ``L`` of the report; IT energy the site's metered IT load (``it_load_mwh``).
``cue_location_kg_per_kwh``, ``cue_market_kg_per_kwh``
    Carbon usage effectiveness: emissions / IT equipment energy [kgCO2e/kWh] (= tCO2e/MWh),
    location-based (grid factors; for CN zones the official annual factors) and market-based
    with annual matching (green certificates applied, :mod:`carbon.report`).
``green_electricity_share``
    (green-power trading MWh + retired unbundled GEC MWh + on-site renewable MWh) / consumption,
    capped at consumption per site [1] (the 2026 action plan's 绿电占比: green power bought
    through green-electricity trading 绿电交易, unbundled green certificates 绿证 retired, and
    on-site renewable generation).
``green_power_trading_mwh``, ``gec_unbundled_mwh``
    The two instrument totals, separately: eligible renewable China GEC retirements of the site
    that are *bundled* (transferred with a green-electricity trade) and *unbundled* (bought on
    their own). A retirement record says which through its ``bundled`` field, which the ledger
    sets from the bundle's contract (``ledger transfer_bundled``); a GEC retirement without it
    (a hand-written record) is not counted in either and is reported as ``gec_unclassified_mwh``.

Exact arithmetic on the unrounded sums; every figure is rounded once to 6 decimals, half-even.
Figures that divide by IT energy are ``None`` where the site gives no IT load (or it is 0); the
share is ``None`` without consumption. On-site renewable is the site's on-site carbon-free
generation (``onsite_carbon_free_mwh``: powerdesk sites report only renewable on-site plants).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from carbon.exact import quantize
from carbon.instruments import RetirementRecord, is_gec

DEFINITIONS = (
    "PUE = facility energy / IT energy; CUE = tCO2e / IT MWh (kgCO2e/kWh), location-based and "
    "market-based (annual matching); green electricity share = min(consumption, green-power "
    "trading MWh + unbundled GEC MWh + on-site renewable MWh) / consumption, per site"
)


@dataclass(frozen=True, slots=True)
class GreenSupply:
    """Green electricity of one site in the period, exact [MWh]."""

    green_power_trading: Fraction = Fraction(0)
    gec_unbundled: Fraction = Fraction(0)
    gec_unclassified: Fraction = Fraction(0)
    onsite_renewable: Fraction = Fraction(0)

    def __add__(self, other: GreenSupply) -> GreenSupply:
        return GreenSupply(
            self.green_power_trading + other.green_power_trading,
            self.gec_unbundled + other.gec_unbundled,
            self.gec_unclassified + other.gec_unclassified,
            self.onsite_renewable + other.onsite_renewable,
        )


def green_supply(eligible: Iterable[RetirementRecord], onsite_renewable: Fraction) -> GreenSupply:
    """Green electricity of a site from its eligible retirements and on-site generation."""
    trading = unbundled = unclassified = Fraction(0)
    for r in eligible:
        if not is_gec(r.scheme) or not r.renewable:
            continue
        energy = Fraction(r.energy_wh, 1_000_000)
        bundled = r.bundled
        if bundled is True:
            trading += energy
        elif bundled is False:
            unbundled += energy
        else:
            unclassified += energy
    return GreenSupply(trading, unbundled, unclassified, onsite_renewable)


@dataclass(frozen=True, slots=True)
class ChinaFigures:
    """The Chinese-definition figures of a site or a report (rounded, see module docstring)."""

    it_energy_mwh: Decimal | None
    pue: Decimal | None
    cue_location_kg_per_kwh: Decimal | None
    cue_market_kg_per_kwh: Decimal | None
    green_electricity_share: Decimal | None
    green_power_trading_mwh: Decimal
    gec_unbundled_mwh: Decimal
    gec_unclassified_mwh: Decimal
    onsite_renewable_mwh: Decimal

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready figures (Decimals as strings)."""

        def s(x: Decimal | None) -> str | None:
            return None if x is None else str(x)

        return {
            "it_energy_mwh": s(self.it_energy_mwh),
            "pue": s(self.pue),
            "cue_location_kg_per_kwh": s(self.cue_location_kg_per_kwh),
            "cue_market_kg_per_kwh": s(self.cue_market_kg_per_kwh),
            "green_electricity_share": s(self.green_electricity_share),
            "green_power_trading_mwh": s(self.green_power_trading_mwh),
            "gec_unbundled_mwh": s(self.gec_unbundled_mwh),
            "gec_unclassified_mwh": s(self.gec_unclassified_mwh),
            "onsite_renewable_mwh": s(self.onsite_renewable_mwh),
        }


def _per(num: Fraction, den: Fraction | None) -> Decimal | None:
    return None if not den else quantize(num / den)


def china_figures(
    consumption_mwh: Fraction,
    it_mwh: Fraction | None,
    location_tco2e: Fraction,
    market_annual_tco2e: Fraction,
    green: GreenSupply,
    green_counted_mwh: Fraction,
) -> ChinaFigures:
    """The figures from exact sums.

    ``green_counted_mwh`` is the green electricity counted in the share: per site
    ``min(consumption, trading + unbundled GEC + on-site)``, summed over sites for a report.
    """
    return ChinaFigures(
        it_energy_mwh=None if it_mwh is None else quantize(it_mwh),
        pue=_per(consumption_mwh, it_mwh),
        cue_location_kg_per_kwh=_per(location_tco2e, it_mwh),
        cue_market_kg_per_kwh=_per(market_annual_tco2e, it_mwh),
        green_electricity_share=_per(green_counted_mwh, consumption_mwh),
        green_power_trading_mwh=quantize(green.green_power_trading),
        gec_unbundled_mwh=quantize(green.gec_unbundled),
        gec_unclassified_mwh=quantize(green.gec_unclassified),
        onsite_renewable_mwh=quantize(green.onsite_renewable),
    )


def counted_green_mwh(consumption_mwh: Fraction, green: GreenSupply) -> Fraction:
    """Green electricity a site counts: at most its consumption [MWh]."""
    total = green.green_power_trading + green.gec_unbundled + green.onsite_renewable
    return min(consumption_mwh, total)
