"""Probabilistic forecasts: quantiles from recent residuals, scenarios from a Gaussian copula.

* **Quantiles.** For each slot ``s``, the empirical quantiles of the out-of-sample errors
  ``actual - forecast`` of the last ``R`` days (the residual window) are added to the point
  forecast of the slot.
* **Scenarios.** The residuals of each slot are turned into normal scores through their ranks
  (``Φ⁻¹(rank / (R + 1))``); the correlation matrix of those scores across slots (shrunk by
  ``shrinkage`` toward the identity, so it stays positive definite with few days) defines a
  Gaussian copula. ``n_samples`` correlated normal vectors are drawn with a fixed seed, mapped
  to uniforms by ``Φ`` and to residuals by each slot's empirical quantile function, and added to
  the point forecast: joint paths that keep the correlation between slots and each slot's
  marginal error distribution.
* **Reduction.** The paths are reduced to ``S`` scenarios by k-means (scikit-learn, fixed seed):
  the cluster centres are the scenarios, the cluster shares their probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans

from forecast.errors import ForecastError

FloatArray = npt.NDArray[np.float64]

QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
_N = NormalDist()


def residual_quantiles(
    point: FloatArray, residuals: FloatArray, levels: Sequence[float] = QUANTILES
) -> FloatArray:
    """Quantiles per slot, shape ``(len(levels), T)``, from residuals ``(R, T)``."""
    res = _check(residuals, point)
    q = np.quantile(res, np.asarray(levels), axis=0)
    return np.asarray(point[None, :] + q, dtype=np.float64)


def _check(residuals: FloatArray, point: FloatArray) -> FloatArray:
    res = np.asarray(residuals, dtype=np.float64)
    if res.ndim != 2 or res.shape[1] != point.shape[0] or res.shape[0] < 2:
        raise ForecastError(
            f"residuals have shape {res.shape}; need at least two days of {point.shape[0]} slots"
        )
    if not np.isfinite(res).all():
        raise ForecastError("residuals must be finite")
    return res


def normal_scores(residuals: FloatArray) -> FloatArray:
    """Rank-based normal scores ``Φ⁻¹(rank / (R + 1))`` per column."""
    r = residuals.shape[0]
    ranks = residuals.argsort(axis=0, kind="stable").argsort(axis=0, kind="stable") + 1.0
    scores = np.vectorize(_N.inv_cdf, otypes=[np.float64])(ranks / (r + 1.0))
    return np.asarray(scores, dtype=np.float64)


def copula_correlation(residuals: FloatArray, shrinkage: float = 0.1) -> FloatArray:
    """Correlation of the slots' normal scores, shrunk toward the identity."""
    z = normal_scores(residuals)
    c = np.corrcoef(z, rowvar=False)
    c = np.nan_to_num(np.atleast_2d(c), nan=0.0)
    np.fill_diagonal(c, 1.0)
    return np.asarray((1.0 - shrinkage) * c + shrinkage * np.eye(c.shape[0]), dtype=np.float64)


def copula_paths(
    point: FloatArray,
    residuals: FloatArray,
    n_samples: int = 1000,
    seed: int = 0,
    shrinkage: float = 0.1,
) -> FloatArray:
    """``n_samples`` joint price paths ``(n_samples, T)`` through a Gaussian copula."""
    res = _check(residuals, point)
    corr = copula_correlation(res, shrinkage)
    chol = np.linalg.cholesky(corr)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_samples, point.shape[0])) @ chol.T
    u = np.vectorize(_N.cdf, otypes=[np.float64])(z)
    sorted_res = np.sort(res, axis=0)
    grid = (np.arange(1, res.shape[0] + 1)) / (res.shape[0] + 1.0)
    paths = np.empty_like(z)
    for s in range(point.shape[0]):
        paths[:, s] = point[s] + np.interp(u[:, s], grid, sorted_res[:, s])
    return paths


def reduce_scenarios(
    paths: FloatArray, n_scenarios: int, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """``S`` scenarios ``(S, T)`` and their probabilities from equiprobable ``paths`` (k-means)."""
    if n_scenarios < 1:
        raise ForecastError(f"need at least one scenario, asked for {n_scenarios}")
    if n_scenarios >= paths.shape[0]:
        return paths.copy(), np.full(paths.shape[0], 1.0 / paths.shape[0])
    km = KMeans(n_clusters=n_scenarios, n_init=3, random_state=seed).fit(paths)
    labels = np.asarray(km.labels_)
    counts = np.bincount(labels, minlength=n_scenarios).astype(np.float64)
    centres = np.asarray(km.cluster_centers_, dtype=np.float64)
    keep = counts > 0
    probs = counts[keep] / counts[keep].sum()
    return centres[keep], probs
