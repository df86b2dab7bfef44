"""LEAR: the LASSO-estimated autoregressive model of the open EPF benchmark (Lago et al. 2021).

For every slot ``h`` of the day (24 hourly models) a linear model predicts the transformed price of
day ``D`` from

* the prices of every slot on days ``D-1``, ``D-2``, ``D-3`` and ``D-7``,
* every exogenous input (day-ahead load, wind and solar forecasts, ...) of every slot on days
  ``D``, ``D-1`` and ``D-7``,
* seven day-of-week dummies of ``D``

(247 features for 24 slots and two inputs, as epftoolbox). Prices and inputs pass through the
variance-stabilising transform ``asinh((x - median) / MAD)`` fitted per column on the calibration
window (MAD scaled to the normal standard deviation, ``/0.6745``; dummies are left alone). The
LASSO penalty of each slot's model is chosen by AIC along the LARS path (``LassoLarsIC``, with
the columns scaled to unit norm as LassoLarsIC did by default when the benchmark was published,
and the noise variance taken as the variance of the target), and the model is then fitted by
coordinate descent (``Lasso``) with that penalty on the transformed inputs: epftoolbox's
procedure. The model is recalibrated for every day on the ``W`` days before it; the ensemble is
the mean of the forecasts over ``W`` in (56, 84, 1092, 1456) days.

Every fit here uses scikit-learn's solvers (``lars_path_gram``, ``lasso_path``) on Gram matrices
computed once per day and window and shared by the slots' models.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path_gram, lasso_path

from forecast.errors import ForecastError
from forecast.panel import DailyPanel

FloatArray = npt.NDArray[np.float64]

PRICE_LAGS = (1, 2, 3, 7)
INPUT_LAGS = (0, 1, 7)
WINDOWS = (56, 84, 1092, 1456)
N_DUMMIES = 7
MAX_ITER = 2500
PATH_STEPS = 160
_MAD_TO_SD = 0.6744897501960817  # normal quantile 0.75, as statsmodels.robust.mad


def design(panel: DailyPanel) -> tuple[FloatArray, FloatArray]:
    """Feature matrix ``X`` (N, F) and targets ``Y`` (N, T) of every day of the panel.

    Row ``i`` of ``X`` uses prices of days ``i-1, i-2, i-3, i-7`` and inputs of ``i, i-1, i-7``
    only (NaN where the panel does not reach back); the last seven columns are the day-of-week
    dummies (Monday first).
    """
    n = panel.prices.shape[0]
    k = panel.n_features
    blocks: list[FloatArray] = []
    for lag in PRICE_LAGS:
        blocks.append(_shift(panel.prices, lag))
    for lag in INPUT_LAGS:
        for j in range(k):
            blocks.append(_shift(panel.features[:, :, j], lag))
    dummies = np.zeros((n, N_DUMMIES))
    dummies[np.arange(n), [d.weekday() for d in panel.days]] = 1.0
    x = np.concatenate([*blocks, dummies], axis=1) if blocks else dummies
    return x, panel.prices.copy()


def _shift(values: FloatArray, lag: int) -> FloatArray:
    out = np.full_like(values, np.nan)
    if lag == 0:
        out[:] = values
    elif lag < values.shape[0]:
        out[lag:] = values[:-lag]
    return out


def _invariant_fit(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    median = np.median(values, axis=0)
    mad = np.median(np.abs(values - median), axis=0) / _MAD_TO_SD
    mad[~(mad > 0)] = 1.0  # a constant column (a dummy-like input): shift only
    return median, mad


def _invariant(values: FloatArray, median: FloatArray, mad: FloatArray) -> FloatArray:
    return np.asarray(np.arcsinh((values - median) / mad), dtype=np.float64)


def _aic_alpha(gram_n: FloatArray, xy_n: FloatArray, yy: float, var_y: float, n: int) -> float:
    """The LASSO penalty at the AIC minimum along the LARS path (LassoLarsIC, criterion='aic').

    The path is first computed for :data:`PATH_STEPS` steps; when the minimum lies in the last
    quarter of the steps computed, the whole path is computed. (On the DE benchmark the minimum
    lies within the first 110 steps of paths of 360-490 steps.)
    """
    steps = PATH_STEPS
    while True:
        alphas, _, coefs = lars_path_gram(
            xy_n, gram_n, n_samples=n, method="lasso", max_iter=steps, alpha_min=0.0
        )
        coefs = np.asarray(coefs, dtype=np.float64)
        rss = yy - 2.0 * (xy_n @ coefs) + np.einsum("ik,ik->k", coefs, gram_n @ coefs)
        df = np.count_nonzero(np.abs(coefs) > np.finfo(np.float64).eps, axis=0)
        criterion = rss / (var_y + np.finfo(np.float64).eps) + 2.0 * df
        best = int(np.argmin(criterion))
        truncated = len(alphas) > steps  # the path stopped at max_iter, not at its end
        if not truncated or best < 0.75 * len(alphas) or steps >= MAX_ITER:
            return float(np.asarray(alphas)[best])
        steps = MAX_ITER


def fit_predict_window(x_train: FloatArray, y_train: FloatArray, x_test: FloatArray) -> FloatArray:
    """Fit one LEAR model per slot on ``(x_train, y_train)`` and predict the row ``x_test``.

    ``x_train`` (n, F) and ``y_train`` (n, T) must be finite; the last seven columns of ``x`` are
    dummies and are not transformed. Returns the ``T`` predicted prices.
    """
    n = x_train.shape[0]
    if n < 2:
        raise ForecastError("LEAR needs at least two calibration days")
    nd = N_DUMMIES
    xm, xs = _invariant_fit(x_train[:, :-nd])
    ym, ys = _invariant_fit(y_train)
    x = np.concatenate([_invariant(x_train[:, :-nd], xm, xs), x_train[:, -nd:]], axis=1)
    xt = np.concatenate([_invariant(x_test[None, :-nd], xm, xs), x_test[None, -nd:]], axis=1)
    y = _invariant(y_train, ym, ys)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    norms = np.sqrt(np.einsum("ij,ij->j", xc, xc))
    norms[norms == 0] = 1.0
    xn = xc / norms
    gram_n, xy_n = xn.T @ xn, xn.T @ yc
    gram = np.ascontiguousarray(xc.T @ xc)
    xy_t = np.ascontiguousarray(yc.T @ xc)  # (T, F): row h is slot h's X'y
    yc_t = np.ascontiguousarray(yc.T)
    xc = np.asfortranarray(xc)
    yy = np.einsum("ij,ij->j", yc, yc)
    var_y = yy / n
    out = np.empty(y.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for h in range(y.shape[1]):
            alpha = _aic_alpha(gram_n, xy_n[:, h], float(yy[h]), float(var_y[h]), n)
            _, coefs, _ = lasso_path(
                xc,
                yc_t[h],
                alphas=[alpha],
                precompute=gram,
                Xy=xy_t[h],
                max_iter=MAX_ITER,
                check_input=False,
            )
            w = np.asarray(coefs, dtype=np.float64)[:, 0]
            out[h] = float((xt[0] - x_mean) @ w + y_mean[h])
    return np.asarray(np.sinh(out) * ys + ym, dtype=np.float64)


def training_rows(x: FloatArray, y: FloatArray, i: int, window: int) -> npt.NDArray[np.int64]:
    """Calibration rows for day ``i``: the last ``window`` days before it minus their first week.

    As epftoolbox: the window's first seven days only feed the lags. Rows with a missing value
    are left out.
    """
    start = max(i - window + max(PRICE_LAGS), 0)
    rows = np.arange(start, i, dtype=np.int64)
    ok = np.isfinite(x[rows]).all(axis=1) & np.isfinite(y[rows]).all(axis=1)
    return rows[ok]


def lear_forecast(
    x: FloatArray, y: FloatArray, i: int, windows: Sequence[int] = WINDOWS
) -> FloatArray:
    """The LEAR ensemble forecast of row ``i`` (mean over ``windows``) from a :func:`design`.

    Uses rows before ``i`` of ``y`` and row ``i`` of ``x`` only.
    """
    if not np.isfinite(x[i]).all():
        raise ForecastError(
            "LEAR needs the prices of D-1, D-2, D-3 and D-7 and every input of D, D-1 and D-7"
        )
    preds = []
    fitted: dict[bytes, FloatArray] = {}
    for w in windows:
        rows = training_rows(x, y, i, w)
        if rows.size < 2:
            raise ForecastError(f"LEAR window of {w} days has fewer than two complete days")
        # Windows longer than the history hold the same days: one fit serves them (same result).
        key = rows.tobytes()
        if key not in fitted:
            fitted[key] = fit_predict_window(x[rows], y[rows], x[i])
        preds.append(fitted[key])
    return np.asarray(np.mean(preds, axis=0), dtype=np.float64)
