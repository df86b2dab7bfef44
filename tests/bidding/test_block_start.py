"""The block start of a portfolio solve: the sites solved alone seed the joint problem's basis.

The start may only change the time, never the optimum: every test compares with the joint
problem solved cold.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import bidding.portfolio_model as pm
import bidding.solve as solve
from benchmarks.portfolio import (
    DAY,
    ZONES,
    synthetic_portfolio,
    synthetic_zone_prices,
    synthetic_zone_reserves,
)
from bidding import PriceScenarios, SolveOptions
from bidding.portfolio import MigratableJob, Placement, Portfolio
from bidding.portfolio_model import PortfolioModelCache, PortfolioPlan, solve_portfolio
from cli import main
from engine.core.settings import SOLVER_THREADS_ENV, solver_threads
from market import delivery_intervals
from tests.bidding.helpers import make_site

PF = synthetic_portfolio(4, 2, 12, seed=3)


def _inputs(k: int) -> tuple[list[PriceScenarios], list[dict[str, Any]]]:
    by_zone = {
        z: (synthetic_zone_prices(z, 3, 100 * k + n), synthetic_zone_reserves(z, 100 * k + n))
        for n, z in enumerate(ZONES[:2])
    }
    return [by_zone[s.zone][0] for s in PF.sites], [by_zone[s.zone][1] for s in PF.sites]


def _solve(
    k: int, cache: PortfolioModelCache, block_start: bool = True, threads: int = 2
) -> PortfolioPlan:
    scenarios, reserves = _inputs(k)
    return solve_portfolio(
        PF,
        DAY,
        scenarios,
        reserves,
        SolveOptions(),
        cache,
        block_start=block_start,
        threads=threads,
    )


def _cold_and_started(k: int) -> tuple[float, float, str]:
    """Day ``k``'s objective solved cold, with the block start, and how the latter started."""
    reference = _solve(k, PortfolioModelCache(), block_start=False).provenance.objective
    cache = PortfolioModelCache()
    plan = _solve(k, cache)
    return reference, plan.provenance.objective, _start(cache)


def _start(cache: PortfolioModelCache) -> str:
    return str(cache.models()[-1].warm["start"])


def test_partition_by_hand() -> None:
    # Columns 0-1 block 0, 2-3 block 1, 4 linking. Rows: 0 block 0, 1 block 1, 2 links the
    # blocks (and holds the linking column), 3 is empty.
    a = sp.csc_matrix(
        np.array(
            [
                [1.0, 2.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 3.0, 4.0, 0.0],
                [5.0, 0.0, 6.0, 0.0, 1.0],
                [0.0, 0.0, 0.0, 0.0, 0.0],
            ]
        )
    )
    part = solve._partition(a, np.array([0, 0, 1, 1, -1]))
    assert part.linking.tolist() == [2]
    assert [c.tolist() for c in part.candidates] == [[0, 2]]
    (c0, r0, p0, i0, e0), (c1, r1, p1, i1, e1) = part.blocks
    assert (c0.tolist(), r0.tolist(), c1.tolist(), r1.tolist()) == ([0, 1], [0], [2, 3], [1])
    # Each block's sub-matrix, rebuilt from the entry numbers, is the LP's.
    sub0 = sp.csc_matrix((a.data[e0], i0, p0), shape=(1, 2)).toarray()
    sub1 = sp.csc_matrix((a.data[e1], i1, p1), shape=(1, 2)).toarray()
    assert sub0.tolist() == [[1.0, 2.0]]
    assert sub1.tolist() == [[3.0, 4.0]]


def test_block_start_reaches_the_cold_optimum_day_after_day() -> None:
    started, cold = PortfolioModelCache(), PortfolioModelCache()
    for k in range(3):
        plan = _solve(k, started)
        assert _start(started) == "blocks"
        reference = _solve(k, cold, block_start=False)
        assert _start(cold) == "cold"
        assert plan.provenance.objective == pytest.approx(reference.provenance.objective, rel=1e-9)
        # The start's solution is a solution of the joint problem: every job is delivered.
        for job in PF.jobs:
            placed = sum(a.energy_mwh for a in plan.allocation if a.job == job.name)
            assert placed == pytest.approx(job.energy_mwh, abs=1e-6)


@pytest.mark.parametrize("scale", [0.0, 0.5, 20.0])
def test_any_guess_of_the_job_prices_gives_the_same_optimum(
    monkeypatch: pytest.MonkeyPatch, scale: float
) -> None:
    right = pm.energy_price_guess
    monkeypatch.setattr(pm, "energy_price_guess", lambda model: scale * right(model))
    reference, objective, start = _cold_and_started(1)
    assert start == "blocks"
    assert objective == pytest.approx(reference, rel=1e-9)


def test_a_start_that_cannot_be_built_falls_back_to_a_cold_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(solve, "_block_basis", lambda *args: (None, 0.0))
    reference, objective, start = _cold_and_started(2)
    assert start == "cold"
    assert objective == pytest.approx(reference, rel=1e-9)


def test_the_number_of_threads_does_not_change_the_result() -> None:
    one, two = (_solve(0, PortfolioModelCache(), threads=n) for n in (1, 2))
    for a, b in zip(one.plans, two.plans, strict=True):
        assert np.array_equal(a.market_mw, b.market_mw)
        assert np.array_equal(a.job_it_mw, b.job_it_mw)
    for x, y in zip(one.allocation, two.allocation, strict=True):
        assert np.array_equal(x.it_mw, y.it_mw)


def test_solver_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SOLVER_THREADS_ENV, "3")
    assert solver_threads() == 3
    monkeypatch.setenv(SOLVER_THREADS_ENV, "many")
    with pytest.raises(ValueError, match="POWERDESK_SOLVER_THREADS must be a whole number"):
        solver_threads()
    monkeypatch.delenv(SOLVER_THREADS_ENV)
    assert solver_threads() >= 1


def test_the_job_price_guess_by_hand() -> None:
    # Two sites in one hourly zone, PUE 1. Site a: 50 except 10 in hours 2 and 3; site b: 50
    # except 12 in hour 5, where running the job costs 5 more. The 3 MWh job at 1 MW fills the
    # slots 10, 10 and 12 + 5 = 17: the guess is 17, and the solve runs it exactly there.
    day = date(2025, 6, 11)
    ix = delivery_intervals(day, "CAISO")
    pa, pb = np.full(len(ix), 50.0), np.full(len(ix), 50.0)
    pa[[2, 3]] = 10.0
    pb[5] = 12.0
    sites = (make_site(name="a", jobs=[]), make_site(name="b", jobs=[]))
    job = MigratableJob("pool", 3.0, 0, 24 * 60, (Placement("a", 1.0), Placement("b", 1.0, 5.0)))
    portfolio = Portfolio("two", sites, (job,))
    cache = PortfolioModelCache()
    plan = solve_portfolio(
        portfolio,
        day,
        [PriceScenarios.point(ix, pa), PriceScenarios.point(ix, pb)],
        cache=cache,
    )
    assert pm.energy_price_guess(cache.models()[-1]).tolist() == pytest.approx([17.0])
    at = {a.site: a.it_mw for a in plan.allocation}
    assert at["a"][[2, 3]].tolist() == pytest.approx([1.0, 1.0])
    assert at["b"][5] == pytest.approx(1.0)
    assert at["a"].sum() + at["b"].sum() == pytest.approx(3.0)


def test_bench_portfolio_reports_both_ways_with_one_optimum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = {}
    for flag in ("--block-start", "--no-block-start"):
        argv = ["bench", "portfolio", "--sites", "3", "--zones", "2", "--jobs", "4"]
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--scenarios", "2", flag, "--json"])
        assert exit_info.value.code in (0, None)
        out[flag] = json.loads(capsys.readouterr().out)
    assert out["--block-start"]["block_start"] is True
    assert out["--no-block-start"]["block_start"] is False
    assert out["--block-start"]["objective"] == pytest.approx(
        out["--no-block-start"]["objective"], rel=1e-9
    )


def test_no_block_start_under_interior_point_options() -> None:
    # Interior point ignores a starting basis: the blocks' work would be wasted.
    cache = PortfolioModelCache()
    scenarios, reserves = _inputs(0)
    ipm = SolveOptions(highs_options=(("solver", "ipm"), ("run_crossover", "on")))
    plan = solve_portfolio(PF, DAY, scenarios, reserves, ipm, cache)
    assert _start(cache) == "cold"
    reference = _solve(0, PortfolioModelCache(), block_start=False).provenance.objective
    assert plan.provenance.objective == pytest.approx(reference, rel=1e-7)
