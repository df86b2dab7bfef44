"""Small days whose optimum is known by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from bidding import ModelCache, PriceScenarios, SolveOptions, solve_day
from market import delivery_intervals
from tests.bidding.helpers import make_site

DAY = date(2025, 6, 11)


def test_job_runs_in_the_cheapest_hours() -> None:
    site = make_site()
    ix = delivery_intervals(DAY, "CAISO")
    prices = np.full(len(ix), 50.0)
    prices[[3, 17]] = 10.0  # the two cheapest hours
    prices[20] = 5.0  # the cheapest hour of all
    plan = solve_day(site, "CAISO", DAY, PriceScenarios.point(ix, prices), cache=ModelCache())
    job = plan.job_it_mw[0, 0]
    # 2 MWh at up to 1 MW: one hour at 5 and one at 10 (either of the two).
    assert job[20] == pytest.approx(1.0)
    assert job[3] + job[17] == pytest.approx(1.0)
    expected = 10.0 * prices.sum() + 5.0 + 10.0
    assert plan.provenance.objective == pytest.approx(expected, rel=1e-9)
    assert plan.objective.energy_cost == pytest.approx(expected, rel=1e-9)
    assert plan.provenance.status == "optimal"
    assert len(plan.provenance.parameter_hash) == 64


def test_solve_is_deterministic_and_reuses_model() -> None:
    site = make_site()
    ix = delivery_intervals(DAY, "CAISO")
    cache = ModelCache()
    rng = np.random.default_rng(3)
    a = solve_day(
        site, "CAISO", DAY, PriceScenarios.point(ix, rng.uniform(0, 90, len(ix))), cache=cache
    )
    b = solve_day(
        site, "CAISO", DAY, PriceScenarios.point(ix, rng.uniform(0, 90, len(ix))), cache=cache
    )
    assert cache.builds == 1
    assert b.provenance.hot_start
    cold = solve_day(
        site,
        "CAISO",
        DAY,
        PriceScenarios(ix, b.scenario_prices_per_mwh, np.ones(1)),
        options=SolveOptions(warm_start=False),
        cache=ModelCache(),
    )
    assert cold.provenance.objective == pytest.approx(b.provenance.objective, rel=1e-9)
    assert a.provenance.parameter_hash != b.provenance.parameter_hash
