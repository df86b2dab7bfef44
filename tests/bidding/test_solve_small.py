"""Small days whose optimum is known by hand."""

from __future__ import annotations

import copy
from datetime import date

import numpy as np
import pytest

from bidding import ModelCache, PriceScenarios, SolveOptions, solve_day
from market import delivery_intervals
from tests.bidding.helpers import BATTERY, make_site

DAY = date(2025, 6, 11)


def test_job_runs_in_the_cheapest_hours() -> None:
    site = make_site()
    ix = delivery_intervals(DAY, "CAISO")
    prices = np.full(len(ix), 50.0)
    prices[[3, 17]] = 10.0  # the two next-cheapest hours
    prices[20] = 5.0  # the cheapest hour of all
    plan = solve_day(site, "CAISO", DAY, PriceScenarios.point(ix, prices), cache=ModelCache())
    job = plan.job_it_mw[0, 0]
    # 2 MWh at up to 1 MW: one hour at 5 and one at 10 (either of the two).
    assert job[20] == pytest.approx(1.0, abs=1e-6)
    assert job[3] + job[17] == pytest.approx(1.0, abs=1e-6)
    expected = 10.0 * prices.sum() + 5.0 + 10.0
    assert plan.provenance.objective == pytest.approx(expected, rel=1e-7)
    assert plan.objective.energy_cost == pytest.approx(expected, rel=1e-7)
    assert plan.provenance.status == "optimal"
    assert len(plan.provenance.parameter_hash) == 64
    assert plan.breaches == ()


def test_battery_arbitrage_by_hand() -> None:
    site = make_site(battery=copy.deepcopy(BATTERY))
    ix = delivery_intervals(DAY, "CAISO")
    prices = np.where(np.arange(len(ix)) < 12, 10.0, 100.0)
    plan = solve_day(site, "CAISO", DAY, PriceScenarios.point(ix, prices), cache=ModelCache())
    # Charge to full (2 MWh stored = 2/0.9 bought at 10), discharge back to soc_initial
    # (2 MWh removed = 1.8 MWh delivered at 100); degradation 1 per MWh of throughput.
    charged, delivered = 2.0 / 0.9, 2.0 * 0.9
    expected = 10.0 * prices.sum() + 2 * 10.0 + charged * 10.0 - delivered * 100.0
    expected += 1.0 * (charged + delivered)
    assert plan.provenance.objective == pytest.approx(expected, rel=1e-7)
    assert plan.charge_mw.sum() == pytest.approx(charged, abs=1e-5)
    assert plan.discharge_mw.sum() == pytest.approx(delivered, abs=1e-5)
    assert plan.soc_mwh[0, -1] == pytest.approx(2.0, abs=1e-6)
    assert plan.soc_mwh.max() == pytest.approx(4.0, abs=1e-6)


def test_solve_reuses_model_and_matches_a_fresh_one() -> None:
    site = make_site()
    ix = delivery_intervals(DAY, "CAISO")
    cache = ModelCache()
    rng = np.random.default_rng(3)
    first = PriceScenarios.point(ix, rng.uniform(0, 90, len(ix)))
    second = PriceScenarios.point(ix, rng.uniform(0, 90, len(ix)))
    a = solve_day(site, "CAISO", DAY, first, cache=cache)
    b = solve_day(site, "CAISO", DAY, second, cache=cache)
    assert cache.builds == 1
    assert b.provenance.hot_start
    fresh = solve_day(
        site, "CAISO", DAY, second, options=SolveOptions(warm_start=False), cache=ModelCache()
    )
    assert fresh.provenance.objective == pytest.approx(b.provenance.objective, rel=1e-7)
    assert a.provenance.parameter_hash != b.provenance.parameter_hash


def test_simplex_and_ipm_agree() -> None:
    site = make_site(battery=copy.deepcopy(BATTERY))
    ix = delivery_intervals(DAY, "CAISO")
    rng = np.random.default_rng(5)
    sc = PriceScenarios(ix, rng.uniform(0, 90, (3, len(ix))), np.full(3, 1 / 3))
    ipm = solve_day(site, "CAISO", DAY, sc, cache=ModelCache())
    simplex = solve_day(
        site,
        "CAISO",
        DAY,
        sc,
        options=SolveOptions(highs_options=(("solver", "simplex"),)),
        cache=ModelCache(),
    )
    assert ipm.provenance.objective == pytest.approx(simplex.provenance.objective, rel=1e-6)


@pytest.mark.parametrize(("day", "n"), [(DAY, 24), (date(2025, 3, 9), 23), (date(2025, 11, 2), 25)])
def test_flat_schedule_spreads_jobs_and_buys_at_any_price(day: date, n: int) -> None:
    from bidding import clear_curve, flat_schedule
    from tests.bidding.helpers import rich_site

    site = rich_site("CAISO")
    plan = flat_schedule(site, "CAISO", day)
    assert len(plan.intervals) == n
    delivered = plan.job_it_mw[0].sum(axis=1) * plan.interval_hours
    np.testing.assert_allclose(delivered, [j.energy_mwh for j in site.jobs])
    train = plan.job_it_mw[0, 0]
    assert np.ptp(train) == pytest.approx(0.0)  # whole-day window: flat
    assert (plan.charge_mw == 0).all()
    assert not plan.reserve_bids
    for t, curve in enumerate(plan.da_curves):
        assert clear_curve(curve, 1999.0) == pytest.approx(plan.market_mw[0, t], abs=1e-3)


def test_solver_status_becomes_a_typed_error() -> None:
    from bidding import SolverFailedError

    site = make_site()
    ix = delivery_intervals(DAY, "CAISO")
    sc = PriceScenarios.point(ix, np.linspace(10, 80, len(ix)))
    cache = ModelCache()
    limited = SolveOptions(highs_options=(("solver", "simplex"), ("simplex_iteration_limit", 0)))
    with pytest.raises(SolverFailedError, match="solver HIGHS returned status kIterationLimit"):
        solve_day(site, "CAISO", DAY, sc, options=limited, cache=cache)
    # The same cached model solves normally afterwards (the failed HiGHS state was dropped).
    plan = solve_day(site, "CAISO", DAY, sc, cache=cache)
    assert plan.provenance.status == "optimal"
    assert cache.builds == 1


def test_threads_sharing_a_cache_get_their_own_answers() -> None:
    from concurrent.futures import ThreadPoolExecutor

    site = make_site(battery=copy.deepcopy(BATTERY))
    ix = delivery_intervals(DAY, "CAISO")
    rng = np.random.default_rng(11)
    inputs = [PriceScenarios.point(ix, rng.uniform(0, 90, len(ix))) for _ in range(6)]
    alone = [solve_day(site, "CAISO", DAY, sc, cache=ModelCache()) for sc in inputs]
    shared = ModelCache()
    with ThreadPoolExecutor(3) as pool:
        together = list(
            pool.map(lambda sc: solve_day(site, "CAISO", DAY, sc, cache=shared), inputs)
        )
    assert shared.builds == 1
    for a, b in zip(alone, together, strict=True):
        assert b.provenance.objective == pytest.approx(a.provenance.objective, rel=1e-9)
        np.testing.assert_allclose(b.scenario_prices_per_mwh, a.scenario_prices_per_mwh)
