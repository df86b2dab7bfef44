"""Properties of the carbon formulas (hypothesis) and rules of eligibility."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon import GridFactors, ReportInputs, RetirementRecord, SiteLoad, compute_report
from tests.carbon.helpers import HOUR, T0, certificate, hours_from

N_HOURS = 6
HOURS = hours_from(T0, N_HOURS)

energy = st.decimals(min_value=0, max_value=200, places=3, allow_nan=False, allow_infinity=False)
share = st.decimals(min_value=0, max_value=1, places=2, allow_nan=False, allow_infinity=False)
factor = st.decimals(min_value=0, max_value=1, places=3, allow_nan=False, allow_infinity=False)
TECHS = ("wind", "solar", "nuclear", "biomass", "gas", "hydro")


@st.composite
def retirement_sets(draw: st.DrawFn) -> tuple[RetirementRecord, ...]:
    count = draw(st.integers(min_value=0, max_value=8))
    out = []
    for k in range(count):
        hour = draw(st.sampled_from(HOURS))
        mwh = draw(st.decimals(min_value="0.001", max_value=150, places=3))
        out.append(
            certificate(
                f"r{k}",
                hour,
                str(mwh),
                technology=draw(st.sampled_from(TECHS)),
                zone=draw(st.sampled_from(("DE-LU", "DE-LU", "DE-LU", "DK1"))),
                site=draw(st.sampled_from(("dc", "dc", "dc", "other"))),
            )
        )
    return tuple(out)


@st.composite
def report_inputs(draw: st.DrawFn) -> ReportInputs:
    loads = draw(st.lists(energy, min_size=N_HOURS, max_size=N_HOURS))
    with_residual = draw(st.booleans())
    grid = GridFactors(
        "DE-LU",
        ef_tco2e_per_mwh={h: draw(factor) for h in HOURS},
        carbon_free_share={h: draw(share) for h in HOURS},
        ef_residual_tco2e_per_mwh={h: draw(factor) for h in HOURS} if with_residual else {},
    )
    return ReportInputs(
        period_start=HOURS[0],
        period_end=HOURS[-1] + HOUR,
        sites=(SiteLoad("dc", "DE-LU", dict(zip(HOURS, loads, strict=True))),),
        grid=(grid,),
        retirements=draw(retirement_sets()),
    )


@settings(max_examples=60, deadline=None)
@given(report_inputs(), retirement_sets())
def test_location_based_ignores_retirements(
    inputs: ReportInputs, other: tuple[RetirementRecord, ...]
) -> None:
    a = compute_report(inputs)
    b = compute_report(replace(inputs, retirements=other))
    assert a.location_based_tco2e == b.location_based_tco2e
    assert [h.location_based_tco2e for h in a.hours] == [h.location_based_tco2e for h in b.hours]


@settings(max_examples=80, deadline=None)
@given(report_inputs())
def test_score_and_share_orderings_and_no_negative_emissions(inputs: ReportInputs) -> None:
    r = compute_report(inputs)
    if r.consumption_mwh == 0:
        assert r.cfe_score is None
        assert r.green_share_annual is None
    else:
        assert r.green_share_hourly is not None
        assert r.green_share_annual is not None
        assert r.matched_only_score is not None
        assert r.cfe_score is not None
        assert r.green_share_hourly <= r.green_share_annual <= 1
        assert 0 <= r.matched_only_score <= r.cfe_score <= 1
    for value in (r.location_based_tco2e, r.market_based_annual_tco2e, r.market_based_hourly_tco2e):
        assert value >= 0
    assert all(h.market_based_hourly_tco2e >= 0 for h in r.hours)


@settings(max_examples=60, deadline=None)
@given(report_inputs())
def test_instruments_beyond_consumption_are_not_applied(inputs: ReportInputs) -> None:
    r = compute_report(inputs)
    assert r.applied_annual_mwh <= r.consumption_mwh
    for h in r.hours:
        assert h.applied_mwh == min(h.load_mwh, h.instruments_mwh)
        assert h.unapplied_excess_mwh == max(Decimal(0), h.instruments_mwh - h.load_mwh)
        assert h.matched_carbon_free_mwh <= h.load_mwh
    assert r.unapplied_excess_mwh == sum((h.unapplied_excess_mwh for h in r.hours), Decimal(0))
    assert sum((u.applied_hourly_mwh for u in r.instruments), Decimal(0)) == r.applied_hourly_mwh


@settings(max_examples=60, deadline=None)
@given(report_inputs())
def test_inputs_json_round_trip_is_exact(inputs: ReportInputs) -> None:
    import json

    text = json.dumps(inputs.to_json_dict(), sort_keys=True)
    back = ReportInputs.from_json_dict(json.loads(text))
    assert back == inputs
    assert json.dumps(back.to_json_dict(), sort_keys=True) == text
    assert compute_report(back).to_json_dict() == compute_report(inputs).to_json_dict()


def test_excess_never_moves_to_another_hour() -> None:
    # 30 MWh in hour 0 against 10 MWh of load; hour 1 has no certificate and stays unmatched.
    base = _flat(2, load="10", ef="0.5", residual="0.6")
    r = compute_report(replace(base, retirements=(certificate("a", HOURS[0], "30"),)))
    assert [h.applied_mwh for h in r.hours] == [Decimal(10), Decimal(0)]
    assert r.unapplied_excess_mwh == Decimal(20)
    assert r.market_based_hourly_tco2e == Decimal(6)  # 10 MWh at the residual 0.6
    # Annual matching may use the 30 MWh for the whole period's 20 MWh.
    assert r.market_based_annual_tco2e == Decimal(0)
    assert r.unapplied_excess_annual_mwh == Decimal(10)


def test_order_of_application_is_ef_ascending_then_time_then_id() -> None:
    base = _flat(1, load="10", ef="0.5", residual="0.6")
    gas = certificate("gas", HOURS[0], "10", technology="gas", ef="0.4")
    wind_b = certificate("b", HOURS[0], "6")
    wind_a = certificate("a", HOURS[0], "6")
    r = compute_report(replace(base, retirements=(gas, wind_b, wind_a)))
    used = {u.record.retirement_id: u.applied_hourly_mwh for u in r.instruments}
    assert used == {"a": Decimal(6), "b": Decimal(4), "gas": Decimal(0)}
    assert r.market_based_hourly_tco2e == Decimal(0)
    assert [u.record.retirement_id for u in r.instruments] == ["a", "b", "gas"]


def test_eligibility_rules() -> None:
    base = _flat(3, load="10", ef="0.5", residual="0.6")
    h0, h1 = HOURS[0], HOURS[1]
    records = (
        certificate("zone", h0, "1", zone="DK1"),
        certificate("site", h0, "1", site="elsewhere"),
        certificate("late", h0, "1", consumption=(h0, HOURS[3] + HOUR)),
        # A monthly-style certificate: whole period production, counts only annually.
        certificate("long", h0, "2", production_end=HOURS[2] + HOUR, consumption=(h0, h1 + HOUR)),
        # Produced in hour 0 but claimed for hour 1 only: not hourly-eligible.
        certificate("shift", h0, "1", consumption=(h1, h1 + HOUR)),
        certificate("ok", h1, "3"),
    )
    r = compute_report(replace(base, retirements=records))
    by_id = {u.record.retirement_id: u for u in r.instruments}
    assert by_id["zone"].status == "device outside the site's market boundary"
    assert by_id["site"].status == "retired for a site not in this report"
    assert by_id["late"].status == "consumption interval outside the reporting period"
    assert by_id["long"].status == "eligible"
    assert not by_id["long"].hourly_eligible
    assert by_id["shift"].status == "eligible"
    assert not by_id["shift"].hourly_eligible
    assert by_id["ok"].hourly_eligible
    assert r.applied_annual_mwh == Decimal(6)
    assert r.applied_hourly_mwh == Decimal(3)
    assert all(by_id[k].applied_annual_mwh == 0 for k in ("zone", "site", "late"))


def test_vintage_outside_consumption_year_is_not_eligible() -> None:
    base = _flat(1, load="10", ef="0.5", residual="0.6")
    old = certificate(
        "old",
        datetime.fromisoformat("2024-06-01T10:00:00+00:00"),
        "5",
        consumption=(HOURS[0], HOURS[0] + HOUR),
    )
    r = compute_report(replace(base, retirements=(old,)))
    assert r.instruments[0].status == "production year outside the consumption year"
    assert r.green_share_annual == Decimal(0)


def test_nuclear_is_carbon_free_but_not_green() -> None:
    base = _flat(1, load="10", ef="0.5", residual="0.6")
    r = compute_report(
        replace(base, retirements=(certificate("n", HOURS[0], "10", technology="nuclear"),))
    )
    assert r.matched_only_score == Decimal(1)
    assert r.green_share_hourly == Decimal(0)
    assert r.market_based_hourly_tco2e == Decimal(0)


def _flat(n: int, *, load: str, ef: str, residual: str) -> ReportInputs:
    hs = HOURS[:n]
    return ReportInputs(
        period_start=hs[0],
        period_end=hs[-1] + HOUR,
        sites=(SiteLoad("dc", "DE-LU", {h: Decimal(load) for h in hs}),),
        grid=(
            GridFactors(
                "DE-LU",
                ef_tco2e_per_mwh={h: Decimal(ef) for h in hs},
                carbon_free_share={h: Decimal("0.5") for h in hs},
                ef_residual_tco2e_per_mwh={h: Decimal(residual) for h in hs},
            ),
        ),
    )
