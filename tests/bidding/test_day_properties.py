"""Properties of solved days: DST days, job energy, deliverable reserve, solver agreement."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidding import (
    DayPlan,
    InfeasibleSiteError,
    ModelCache,
    PriceScenarios,
    Site,
    SolveOptions,
    clear_curve,
    solve_day,
)
from market import Direction, block_index, delivery_intervals, get_zone
from tests.bidding.helpers import rich_site, site_dict

CACHE = ModelCache()

# (zone, day, intervals): normal and both DST days, quarter-hourly and hourly.
DAYS = [
    ("DE-LU", date(2025, 11, 12), 96),
    ("DE-LU", date(2026, 3, 29), 92),
    ("DE-LU", date(2025, 10, 26), 100),
    ("CAISO", date(2025, 6, 11), 24),
    ("CAISO", date(2025, 3, 9), 23),
    ("CAISO", date(2025, 11, 2), 25),
]


def scenarios(zone: str, day: date, n: int, seed: int = 0) -> PriceScenarios:
    ix = delivery_intervals(day, zone)
    rng = np.random.default_rng(seed)
    t = np.arange(len(ix)) / len(ix)
    base = 60 + 40 * np.sin(2 * np.pi * (t - 0.3))
    prices = np.round(base[None, :] + rng.normal(0, 15, (n, len(ix))), 2)
    return PriceScenarios(ix, prices, np.full(n, 1 / n))


def reserve_prices(zone: str, day: date, site: Site) -> dict[str, pd.Series]:
    z = get_zone(zone)
    ix = delivery_intervals(day, zone)
    out = {}
    for key in site.reserve_products:
        blocks = block_index(ix, z, z.product(key).block)
        starts = ix[np.r_[True, blocks[1:] != blocks[:-1]]]
        out[key] = pd.Series(np.linspace(20.0, 60.0, len(starts)), index=starts)
    return out


def solve(zone: str, day: date, n: int = 3, **opts: object) -> tuple[Site, DayPlan]:
    site = rich_site(zone)
    plan = solve_day(
        site,
        zone,
        day,
        scenarios(zone, day, n),
        reserve_prices(zone, day, site),
        SolveOptions(**opts),  # type: ignore[arg-type]
        CACHE,
    )
    return site, plan


def check_deliverable(site: Site, plan: DayPlan) -> None:
    """SoC stays in its limits if the battery reserve is called at full capacity from any start."""
    bat = site.battery
    assert bat is not None
    zone = get_zone(plan.zone)
    dt = plan.interval_hours
    products = [zone.product(k) for k in site.reserve_products]
    tol = 1e-5
    for direction, share_of in (("up", plan.battery_up_mw), ("down", plan.battery_down_mw)):
        keys = [
            p
            for p in products
            if p.direction is Direction.SYMMETRIC or p.direction.value == direction
        ]
        if not keys:
            continue
        width = max(1, int(np.ceil(max(p.activation_hours for p in keys) / dt - 1e-9)))
        for s in range(plan.market_mw.shape[0]):
            soc = plan.soc_mwh[s]
            for t0 in range(len(plan.intervals)):
                called = 0.0
                for t in range(t0, min(t0 + width, len(plan.intervals))):
                    if direction == "up":
                        called += share_of[t] * dt / bat.discharge_efficiency
                        assert soc[t + 1] - called >= bat.soc_min_mwh - tol
                        assert plan.discharge_mw[s, t] - plan.charge_mw[s, t] + share_of[t] <= (
                            bat.power_mw + tol
                        )
                    else:
                        called += share_of[t] * dt * bat.charge_efficiency
                        assert soc[t + 1] + called <= bat.soc_max_mwh + tol
                        assert plan.charge_mw[s, t] - plan.discharge_mw[s, t] + share_of[t] <= (
                            bat.power_mw + tol
                        )
    up = sum(
        (v for k, v in plan.reserve_mw.items() if zone.product(k).direction is not Direction.DOWN),
        np.zeros(len(plan.intervals)),
    )
    assert (up <= plan.battery_up_mw + plan.dr_up_mw + tol).all()


@pytest.mark.parametrize(
    ("zone", "day", "n", "recourse"),
    [(*d, False) for d in DAYS] + [(*DAYS[2], True), (*DAYS[4], True)],
)
def test_dst_days_solve_with_exact_job_energy(zone: str, day: date, n: int, recourse: bool) -> None:
    site, plan = solve(zone, day, job_recourse=recourse)
    assert len(plan.intervals) == n
    assert len(plan.da_curves) == n
    assert plan.market_mw.shape == (3, n)
    dt = plan.interval_hours
    for j, job in enumerate(site.jobs):
        delivered = plan.job_it_mw[:, j, :].sum(axis=1) * dt
        np.testing.assert_allclose(delivered, job.energy_mwh, atol=1e-5)
        assert (plan.job_it_mw[:, j, :] <= job.max_power_mw + 1e-6).all()
    bat = site.battery
    assert bat is not None
    assert (plan.soc_mwh >= bat.soc_min_mwh - 1e-6).all()
    assert (plan.soc_mwh <= bat.soc_max_mwh + 1e-6).all()
    assert (plan.soc_mwh[:, -1] >= bat.soc_initial_mwh - 1e-6).all()
    # The balance of docs/site-file.md: purchase = (base + jobs) * PUE + charge - discharge - PPA.
    load = (site.load.base_it_mw + plan.job_it_mw.sum(axis=1)) * plan.pue[None, :]
    balance = load + plan.charge_mw - plan.discharge_mw - plan.ppa_mw[None, :]
    np.testing.assert_allclose(plan.market_mw, balance, atol=1e-5)
    assert (plan.grid_mw >= -1e-6).all()
    assert (plan.grid_mw <= site.load.grid_import_max_mw + 1e-6).all()
    check_deliverable(site, plan)
    assert plan.block_bids
    assert plan.reserve_bids
    # Curves submitted next to the block bids leave out exactly the block bids' power.
    blocks = plan.block_profile_mw()
    batch = list(plan.job_names).index("batch")
    np.testing.assert_allclose(blocks, plan.job_it_mw[0, batch] * plan.pue, atol=2e-3)
    for full, net in zip(plan.da_curves, plan.submission_curves(), strict=True):
        t = plan.intervals.get_loc(full.interval_start)
        np.testing.assert_allclose(
            np.subtract(full.quantities_mw, net.quantities_mw), blocks[t], atol=2e-3
        )


def test_jobs_stay_inside_their_local_windows_on_dst_day() -> None:
    _site, plan = solve("DE-LU", date(2025, 10, 26))
    local = plan.intervals.tz_convert("Europe/Berlin")
    minutes = np.asarray(local.hour * 60 + local.minute)
    night = list(plan.job_names).index("night")
    outside = (minutes < 120) | (minutes >= 600)
    assert np.abs(plan.job_it_mw[:, night, outside]).max() <= 1e-6
    batch = list(plan.job_names).index("batch")
    running = plan.job_it_mw[0, batch] > 1e-6
    assert running.sum() == 8  # 2 h of quarter-hours, contiguous
    assert np.ptp(np.flatnonzero(running)) == 7


def test_dst_days_are_their_own_shapes() -> None:
    cache = ModelCache()
    site = rich_site("CAISO")
    for zone, day, _ in DAYS[3:]:
        solve_day(site, zone, day, scenarios(zone, day, 2), {}, cache=cache)
    solve_day(
        site, "CAISO", date(2025, 6, 12), scenarios("CAISO", date(2025, 6, 12), 2), {}, cache=cache
    )
    assert cache.builds == 3
    assert len(cache) == 3


@pytest.mark.parametrize("recourse", [False, True])
@pytest.mark.parametrize("zone", ["DE-LU", "CAISO"])
def test_solvers_agree(zone: str, recourse: bool) -> None:
    day = date(2025, 6, 11)
    site = rich_site(zone)
    sc = scenarios(zone, day, 3, seed=4)
    res = reserve_prices(zone, day, site)
    objectives = {}
    for solver in ("HIGHS", "HIGHS_CVXPY", "CLARABEL", "ECOS"):
        plan = solve_day(
            site,
            zone,
            day,
            sc,
            res,
            SolveOptions(solver=solver, integer_blocks=False),
            ModelCache(),
        )
        objectives[solver] = plan.provenance.objective
        assert plan.provenance.solver == solver
    ref = objectives["HIGHS"]
    for solver, value in objectives.items():
        assert value == pytest.approx(ref, rel=1e-5), (solver, objectives)


def test_scenario_curves_clear_at_scenario_prices() -> None:
    _site, plan = solve("CAISO", date(2025, 6, 11), n=4)
    for t, curve in enumerate(plan.da_curves):
        for s in range(4):
            price = plan.scenario_prices_per_mwh[s, t]
            assert clear_curve(curve, price) == pytest.approx(plan.market_mw[s, t], abs=2e-3)


def test_reserve_lowers_cost_and_stays_deliverable() -> None:
    day = date(2025, 11, 12)
    site = rich_site("DE-LU")
    sc = scenarios("DE-LU", day, 2)
    with_res = solve_day(site, "DE-LU", day, sc, reserve_prices("DE-LU", day, site), cache=CACHE)
    without = solve_day(site, "DE-LU", day, sc, {}, cache=CACHE)
    assert not without.reserve_bids
    assert with_res.objective.reserve_revenue > 0
    assert with_res.provenance.objective <= without.provenance.objective + 1e-6
    check_deliverable(site, with_res)


def test_job_recourse_is_worth_at_least_the_shared_schedule() -> None:
    day = date(2025, 6, 11)
    site = rich_site("CAISO")
    sc = scenarios("CAISO", day, 4, seed=2)
    shared = solve_day(site, "CAISO", day, sc, {}, cache=ModelCache())
    recourse = solve_day(site, "CAISO", day, sc, {}, SolveOptions(job_recourse=True), ModelCache())
    assert recourse.provenance.objective <= shared.provenance.objective + 1e-6
    # The shared schedule is the same in every scenario; only the battery moves.
    np.testing.assert_allclose(shared.job_it_mw[0], shared.job_it_mw[-1])


def test_cvar_weight_does_not_raise_worst_case() -> None:
    day = date(2025, 6, 11)
    site = rich_site("CAISO")
    sc = scenarios("CAISO", day, 4, seed=9)
    neutral = solve_day(site, "CAISO", day, sc, {}, cache=ModelCache())
    averse = solve_day(
        site, "CAISO", day, sc, {}, SolveOptions(cvar_weight=0.9, cvar_alpha=0.7), ModelCache()
    )

    def costs(plan: DayPlan) -> np.ndarray:
        return (plan.scenario_prices_per_mwh * plan.market_mw).sum(axis=1) * plan.interval_hours

    assert costs(averse).max() <= costs(neutral).max() + 1e-4
    assert (
        float(sc.probabilities @ costs(averse)) >= float(sc.probabilities @ costs(neutral)) - 1e-4
    )


def test_infeasible_day_names_the_group() -> None:
    # 02:00-03:00 does not exist in Berlin on 2026-03-29: the job has no interval to run in.
    d = site_dict("DE-LU")
    d["jobs"][0].update({"window_start": "02:00", "window_end": "03:00", "energy_mwh": 0.5})
    site = Site.from_dict(d)
    day = date(2026, 3, 29)
    sc = scenarios("DE-LU", day, 1)
    with pytest.raises(InfeasibleSiteError) as err:
        solve_day(site, "DE-LU", day, sc, cache=ModelCache())
    assert "job_energy 'train' short by 0.500 MWh" in str(err.value)
    plan = solve_day(site, "DE-LU", day, sc, options=SolveOptions(strict=False), cache=ModelCache())
    assert plan.breaches[0].group == "job_energy"
    assert plan.breaches[0].amount == pytest.approx(0.5, abs=1e-6)
    # The same site is fine on a normal day.
    normal = date(2026, 3, 30)
    assert solve_day(site, "DE-LU", normal, scenarios("DE-LU", normal, 1), cache=ModelCache())


def test_grid_limit_breach_is_reported() -> None:
    d = site_dict(
        "CAISO", pue_profile=[{"from": "12:00", "pue": 1.5}, {"from": "13:00", "pue": 1.0}]
    )
    d["load"]["grid_import_max_mw"] = 12.0
    site = Site.from_dict(d)
    day = date(2025, 6, 11)
    with pytest.raises(InfeasibleSiteError, match="grid_import 'site' over the import limit by 3"):
        solve_day(site, "CAISO", day, scenarios("CAISO", day, 1), cache=ModelCache())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    power=st.floats(0.5, 5.0),
    energy=st.floats(1.0, 10.0),
    eta=st.floats(0.7, 1.0),
    soc0_share=st.floats(0.0, 1.0),
    fcr=st.floats(0.0, 200.0),
    afrr_up=st.floats(0.0, 200.0),
    afrr_down=st.floats(0.0, 200.0),
)
def test_offered_reserve_is_deliverable_for_any_battery(
    power: float,
    energy: float,
    eta: float,
    soc0_share: float,
    fcr: float,
    afrr_up: float,
    afrr_down: float,
) -> None:
    soc_min = 0.1 * energy
    battery = {
        "energy_mwh": energy,
        "power_mw": power,
        "charge_efficiency": eta,
        "discharge_efficiency": eta,
        "soc_min_mwh": soc_min,
        "soc_max_mwh": energy,
        "soc_initial_mwh": soc_min + soc0_share * (energy - soc_min),
    }
    site = Site.from_dict(
        site_dict(
            "DE-LU",
            battery=battery,
            reserves={"products": ["FCR", "AFRR_UP", "AFRR_DOWN"]},
            demand_response={"curtailable_share": 0.05, "cost_per_mwh": 100.0},
        )
    )
    day = date(2025, 10, 26)  # the 100-quarter-hour day: blocks of 5 hours exist
    ix = delivery_intervals(day, "DE-LU")
    starts = ix[np.r_[True, np.diff(block_index(ix, get_zone("DE-LU"), timedelta(hours=4))) > 0]]
    prices = {
        "FCR": pd.Series(fcr, index=starts),
        "AFRR_UP": pd.Series(afrr_up, index=starts),
        "AFRR_DOWN": pd.Series(afrr_down, index=starts),
    }
    plan = solve_day(site, "DE-LU", day, scenarios("DE-LU", day, 2), prices, cache=CACHE)
    check_deliverable(site, plan)
    bat = site.battery
    assert bat is not None
    assert (plan.soc_mwh >= bat.soc_min_mwh - 1e-6).all()
    assert (plan.soc_mwh <= bat.soc_max_mwh + 1e-6).all()
