"""Write a :class:`bidding.DayPlan` to a folder: bids.json, one CSV per market, schedule, plot.

Everything is written into a temporary sibling folder first and renamed into place at the end,
so a failure never leaves a half-written result.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bidding import DayPlan


def _iso(t: Any) -> str:
    return str(t.isoformat())


def _f(x: float, digits: int = 6) -> float:
    return round(float(x), digits) + 0.0


def plan_document(plan: DayPlan, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bid set and its provenance as JSON-ready data (units in the field names)."""
    prov = plan.provenance
    return {
        "site": plan.site,
        "zone": plan.zone,
        "delivery_day": plan.day.isoformat(),
        "currency": plan.currency,
        "interval_minutes": round(plan.interval_hours * 60),
        "n_scenarios": int(plan.probabilities.shape[0]),
        # The submission form: the block bids carry the non-preemptible jobs, the curves the rest.
        "da_curves_exclude_block_bids": True,
        "da_curves": [
            {
                "interval_start": _iso(c.interval_start),
                "steps": [
                    {"price_per_mwh": str(p), "quantity_mw": _f(q, 3)}
                    for p, q in zip(c.prices_per_mwh, c.quantities_mw, strict=True)
                ],
            }
            for c in plan.submission_curves()
        ],
        "block_bids": [
            {
                "job": b.job,
                "start": _iso(b.start),
                "end": _iso(b.end),
                "quantity_mw": _f(b.quantity_mw, 3),
                "limit_price_per_mwh": str(b.limit_price_per_mwh),
                "profile_mw": [_f(x, 3) for x in b.profile_mw],
            }
            for b in plan.block_bids
        ],
        "reserve_bids": [
            {
                "product": r.product,
                "start": _iso(r.start),
                "end": _iso(r.end),
                "capacity_mw": _f(r.capacity_mw, 3),
                "price_per_mw": str(r.price_per_mw),
            }
            for r in plan.reserve_bids
        ],
        "objective": {
            "energy_cost": _f(plan.objective.energy_cost, 2),
            "reserve_revenue": _f(plan.objective.reserve_revenue, 2),
            "degradation_cost": _f(plan.objective.degradation_cost, 2),
            "demand_response_cost": _f(plan.objective.demand_response_cost, 2),
            "penalty_cost": _f(plan.objective.penalty_cost, 2),
            "ppa_cost": _f(plan.objective.ppa_cost, 2),
            "total": _f(plan.objective.total, 2),
        },
        "breaches": [
            {
                "group": b.group,
                "name": b.name,
                "amount_mwh": _f(b.amount, 6),
                "penalty_cost": _f(b.penalty_cost, 2),
            }
            for b in plan.breaches
        ],
        "provenance": {
            "solver": prov.solver,
            "solver_version": prov.solver_version,
            "status": prov.status,
            "objective": _f(prov.objective, 6),
            "solve_time_s": _f(prov.solve_time_s, 4),
            "solver_time_s": _f(prov.solver_time_s, 4),
            "parameter_hash": prov.parameter_hash,
            "code_version": prov.code_version,
            "scenario_method": prov.scenario_method,
            "inputs_as_of": _iso(prov.inputs_as_of) if prov.inputs_as_of else None,
            "inputs": inputs or {},
        },
    }


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _plot(plan: DayPlan, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    t = plan.intervals.tz_convert("UTC")
    ax1.step(t, plan.expected_market_mw, where="post", label="expected DA purchase", color="k")
    for s in range(plan.market_mw.shape[0]):
        ax1.step(t, plan.market_mw[s], where="post", color="tab:blue", alpha=0.25, lw=0.8)
    jobs = plan.probabilities @ plan.job_it_mw.sum(axis=1)
    ax1.step(t, jobs, where="post", label="jobs IT power (expected)", color="tab:green")
    net = plan.probabilities @ (plan.discharge_mw - plan.charge_mw)
    ax1.step(t, net, where="post", label="battery discharge - charge", color="tab:orange")
    for key, values in plan.reserve_mw.items():
        ax1.step(t, values, where="post", ls="--", label=f"reserve {key}")
    ax1.set_ylabel("power [MW]")
    ax1.set_title(f"{plan.site} {plan.zone} {plan.day.isoformat()} (UTC)")
    ax1.legend(fontsize=7, loc="upper right")
    picks = np.linspace(0, len(plan.da_curves) - 1, num=min(6, len(plan.da_curves))).astype(int)
    for i in sorted(set(picks.tolist())):
        curve = plan.da_curves[i]
        prices = [float(p) for p in curve.prices_per_mwh]
        finite_top = max(prices[:-1], default=prices[-1])
        top = max(finite_top * 1.2, finite_top + 10.0)
        xs = [*curve.quantities_mw, curve.quantities_mw[-1]]
        ys = [*prices[:-1], top, top]
        ax2.step(xs[: len(ys)], ys, where="pre", label=curve.interval_start.strftime("%H:%M"))
    ax2.set_xlabel("quantity [MW]")
    ax2.set_ylabel(f"price [{plan.currency}/MWh] (cap step clipped)")
    ax2.set_title("DA bid curves (selected intervals, UTC start)")
    ax2.legend(fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_plan(plan: DayPlan, out: Path, inputs: dict[str, Any] | None = None) -> list[Path]:
    """Write ``bids.json``, ``da_curve.csv``, ``reserve_bids.csv``, ``block_bids.csv``,
    ``schedule.csv`` and ``plan.png`` into ``out`` (created; existing files replaced).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        doc = plan_document(plan, inputs)
        (tmp / "bids.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        curve_rows = [
            [_iso(c.interval_start), i, str(p), _f(q, 3)]
            for c in plan.submission_curves()
            for i, (p, q) in enumerate(zip(c.prices_per_mwh, c.quantities_mw, strict=True))
        ]
        (tmp / "da_curve.csv").write_text(
            _csv(["interval_start", "step", "price_per_mwh", "quantity_mw"], curve_rows)
        )
        (tmp / "reserve_bids.csv").write_text(
            _csv(
                ["product", "block_start", "block_end", "capacity_mw", "price_per_mw"],
                [
                    [
                        r.product,
                        _iso(r.start),
                        _iso(r.end),
                        _f(r.capacity_mw, 3),
                        str(r.price_per_mw),
                    ]
                    for r in plan.reserve_bids
                ],
            )
        )
        (tmp / "block_bids.csv").write_text(
            _csv(
                ["job", "block_start", "block_end", "quantity_mw", "limit_price_per_mwh"],
                [
                    [
                        b.job,
                        _iso(b.start),
                        _iso(b.end),
                        _f(b.quantity_mw, 3),
                        str(b.limit_price_per_mwh),
                    ]
                    for b in plan.block_bids
                ],
            )
        )
        frame = plan.schedule_frame()
        frame.index = frame.index.map(lambda ts: ts.isoformat())
        (tmp / "schedule.csv").write_text(frame.round(6).to_csv(index_label="interval_start"))
        _plot(plan, tmp / "plan.png")
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if out.exists():
            for f in tmp.iterdir():
                os.replace(f, out / f.name)
            shutil.rmtree(tmp)
        else:
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.iterdir())


def money(x: float) -> Decimal:
    """A float amount as Decimal with cents (for printing)."""
    return Decimal(repr(float(x))).quantize(Decimal("0.01"))
