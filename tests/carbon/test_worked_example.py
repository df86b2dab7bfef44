"""The worked example of docs/carbon.md, reproduced exactly (golden test)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carbon import compute_report
from tests.carbon.helpers import worked_example


def D(text: str | int) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize("annual_residual", ["0.575", None])
def test_every_figure_of_the_worked_example(annual_residual: str | None) -> None:
    # None: the annual residual is the mean of the hourly ones, 0.575 (docs/carbon.md).
    report = compute_report(worked_example(annual_residual))
    assert [h.cfe_mwh for h in report.hours] == [D("2"), D("10"), D("7.5"), D("2")]
    assert report.cfe_score == D("0.5375")
    assert report.matched_only_score == D("0.375")
    assert report.green_share_hourly == D("0.375")
    assert report.unapplied_excess_mwh == D("5")
    assert [h.unapplied_excess_mwh for h in report.hours] == [D(0), D(5), D(0), D(0)]
    assert report.green_share_annual == D("0.5")
    assert report.location_based_tco2e == D("18.0")
    assert report.market_based_hourly_tco2e == D("16.25")
    assert report.market_based_annual_tco2e == D("11.5")
    assert report.residual[0].annual_factor_tco2e_per_mwh == D("0.575")
    assert report.consumption_mwh == D("40")
    # Annual matching applies all 20 MWh (no excess), hourly matching 15 MWh.
    assert report.applied_annual_mwh == D("20")
    assert report.unapplied_excess_annual_mwh == D(0)
    assert report.applied_hourly_mwh == D("15")
    # Reported with exactly six decimals.
    doc = report.to_json_dict()
    assert doc["cfe_score"] == "0.537500"
    assert doc["market_based_annual_tco2e"] == "11.500000"
    assert doc["unapplied_excess_mwh"] == "5.000000"
    assert doc["residual_mix"][0]["grid_average_used"] is False


def test_hourly_figures_of_the_worked_example() -> None:
    report = compute_report(worked_example())
    assert [h.matched_carbon_free_mwh for h in report.hours] == [D(0), D(10), D(5), D(0)]
    assert [h.location_based_tco2e for h in report.hours] == [D(6), D(3), D(3), D(6)]
    assert [h.market_based_hourly_tco2e for h in report.hours] == [D(7), D(0), D("2.25"), D(7)]
    uses = {u.record.retirement_id: u for u in report.instruments}
    assert uses["r2"].applied_hourly_mwh == D(10)
    assert uses["r2"].applied_annual_mwh == D(15)
    assert uses["r3"].applied_hourly_mwh == D(5)


def test_without_residual_mix_the_grid_average_is_used_and_said() -> None:
    inputs = worked_example(None)
    g = inputs.grid[0]
    from dataclasses import replace

    bare = replace(inputs, grid=(replace(g, ef_residual_tco2e_per_mwh={}),))
    report = compute_report(bare)
    # Hourly: unmatched load priced at EFgrid: 10*0.6 + 0 + 5*0.3 + 10*0.6 = 13.5.
    assert report.market_based_hourly_tco2e == D("13.5")
    # Annual: mean grid factor 0.45 on the 20 unmatched MWh.
    assert report.market_based_annual_tco2e == D("9")
    doc = report.to_json_dict()
    assert doc["residual_mix"][0]["grid_average_used"] is True
    assert doc["residual_mix"][0]["hours_grid_average"] == 4
    assert "grid-average" in doc["residual_mix"][0]["note"]
