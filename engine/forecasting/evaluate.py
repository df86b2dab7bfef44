"""``powerdesk forecast evaluate``: rolling day-ahead forecasts, metrics, a plot; one atomic folder.

Every test day ``D`` is forecast as of gate closure of D-1: the model sees the panel rows before
``D`` (prices) and the inputs of ``D`` only (see :mod:`forecast.models`). Days are forecast in
worker processes (``jobs``), each process with one BLAS thread. Quantiles come from the errors of
the ``residual_days`` days before each day, so the run forecasts that many days before ``start``
as a burn-in (not reported).

Outputs in ``out``:

* ``forecasts.csv``: ``interval_start``, ``actual``, ``forecast``, ``q05`` .. ``q95``; one row per
  interval in time order. For ``--format epftoolbox`` ``interval_start`` is the dataset's own
  local wall-clock label (``2016-01-04T00:00:00``, no offset: its 24 rows a day are not real
  intervals on DST days); otherwise it is the UTC start of the real interval.
* ``metrics.json``: see :func:`metrics`.
* ``forecast.png``: forecast, actual and quantile bands of the last 14 days; daily MAE.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.core.errors import InputFileError, PowerdeskError
from engine.core.files import replace_dir_atomic
from engine.core.jsonio import pretty_json
from forecast import (
    QUANTILES,
    RESIDUAL_DAYS,
    DailyPanel,
    ForecastError,
    diebold_mariano,
    mae,
    panel_from_series,
    parse_model,
    pinball,
    point_forecasts,
    point_model,
    rmse,
    rolling_quantiles,
    slots_to_intervals,
    smape,
)
from forecast.models import seasonal_naive
from market import Zone, get_zone

FloatArray = npt.NDArray[np.float64]
FORMATS = ("epftoolbox", "canonical")
OUTPUT_FILES = ("forecasts.csv", "metrics.json", "forecast.png")
CHUNK_DAYS = 7


@dataclass(frozen=True, slots=True)
class Loaded:
    """A data file as a panel plus how to label its rows in the output."""

    panel: DailyPanel
    zone: Zone
    source: str
    labels: tuple[str, ...] | None  # epftoolbox: one label per (day, slot), in file order
    actual_series: pd.Series | None  # canonical: the real prices on their UTC intervals


def load(data: Path, fmt: str, zone: str | None, features: Path | None) -> Loaded:
    """Read ``data`` of format ``fmt`` (and optional inputs) into a :class:`Loaded`."""
    if fmt == "epftoolbox":
        from engine.io.epftoolbox import read_epftoolbox_csv

        if features is not None:
            raise PowerdeskError(
                "--features is not used with --format epftoolbox (its inputs are in the file)"
            )
        epf = read_epftoolbox_csv(data)
        z = get_zone(zone or "DE-LU")
        return Loaded(epf.panel, z, epf.source, epf.labels, None)
    if fmt == "canonical":
        from engine.io.canonical import read_price_csv

        if zone is None:
            raise PowerdeskError("--zone is needed with --format canonical")
        z = get_zone(zone)
        series = read_price_csv(data, z)
        prices = series.final()
        res = int(pd.Timedelta(series.resolution).total_seconds() // 60)
        slot = res if 0 < res <= 60 and 60 % res == 0 else 60
        local = pd.DatetimeIndex(prices.index).tz_convert(z.tz)
        first, last = local[0].date(), local[-1].date()
        feats = None
        if features is not None:
            from engine.io.features import read_feature_csv

            # The one feature reader: every value known before its day's gate closure.
            columns = read_feature_csv([features], z).columns
            feats = pd.DataFrame({name: s.final() for name, s in columns.items()})
        panel = panel_from_series(prices, z, first, last, slot, feats)
        return Loaded(panel, z, series.source, None, prices)
    raise PowerdeskError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def _chunk_task(task: tuple[str, DailyPanel, tuple[int, ...], int]) -> FloatArray:
    """Worker: point forecasts of some rows (one BLAS thread per process).

    Burn-in rows (before ``task[3]``) that cannot be forecast (too little history) are NaN.
    """
    from threadpoolctl import threadpool_limits

    name, panel, rows, strict_from = task
    model = point_model(name, panel)
    out = np.full((len(rows), panel.n_slots), np.nan)
    with threadpool_limits(limits=1):
        for k, i in enumerate(rows):
            try:
                out[k] = point_forecasts(model, [i])[0]
            except ForecastError:
                if i >= strict_from:
                    raise
    return out


def _run_chunks(
    name: str,
    panel: DailyPanel,
    rows: Sequence[int],
    jobs: int,
    on_days: Callable[[int], None],
    strict_from: int,
) -> FloatArray:
    chunks = [tuple(rows[k : k + CHUNK_DAYS]) for k in range(0, len(rows), CHUNK_DAYS)]
    tasks = [(name, panel, c, strict_from) for c in chunks]
    if jobs <= 1:
        out = []
        for t in tasks:
            out.append(_chunk_task(t))
            on_days(len(t[2]))
        return np.vstack(out)
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures: list[Future[FloatArray]] = [pool.submit(_chunk_task, t) for t in tasks]
        sizes = {id(f): len(t[2]) for f, t in zip(futures, tasks, strict=True)}
        pending: set[Future[FloatArray]] = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()  # re-raises a worker's error
                    on_days(sizes[id(f)])
        except BaseException:
            for f in pending:
                f.cancel()
            raise
        return np.vstack([f.result() for f in futures])


def _days(panel: DailyPanel, start: date, end: date) -> tuple[int, int]:
    if end < start:
        raise PowerdeskError(f"--end {end} is before --start {start}")
    try:
        return panel.index_of(start), panel.index_of(end)
    except ForecastError as exc:
        raise PowerdeskError(f"test period: {exc}") from None


def _quantile_names(levels: Sequence[float]) -> list[str]:
    return [f"q{round(q * 100):02d}" for q in levels]


@dataclass(frozen=True, slots=True)
class Result:
    """Per-interval outputs of a run."""

    labels: list[str]
    day_of_row: npt.NDArray[np.int64]
    actual: FloatArray
    forecast: FloatArray
    naive: FloatArray
    quantiles: FloatArray  # (Q, n)


def _flatten(
    loaded: Loaded, rows: Sequence[int], points: FloatArray, naive: FloatArray, quants: FloatArray
) -> Result:
    panel = loaded.panel
    t = panel.n_slots
    if loaded.labels is not None:
        labels = [loaded.labels[r * t + s] for r in rows for s in range(t)]
        day = np.repeat(np.arange(len(rows)), t)
        actual = panel.prices[list(rows)].reshape(-1)
        q = quants.transpose(1, 0, 2).reshape(quants.shape[1], -1)
        return Result(labels, day, actual, points.reshape(-1), naive.reshape(-1), q)
    assert loaded.actual_series is not None
    labels, days, act, fc, nv, qs = [], [], [], [], [], []
    for k, r in enumerate(rows):
        intervals, p = slots_to_intervals(points[k], panel.days[r], loaded.zone)
        _, n = slots_to_intervals(naive[k], panel.days[r], loaded.zone)
        _, q = slots_to_intervals(quants[k], panel.days[r], loaded.zone)
        real = loaded.actual_series.reindex(intervals.floor(pd.Timedelta(minutes=60 * 24 // t)))
        if real.isna().any():
            raise PowerdeskError(f"the data has no complete prices on {panel.days[r]}")
        labels += [ts.isoformat() for ts in intervals]
        days.append(np.full(len(intervals), k))
        act.append(real.to_numpy(dtype=np.float64))
        fc.append(p)
        nv.append(n)
        qs.append(q)
    return Result(
        labels,
        np.concatenate(days),
        np.concatenate(act),
        np.concatenate(fc),
        np.concatenate(nv),
        np.concatenate(qs, axis=1),
    )


def metrics(
    res: Result, levels: Sequence[float], compare: tuple[str, FloatArray] | None
) -> dict[str, Any]:
    """``mae``, ``rmae`` (against the seasonal naive), ``smape`` [%], ``rmse``, ``pinball``
    (mean over the quantile levels), ``coverage_90`` (share of actuals inside q05..q95),
    ``naive_mae`` and, with a comparison file, the Diebold–Mariano test (``dm``)."""
    a, f = res.actual, res.forecast
    naive_mae = mae(a, res.naive)
    out: dict[str, Any] = {
        "intervals": int(a.size),
        "mae": mae(a, f),
        "rmae": mae(a, f) / naive_mae if naive_mae > 0 else None,
        "smape": smape(a, f),
        "rmse": rmse(a, f),
        "naive_mae": naive_mae,
        "pinball": pinball(a, res.quantiles, levels),
        "quantile_levels": list(levels),
        "coverage_90": float(np.mean((a >= res.quantiles[0]) & (a <= res.quantiles[-1]))),
    }
    if compare is not None:
        name, other = compare
        dm = _dm_by_day(a, f, other, res.day_of_row)
        out["dm"] = {"compare": name, "compare_mae": mae(a, other), **dm}
    return out


def _dm_by_day(
    actual: FloatArray, a: FloatArray, b: FloatArray, day: npt.NDArray[np.int64]
) -> dict[str, float]:
    counts = np.bincount(day)
    if (counts == counts[0]).all():
        return diebold_mariano(actual, a, b, int(counts[0]))
    # DST days of real intervals: compare daily mean absolute errors (one differential a day).
    ea = np.bincount(day, np.abs(actual - a)) / counts
    eb = np.bincount(day, np.abs(actual - b)) / counts
    return diebold_mariano(np.zeros_like(ea), ea, eb, 1)


def read_compare(path: Path, labels: Sequence[str], actual: FloatArray) -> FloatArray:
    """The ``forecast`` column of another run's forecasts.csv on the same intervals."""
    from engine.io.meter import read_csv_table

    table = read_csv_table(path, ("interval_start", "actual", "forecast"))
    if list(table.column("interval_start")) != list(labels):
        raise InputFileError(str(path), "interval_start differs from this run's intervals")
    try:
        theirs = np.array([float(x) for x in table.column("actual")])
        fc = np.array([float(x) for x in table.column("forecast")])
    except ValueError:
        raise InputFileError(str(path), "text in the actual or forecast column") from None
    if not (np.isfinite(fc).all() and np.allclose(theirs, actual, atol=1e-6)):
        raise InputFileError(str(path), "actual differs from this run's data (or a NaN)")
    return fc


def _csv(res: Result, levels: Sequence[float]) -> bytes:
    cols: dict[str, Any] = {
        "interval_start": res.labels,
        "actual": [repr(float(x)) for x in res.actual],
        "forecast": [repr(round(float(x), 6)) for x in res.forecast],
    }
    for name, q in zip(_quantile_names(levels), res.quantiles, strict=True):
        cols[name] = ["" if not np.isfinite(x) else repr(round(float(x), 6)) for x in q]
    return pd.DataFrame(cols).to_csv(index=False, lineterminator="\n").encode("utf-8")


def _plot(res: Result, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1)
    last_days = np.unique(res.day_of_row)[-14:]
    sel = np.isin(res.day_of_row, last_days)
    x = np.arange(int(sel.sum()))
    q = res.quantiles[:, sel]
    top.fill_between(x, q[0], q[-1], color="tab:blue", alpha=0.15, label="5-95 %")
    top.fill_between(x, q[2], q[-3], color="tab:blue", alpha=0.3, label="25-75 %")
    top.plot(x, res.actual[sel], color="black", lw=1.0, label="actual")
    top.plot(x, res.forecast[sel], color="tab:red", lw=1.0, label="forecast")
    labels = [res.labels[i] for i in np.flatnonzero(sel)]
    ticks = x[:: max(1, len(x) // 7)]
    top.set_xticks(ticks, [labels[i][:10] for i in ticks], fontsize=8)
    top.set_ylabel("price [currency/MWh]")
    top.set_title(f"{title}: last {len(last_days)} days")
    top.legend(loc="upper left", fontsize=8)
    daily = np.bincount(res.day_of_row, np.abs(res.actual - res.forecast)) / np.bincount(
        res.day_of_row
    )
    daily_naive = np.bincount(res.day_of_row, np.abs(res.actual - res.naive)) / np.bincount(
        res.day_of_row
    )
    bottom.plot(daily_naive, color="grey", lw=0.8, label="seasonal naive")
    bottom.plot(daily, color="tab:red", lw=0.8, label="model")
    bottom.set_ylabel("daily MAE")
    bottom.set_xlabel("test day")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@contextmanager
def _no_progress(total: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def _may_replace(d: Path) -> bool:
    names = {p.name for p in d.iterdir()}
    return not names or names <= set(OUTPUT_FILES)


def evaluate(
    data: Path,
    fmt: str,
    start: date,
    end: date,
    model: str,
    out: Path,
    *,
    zone: str | None = None,
    features: Path | None = None,
    compare: Path | None = None,
    jobs: int = 2,
    residual_days: int = RESIDUAL_DAYS,
    levels: Sequence[float] = QUANTILES,
    progress: Callable[[int], AbstractContextManager[Callable[[int], None]]] | None = None,
) -> dict[str, Any]:
    """Forecast every day ``start .. end`` (inclusive) as of its gate closure; write ``out``.

    Returns the metrics (also in ``out/metrics.json``). Nothing is written when anything fails.
    ``progress(total)`` is a context manager yielding ``advance(n_days)`` (a progress bar).
    """
    t0 = time.perf_counter()
    name = parse_model(model).value
    if jobs < 1:
        raise PowerdeskError(f"--jobs must be at least 1, got {jobs}")
    if out.exists() and (not out.is_dir() or not _may_replace(out)):
        raise PowerdeskError(f"{out}: exists and is not an empty or forecast output folder")
    loaded = load(data, fmt, zone, features)
    panel = loaded.panel
    i0, i1 = _days(panel, start, end)
    first = max(0, i0 - residual_days)
    rows = list(range(first, i1 + 1))
    with (progress or _no_progress)(len(rows)) as advance:
        points = _run_chunks(name, panel, rows, jobs, advance, i0)
    quants = rolling_quantiles(points, panel.prices[rows], residual_days, levels)
    test = slice(i0 - first, None)
    if np.isnan(quants[test]).any():
        raise PowerdeskError(
            "too little data before --start to measure errors for the quantiles "
            f"(need at least two days before {start})"
        )
    naive = np.vstack([seasonal_naive(panel, i) for i in range(i0, i1 + 1)])
    res = _flatten(loaded, rows[test], points[test], naive, quants[test])
    cmp = None
    if compare is not None:
        cmp = (compare.name, read_compare(compare, res.labels, res.actual))
    m = metrics(res, levels, cmp)
    m.update(
        {
            "model": name,
            "format": fmt,
            "zone": loaded.zone.key,
            "data": loaded.source,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": i1 - i0 + 1,
            "residual_days": residual_days,
            "seconds": round(time.perf_counter() - t0, 1),
            "jobs": jobs,
            "cpus": os.cpu_count(),
        }
    )
    files = {
        "forecasts.csv": _csv(res, levels),
        "metrics.json": pretty_json(m),
        "forecast.png": _plot(res, f"{name} on {data.name}"),
    }
    replace_dir_atomic(files, out, may_replace=_may_replace, what="a forecast output folder")
    return m


def parse_day(text: str, option: str) -> date:
    """A ``YYYY-MM-DD`` option value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PowerdeskError(f"{option} {text!r} is not a date YYYY-MM-DD") from None
