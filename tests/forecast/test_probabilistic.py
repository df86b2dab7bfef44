"""Quantiles cover the right share; copula scenarios keep the correlation between slots."""

from __future__ import annotations

import numpy as np
import pytest

from forecast import (
    ForecastError,
    copula_correlation,
    copula_paths,
    reduce_scenarios,
    residual_quantiles,
    rolling_quantiles,
)
from forecast.metrics import diebold_mariano, pinball, smape


def _correlated(n: int, t: int, rho: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n, 1))
    own = rng.standard_normal((n, t))
    return np.sqrt(rho) * common + np.sqrt(1 - rho) * own


def test_rolling_quantiles_cover_the_nominal_share() -> None:
    rng = np.random.default_rng(1)
    n, t = 400, 24
    points = np.full((n, t), 50.0)
    actuals = points + rng.normal(0, 5, (n, t))
    q = rolling_quantiles(points, actuals, residual_days=60, levels=(0.05, 0.5, 0.95))
    test = slice(60, None)
    inside = (actuals[test] >= q[test, 0]) & (actuals[test] <= q[test, 2])
    assert abs(float(inside.mean()) - 0.9) < 0.03
    below_median = actuals[test] < q[test, 1]
    assert abs(float(below_median.mean()) - 0.5) < 0.03
    assert np.isnan(q[:2]).all()  # fewer than two days of errors: no quantiles


def test_rolling_quantiles_use_only_earlier_days() -> None:
    rng = np.random.default_rng(2)
    points = np.zeros((30, 4))
    actuals = rng.normal(0, 1, (30, 4))
    base = rolling_quantiles(points, actuals, 10)
    later = actuals.copy()
    later[20:] = 1e6
    assert np.array_equal(rolling_quantiles(points, later, 10)[:21], base[:21], equal_nan=True)


def test_copula_paths_keep_the_correlation_and_the_marginals() -> None:
    res = 3.0 * _correlated(300, 24, rho=0.7, seed=3)
    point = np.linspace(40, 60, 24)
    paths = copula_paths(point, res, n_samples=4000, seed=0, shrinkage=0.0)
    target = np.corrcoef(res, rowvar=False)
    got = np.corrcoef(paths, rowvar=False)
    off = ~np.eye(24, dtype=bool)
    assert abs(got[off].mean() - target[off].mean()) < 0.05
    assert np.allclose((paths - point).std(axis=0), res.std(axis=0), rtol=0.15)
    # Independent draws per slot would lose it: the copula is what keeps it.
    assert got[off].mean() > 0.6


def test_copula_correlation_is_shrunk_and_positive_definite_with_few_days() -> None:
    c = copula_correlation(_correlated(5, 24, 0.5, 4), shrinkage=0.1)
    assert np.allclose(np.diag(c), 1.0)
    assert np.linalg.eigvalsh(c).min() > 0


def test_reduce_scenarios_gives_s_scenarios_with_probabilities() -> None:
    paths = copula_paths(np.full(24, 50.0), _correlated(60, 24, 0.6, 5), n_samples=500)
    scen, probs = reduce_scenarios(paths, 8, seed=0)
    assert scen.shape == (8, 24)
    assert probs.shape == (8,)
    assert abs(probs.sum() - 1) < 1e-12
    assert (probs > 0).all()
    assert np.allclose(probs @ scen, paths.mean(axis=0))  # k-means keeps the mean
    again, p2 = reduce_scenarios(paths, 8, seed=0)
    assert np.array_equal(again, scen)
    assert np.array_equal(p2, probs)


def test_quantiles_need_two_days_of_residuals() -> None:
    with pytest.raises(ForecastError, match="two days"):
        residual_quantiles(np.zeros(24), np.zeros((1, 24)))


def test_metrics_on_known_values() -> None:
    a = np.array([10.0, 20.0])
    assert smape(a, np.array([10.0, 10.0])) == pytest.approx(100 * (0 + 10 / 15) / 2)
    q = np.array([[8.0, 25.0]])
    assert pinball(a, q, [0.5]) == pytest.approx((0.5 * 2 + 0.5 * 5) / 2)
    rng = np.random.default_rng(0)
    actual = rng.normal(0, 1, 240)
    good, bad = actual + rng.normal(0, 0.1, 240), actual + rng.normal(0, 1, 240)
    dm = diebold_mariano(actual, good, bad, 24)
    assert dm["statistic"] > 3
    assert dm["p_a_better"] < 0.01
    assert dm["days"] == 10
