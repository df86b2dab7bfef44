"""Hour grid on DST days, input validation, GEC rules and the generation-mix factors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from carbon import (
    DIRECT_EF_TCO2E_PER_MWH,
    CarbonInputError,
    GridFactors,
    ReportInputs,
    SiteLoad,
    compute_report,
    grid_factors,
    quantize,
)
from market import delivery_day_bounds, delivery_intervals
from tests.carbon.helpers import HOUR, T0, certificate


def _day_inputs(day: date, zone: str = "DE-LU") -> ReportInputs:
    start, end = delivery_day_bounds(day, zone)
    hours = list(delivery_intervals(day, zone, HOUR))
    hs = [h.to_pydatetime() for h in hours]
    return ReportInputs(
        period_start=start,
        period_end=end,
        sites=(SiteLoad("dc", zone, {h: Decimal(10) for h in hs}),),
        grid=(
            GridFactors(
                zone,
                ef_tco2e_per_mwh={h: Decimal("0.4") for h in hs},
                carbon_free_share={h: Decimal("0.5") for h in hs},
            ),
        ),
        retirements=(certificate("w", hs[2], "4", zone=zone),),
    )


@pytest.mark.parametrize(
    ("day", "n_hours"),
    [(date(2025, 3, 12), 24), (date(2025, 3, 30), 23), (date(2025, 10, 26), 25)],
)
def test_local_day_reports_on_normal_and_dst_days(day: date, n_hours: int) -> None:
    inputs = _day_inputs(day)
    assert len(inputs.hours) == n_hours
    # The report's UTC hour grid is the zone's hourly delivery grid of that day.
    assert list(inputs.hours) == [h.to_pydatetime() for h in delivery_intervals(day, "DE-LU", HOUR)]
    r = compute_report(inputs)
    assert r.consumption_mwh == Decimal(10 * n_hours)
    assert r.location_based_tco2e == Decimal(4 * n_hours)
    # 4 MWh matched of 10*n; the rest at 0.5 grid share.
    expected = (Decimal(4) + Decimal("0.5") * (10 * n_hours - 4)) / (10 * n_hours)
    assert r.cfe_score == quantize(__import__("fractions").Fraction(expected))
    assert r.to_json_dict()["hours"] == n_hours


def test_missing_load_hour_and_missing_factor_are_errors() -> None:
    inputs = _day_inputs(date(2025, 3, 30))
    short = dict(inputs.sites[0].load_mwh)
    del short[inputs.hours[5]]
    with pytest.raises(CarbonInputError, match="no load for hour"):
        ReportInputs(
            inputs.period_start, inputs.period_end, (SiteLoad("dc", "DE-LU", short),), inputs.grid
        )
    g = inputs.grid[0]
    partial = dict(g.ef_tco2e_per_mwh)
    del partial[inputs.hours[3]]
    bad = ReportInputs(
        inputs.period_start,
        inputs.period_end,
        inputs.sites,
        (GridFactors("DE-LU", partial, g.carbon_free_share),),
    )
    with pytest.raises(CarbonInputError, match="no grid emission factor"):
        compute_report(bad)
    # ...unless an annual factor covers the hour.
    ok = ReportInputs(
        inputs.period_start,
        inputs.period_end,
        inputs.sites,
        (
            GridFactors(
                "DE-LU", partial, g.carbon_free_share, annual_ef_tco2e_per_mwh=Decimal("0.4")
            ),
        ),
    )
    assert compute_report(ok).location_based_tco2e == Decimal(4 * 23)


def test_naive_times_and_bad_values_are_refused() -> None:
    with pytest.raises(CarbonInputError, match="offset"):
        SiteLoad("dc", "DE-LU", {datetime(2025, 3, 1): Decimal(1)})  # noqa: DTZ001
    with pytest.raises(CarbonInputError, match="below 0"):
        SiteLoad("dc", "DE-LU", {T0: Decimal(-1)})
    with pytest.raises(CarbonInputError, match="above 1"):
        GridFactors("DE-LU", carbon_free_share={T0: Decimal("1.2")})
    with pytest.raises(CarbonInputError, match="not the start of a UTC hour"):
        SiteLoad("dc", "DE-LU", {T0 + timedelta(minutes=15): Decimal(1)})


def test_china_gec_is_whole_mwh_and_a_range_counts_once() -> None:
    with pytest.raises(CarbonInputError, match="whole MWh"):
        certificate("g", T0, "1.5", scheme="China GEC", zone="CN-GS")
    inputs = _day_inputs(date(2025, 3, 12))
    h = inputs.hours[4]
    one = certificate("g1", h, "3", scheme="China GEC")
    twice = certificate("g2", h, "3", scheme="China GEC")
    object.__setattr__(twice, "certificate_id_first", one.certificate_id_first)
    object.__setattr__(twice, "certificate_id_last", one.certificate_id_last)
    with pytest.raises(CarbonInputError, match="retired twice"):
        ReportInputs(
            inputs.period_start,
            inputs.period_end,
            inputs.sites,
            inputs.grid,
            retirements=(one, twice),
        )


def test_unknown_technology_needs_an_emission_factor() -> None:
    with pytest.raises(CarbonInputError, match="unknown technology"):
        certificate("x", T0, "1", technology="fusion")
    assert certificate("x", T0, "1", technology="fusion", ef="0").ef == 0


def test_direct_factors_follow_the_documented_derivation() -> None:
    # 2006 IPCC fuel factor [t/TJ] * 0.0036 TJ/MWh / efficiency, 4 decimals.
    assert DIRECT_EF_TCO2E_PER_MWH["lignite"] == Decimal("0.9568")
    assert DIRECT_EF_TCO2E_PER_MWH["hard_coal"] == Decimal("0.8109")
    assert DIRECT_EF_TCO2E_PER_MWH["gas"] == Decimal("0.4039")
    assert DIRECT_EF_TCO2E_PER_MWH["wind_onshore"] == 0


def test_grid_factors_of_a_mix() -> None:
    point = grid_factors(
        {
            "lignite": Decimal(100),
            "gas": Decimal(100),
            "wind_onshore": Decimal(200),
            "pumped_hydro": Decimal(999),
        }
    )
    # (100*0.9568 + 100*0.4039) / 400, storage ignored
    assert point.ef_tco2e_per_mwh == Decimal("0.340175")
    assert point.carbon_free_share == Decimal("0.5")
    with pytest.raises(CarbonInputError, match="no emission factor"):
        grid_factors({"peat": Decimal(1)})
    with pytest.raises(CarbonInputError, match="zero"):
        grid_factors({"gas": Decimal(0)})


def test_period_must_be_on_whole_hours() -> None:
    with pytest.raises(CarbonInputError, match="whole UTC hour"):
        ReportInputs(
            datetime(2025, 3, 1, 0, 30, tzinfo=UTC),
            datetime(2025, 3, 1, 2, tzinfo=UTC),
            (SiteLoad("dc", "DE-LU", {}),),
            (GridFactors("DE-LU"),),
        )
