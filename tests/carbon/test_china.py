"""PUE, CUE and the green-electricity share as Chinese reporting defines them (carbon.cn).

Every expected figure is worked by hand in the comments.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from carbon import (
    CarbonInputError,
    GridFactors,
    ReportInputs,
    RetirementRecord,
    SiteLoad,
    compute_report,
)
from tests.carbon.helpers import HOUR, certificate

T0 = datetime(2024, 6, 1, 0, tzinfo=UTC)
H1 = T0 + HOUR


def _gec(rid: str, mwh: str, bundled: bool | None, technology: str = "wind") -> RetirementRecord:
    base = certificate(
        rid,
        T0,
        mwh,
        technology=technology,
        zone="CN-GS",
        scheme="China GEC",
        consumption=(T0, T0 + 2 * HOUR),
    )
    return dataclasses.replace(base, bundled=bundled)


def _inputs(it: dict[datetime, Decimal] | None = None) -> ReportInputs:
    return ReportInputs(
        period_start=T0,
        period_end=T0 + 2 * HOUR,
        sites=(
            SiteLoad(
                "dc",
                "CN-GS",
                {T0: Decimal(10), H1: Decimal(12)},
                onsite_carbon_free_mwh={H1: Decimal(1)},
                it_load_mwh=it if it is not None else {T0: Decimal(8), H1: Decimal(10)},
            ),
        ),
        grid=(
            GridFactors(
                "CN-GS",
                annual_ef_tco2e_per_mwh=Decimal("0.4772"),
                annual_carbon_free_share=Decimal("0.362"),
            ),
        ),
        retirements=(
            _gec("trade", "5", bundled=True),  # green-electricity trading
            _gec("gec", "3", bundled=False, technology="solar"),  # unbundled GEC
            _gec("old", "2", bundled=None),  # no bundling record
        ),
    )


def test_pue_cue_and_green_electricity_share_by_hand() -> None:
    report = compute_report(_inputs())
    c = report.china
    assert c is not None
    # facility 10 + 12 = 22 MWh over IT 8 + 10 = 18 MWh
    assert c.it_energy_mwh == Decimal("18.000000")
    assert c.pue == Decimal("1.222222")  # 22 / 18 = 1.2222...
    # location-based 22 MWh x 0.4772 = 10.4984 tCO2e; / 18 MWh = 0.583244... kg/kWh
    assert report.location_based_tco2e == Decimal("10.498400")
    assert c.cue_location_kg_per_kwh == Decimal("0.583244")
    # market-based (annual): 10 MWh of certificates at EF 0, (22 - 10) x 0.4772 = 5.7264 tCO2e
    # (no residual mix: the grid average); / 18 = 0.318133...
    assert report.market_based_annual_tco2e == Decimal("5.726400")
    assert c.cue_market_kg_per_kwh == Decimal("0.318133")
    # green electricity: trading 5 + unbundled 3 + on-site 1 = 9 MWh of 22 = 0.409090...
    assert c.green_power_trading_mwh == Decimal("5.000000")
    assert c.gec_unbundled_mwh == Decimal("3.000000")
    assert c.gec_unclassified_mwh == Decimal("2.000000")  # not counted in the share
    assert c.onsite_renewable_mwh == Decimal("1.000000")
    assert c.green_electricity_share == Decimal("0.409091")
    doc = report.to_json_dict()
    assert doc["pue"] == "1.222222"
    assert doc["sites"][0]["green_electricity_share"] == "0.409091"
    assert doc["green_power_trading_mwh"] == "5.000000"
    assert doc["gec_unbundled_mwh"] == "3.000000"


def test_without_it_metering_pue_and_cue_are_absent_and_inputs_keep_their_form() -> None:
    inputs = _inputs(it={})
    report = compute_report(inputs)
    assert report.china is not None
    assert report.china.pue is None
    assert report.china.cue_location_kg_per_kwh is None
    assert "it_load_mwh" not in inputs.to_json_dict()["sites"][0]
    # the IT load travels in the inputs document, so a bundle recomputes PUE and CUE
    again = compute_report(ReportInputs.from_json_dict(_inputs().to_json_dict())).china
    first = compute_report(_inputs()).china
    assert again is not None
    assert first is not None
    assert (again.pue, again.cue_location_kg_per_kwh, again.cue_market_kg_per_kwh) == (
        first.pue,
        first.cue_location_kg_per_kwh,
        first.cue_market_kg_per_kwh,
    )


def test_it_load_must_cover_every_hour() -> None:
    with pytest.raises(CarbonInputError, match="no IT load for hour"):
        _inputs(it={T0: Decimal(8)})


def test_share_is_capped_at_consumption() -> None:
    big = _gec("big", "30", bundled=False)
    inputs = _inputs()
    report = compute_report(
        ReportInputs(
            inputs.period_start,
            inputs.period_end,
            inputs.sites,
            inputs.grid,
            retirements=(big,),
        )
    )
    assert report.china is not None
    assert report.china.green_electricity_share == Decimal("1.000000")
    assert report.china.gec_unbundled_mwh == Decimal("30.000000")
