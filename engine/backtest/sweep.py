"""Scenario sweeps: the same period backtested under many strategy settings, one table out.

``powerdesk sweep`` runs perfect foresight and the price taker once (the benchmarks), every
strategy that takes no setting once, and the ``forecast`` strategy once per (scenario count,
seed) of the grid; each run goes through the backtest executor (local processes or a Dask
cluster), so the days of one setting are spread over the workers. Outputs, written
atomically (same inputs, same bytes):

- ``sweep.csv``: one row per run: ``strategy, n_scenarios, seed`` (empty where the strategy
  takes none), the cost parts, ``total_cost`` and ``regret_vs_perfect_foresight`` [currency],
  and ``capture``, the share of the value of flexibility earned:
  ``(price_taker - total) / (price_taker - perfect_foresight)`` [-];
- ``summary.json``: inputs with SHA-256, period, the benchmarks' totals, the best row;
- ``sweep.png``: regret of each run (forecast by scenario count, one point per seed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from engine.backtest.executors import parse_executor
from engine.backtest.runner import (
    PERFECT_FORESIGHT,
    PRICE_TAKER,
    StrategyRun,
    backtest_runs,
    capture,
    load_inputs,
    write_outputs,
)
from engine.core.errors import PowerdeskError
from engine.core.jsonio import pretty_json
from engine.strategies.names import StrategyName
from engine.strategies.realtime import check_realtime, with_realtime
from engine.strategies.registry import StrategyConfig, get_strategy, price_model

FORECAST = StrategyName.FORECAST.value
PARTS = ("energy_cost", "reserve_revenue", "imbalance_cost", "degradation_cost", "total_cost")


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One run of the sweep: its setting and its settled totals [currency]."""

    strategy: str
    n_scenarios: int | None
    seed: int | None
    totals: dict[str, Decimal]
    regret: Decimal
    capture: Decimal | None


@dataclass(frozen=True)
class SweepResult:
    """Rows in run order, perfect foresight's total, the files written (name -> bytes)."""

    rows: tuple[SweepRow, ...]
    perfect_total: Decimal
    summary: dict[str, Any]
    files: dict[str, bytes]
    out_dir: Path | None


def _totals(run: StrategyRun) -> dict[str, Decimal]:
    return {name: run.total(name) for name in PARTS}


def run_sweep(
    site: str | Path,
    prices: str | Path,
    start: date | str,
    end: date | str,
    *,
    strategies: Sequence[str] = (FORECAST, "deterministic", "price-taker"),
    n_scenarios: Sequence[int] = (3, 5, 10),
    seeds: Sequence[int] = (0,),
    imbalance_prices: str | Path | None = None,
    reserve_prices: str | Path | None = None,
    features: Sequence[str | Path] = (),
    executor: str = "local",
    out: str | Path | None = None,
    progress: bool | None = None,
    realtime: StrategyConfig | None = None,
) -> SweepResult:
    """Backtest ``strategies`` over ``[start, end)``; ``forecast`` once per scenario count and
    seed. Regret is against perfect foresight, which runs once. With the real-time settings of
    ``realtime`` (``rt_stage``), every strategy that optimises also gets a ``<name>+rt`` row: the
    same bids with the real-time stage (benchmarks unchanged, docs/realtime.md).

    Raises
    ------
    PowerdeskError
        One line: an unknown strategy, an empty or bad grid, or any backtest input error.
    """
    names = list(dict.fromkeys(strategies))
    if not names:
        raise PowerdeskError("give at least one strategy to sweep")
    for name in names:
        get_strategy(name)
    if FORECAST in names and (not n_scenarios or not seeds):
        raise PowerdeskError("the forecast strategy needs at least one scenario count and seed")
    if any(n < 1 for n in n_scenarios):
        raise PowerdeskError(f"scenario counts must be at least 1, got {list(n_scenarios)}")
    if any(s < 0 for s in seeds):
        raise PowerdeskError(f"seeds must not be negative, got {list(seeds)}")
    grid_n = sorted(set(n_scenarios))
    grid_seeds = sorted(set(seeds))
    spec = parse_executor(executor)
    loaded = load_inputs(
        site, prices, start, end, names, imbalance_prices, reserve_prices, features
    )
    base = with_realtime(StrategyConfig(model=price_model(loaded.zone, loaded.data)), realtime)
    check_realtime(base, loaded.data)
    benchmarks = (PERFECT_FORESIGHT, PRICE_TAKER)
    fixed = [*benchmarks, *(n for n in names if n not in (FORECAST, *benchmarks))]
    grid = [(n, seed) for n in grid_n for seed in grid_seeds] if FORECAST in names else []
    settings = [(name, base) for name in fixed]
    settings += [(FORECAST, replace(base, n_scenarios=n, seed=seed)) for n, seed in grid]
    # One executor session for every run: the workers start (and compile their models) once.
    done = backtest_runs(
        settings, loaded.site, loaded.zone, loaded.days, loaded.data, spec, progress
    )
    fixed_runs = dict(zip(fixed, done[: len(fixed)], strict=True))
    forecast_runs = dict(zip(grid, done[len(fixed) :], strict=True))
    perfect_total = fixed_runs[PERFECT_FORESIGHT].total("total_cost")
    taker_total = fixed_runs[PRICE_TAKER].total("total_cost")

    def row(name: str, n: int | None, seed: int | None, run: StrategyRun) -> SweepRow:
        totals = _totals(run)
        total = totals["total_cost"]
        share = capture(total, taker_total, perfect_total)
        return SweepRow(name, n, seed, totals, total - perfect_total, share)

    def rows_of(name: str, n: int | None, seed: int | None, run: StrategyRun) -> list[SweepRow]:
        rt = run.realtime()
        extra = [] if rt is None else [row(f"{name}+rt", n, seed, rt)]
        return [row(name, n, seed, run), *extra]

    rows: list[SweepRow] = []
    for name in names:
        if name == FORECAST:
            for (n, seed), run in forecast_runs.items():
                rows += rows_of(FORECAST, n, seed, run)
        else:
            rows += rows_of(name, None, None, fixed_runs[name])
    best = min(rows, key=lambda r: (r.totals["total_cost"], r.strategy, r.n_scenarios or 0))
    summary: dict[str, Any] = {
        "site": loaded.site.name,
        "zone": loaded.zone.key,
        "currency": loaded.zone.currency,
        "start": loaded.start.isoformat(),
        "end": loaded.end.isoformat(),
        "end_exclusive": True,
        "days": len(loaded.days),
        "strategies": names,
        "n_scenarios": grid_n if FORECAST in names else [],
        "seeds": grid_seeds if FORECAST in names else [],
        "runs": len(rows),
        "perfect_foresight_total_cost": str(perfect_total),
        "price_taker_total_cost": str(taker_total),
        "value_of_flexibility": str(taker_total - perfect_total),
        "best": _row_json(best),
        "inputs": loaded.inputs,
    }
    files = {
        "sweep.csv": sweep_csv(rows),
        "summary.json": pretty_json(summary),
        "sweep.png": sweep_png(rows, loaded.site.name, loaded.zone.currency),
    }
    out_dir = None
    if out is not None:
        out_dir = Path(out)
        write_outputs(files, out_dir)
    return SweepResult(tuple(rows), perfect_total, summary, files, out_dir)


def _row_json(r: SweepRow) -> dict[str, Any]:
    return {
        "strategy": r.strategy,
        "n_scenarios": r.n_scenarios,
        "seed": r.seed,
        **{k: str(v) for k, v in r.totals.items()},
        "regret_vs_perfect_foresight": str(r.regret),
        "capture": None if r.capture is None else str(r.capture),
    }


def sweep_csv(rows: Sequence[SweepRow]) -> bytes:
    """``sweep.csv``: one row per run, money as exact decimals."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["strategy", "n_scenarios", "seed", *PARTS, "regret_vs_perfect_foresight", "capture"]
    writer.writerow(header)
    for r in rows:
        writer.writerow(
            [
                r.strategy,
                "" if r.n_scenarios is None else r.n_scenarios,
                "" if r.seed is None else r.seed,
                *(r.totals[k] for k in PARTS),
                r.regret,
                "" if r.capture is None else r.capture,
            ]
        )
    return buf.getvalue().encode()


def sweep_png(rows: Sequence[SweepRow], site: str, currency: str) -> bytes:
    """Regret of every run: forecast against its scenario count (a point per seed, the mean as
    a line), the other strategies as horizontal references."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    forecast = [r for r in rows if r.strategy == FORECAST]
    if forecast:
        xs = np.array([float(r.n_scenarios or 0) for r in forecast])
        ys = np.array([float(r.regret) for r in forecast])
        ax.scatter(xs, ys, s=18, color="tab:blue", alpha=0.6, label="forecast (each seed)")
        levels = sorted(set(xs))
        ax.plot(levels, [ys[xs == x].mean() for x in levels], color="tab:blue", marker="o")
        ax.set_xticks(levels)
    for i, r in enumerate(r for r in rows if r.strategy != FORECAST):
        ax.axhline(float(r.regret), color=f"C{i + 1}", linestyle="--", label=r.strategy)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_title(f"{site}: regret against perfect foresight")
    ax.set_xlabel("forecast price scenarios")
    ax.set_ylabel(f"regret [{currency}]")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
