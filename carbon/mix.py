"""Grid emission factor and carbon-free share from a generation mix.

Where no published hourly grid factor exists (SMARD publishes generation per fuel, not emissions),
the hourly grid-average factor and carbon-free share follow from the mix:

    EFgrid[h] = sum_f P[f,h] * EF_f / sum_f P[f,h]        [tCO2e/MWh]
    g[h]      = sum_{f carbon-free} P[f,h] / sum_f P[f,h]  [0..1]

over the fuels f that count as generation (storage discharge, e.g. pumped hydro, is excluded:
its energy was generated earlier by the mix itself and counting it would double count).

Per-fuel direct emission factors (:data:`DIRECT_EF_TCO2E_PER_MWH`) are *direct combustion CO2 per
MWh of electricity* (no upstream, no infrastructure), derived transparently as

    EF_f = fuel factor [tCO2/TJ fuel] * 0.0036 [TJ/MWh] / eta_f [net electrical efficiency]

with the fuel factors of the 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Vol. 2
(Energy), Ch. 2, Table 2.2 (default CO2 emission factors for stationary combustion): lignite
101.0, other bituminous coal 94.6, natural gas 56.1, residual fuel oil 77.4 tCO2/TJ; and the
declared typical net efficiencies of the German fleet: lignite 0.38, hard coal 0.42, gas 0.50
(CCGT, open-cycle and CHP together), other conventional (oil, mixed fuels) 0.38. Renewable and
nuclear generation have no direct emissions (IPCC AR5 WGIII Annex III, Table A.III.2: direct
emissions 0 for wind, solar, hydro, nuclear); biomass CO2 is biogenic and reported outside the
scopes (GHG Protocol), so its direct factor here is 0. These derived factors are an estimate for
when no published factor exists; a report built on them names this module as its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from types import MappingProxyType

from carbon.errors import CarbonInputError
from carbon.exact import quantize

TJ_PER_MWH = Decimal("0.0036")

#: 2006 IPCC Guidelines, Vol. 2, Ch. 2, Table 2.2 default CO2 factors [tCO2/TJ of fuel].
IPCC_2006_FUEL_CO2_T_PER_TJ: Mapping[str, Decimal] = MappingProxyType(
    {
        "lignite": Decimal("101.0"),
        "hard_coal": Decimal("94.6"),
        "gas": Decimal("56.1"),
        "other_conventional": Decimal("77.4"),
    }
)

#: Declared net electrical efficiencies [1] used to turn fuel factors into electricity factors.
NET_EFFICIENCY: Mapping[str, Decimal] = MappingProxyType(
    {
        "lignite": Decimal("0.38"),
        "hard_coal": Decimal("0.42"),
        "gas": Decimal("0.50"),
        "other_conventional": Decimal("0.38"),
    }
)

#: Fuels counted as carbon-free in the carbon-free share g (renewables and nuclear, as in the
#: Electricity Maps "low-carbon" share, so both dataset kinds mean the same thing).
CARBON_FREE_FUELS = frozenset(
    {
        "biomass",
        "hydro",
        "nuclear",
        "other_renewables",
        "solar",
        "wind_offshore",
        "wind_onshore",
        "geothermal",
        "wind",
    }
)

#: Storage discharge: excluded from the mix (see module docstring).
STORAGE_FUELS = frozenset({"pumped_hydro", "battery"})


def _derived(fuel: str) -> Decimal:
    ef = IPCC_2006_FUEL_CO2_T_PER_TJ[fuel] * TJ_PER_MWH / NET_EFFICIENCY[fuel]
    return ef.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


#: Direct emission factor per fuel [tCO2e/MWh of electricity], 4 decimals (half-even).
DIRECT_EF_TCO2E_PER_MWH: Mapping[str, Decimal] = MappingProxyType(
    {
        **{fuel: _derived(fuel) for fuel in IPCC_2006_FUEL_CO2_T_PER_TJ},
        **{fuel: Decimal(0) for fuel in sorted(CARBON_FREE_FUELS)},
    }
)

DIRECT_EF_SOURCE = (
    "carbon.mix.DIRECT_EF_TCO2E_PER_MWH: IPCC 2006 GL Vol.2 Ch.2 Table 2.2 fuel CO2 factors / "
    "declared net efficiencies (lignite 0.38, hard coal 0.42, gas 0.50, other 0.38); "
    "0 for renewables and nuclear (IPCC AR5 WGIII Annex III Table A.III.2, direct)"
)


@dataclass(frozen=True, slots=True)
class GridPoint:
    """Grid factors of one interval derived from its mix.

    Parameters
    ----------
    ef_tco2e_per_mwh
        Generation-weighted direct emission factor [tCO2e/MWh], 6 decimals, half-even.
    carbon_free_share
        Carbon-free share of generation [1], 6 decimals, half-even.
    """

    ef_tco2e_per_mwh: Decimal
    carbon_free_share: Decimal


def grid_factors(
    generation_mw_by_fuel: Mapping[str, Decimal],
    ef_by_fuel: Mapping[str, Decimal] = DIRECT_EF_TCO2E_PER_MWH,
) -> GridPoint:
    """Grid-average emission factor and carbon-free share of one interval's generation mix.

    Parameters
    ----------
    generation_mw_by_fuel
        Mean generation per fuel [MW] in the interval (the interval length cancels out).
        Storage fuels (:data:`STORAGE_FUELS`) are ignored; a fuel missing from ``ef_by_fuel`` is
        an error, so nothing is silently dropped.
    ef_by_fuel
        Direct emission factor per fuel [tCO2e/MWh].

    Returns
    -------
    GridPoint
        Factors rounded once to 6 decimals (half-even) from the exact ratio.
    """
    total = Fraction(0)
    emissions = Fraction(0)
    carbon_free = Fraction(0)
    for fuel in sorted(generation_mw_by_fuel):
        if fuel in STORAGE_FUELS:
            continue
        power = generation_mw_by_fuel[fuel]
        if not power.is_finite() or power < 0:
            raise CarbonInputError(f"generation of {fuel} must be a finite value >= 0, not {power}")
        if fuel not in ef_by_fuel:
            raise CarbonInputError(f"no emission factor for fuel {fuel!r}")
        p = Fraction(power)
        total += p
        emissions += p * Fraction(ef_by_fuel[fuel])
        if fuel in CARBON_FREE_FUELS:
            carbon_free += p
    if total == 0:
        raise CarbonInputError("total generation is zero; the grid factor is undefined")
    return GridPoint(quantize(emissions / total), quantize(carbon_free / total))
