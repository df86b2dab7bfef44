"""Write a :class:`bidding.DayPlan` to a folder: bids.json, one CSV per market, schedule, plot.

``bids.json`` holds the bid documents of :func:`engine.bids.documents.plan_documents`, the form
the desk stores, submits and settles (DA curves with every job's power, ``block_bids`` naming
the blocks inside them), with the plan's objective and provenance. Every file is rendered in
memory and written atomically (:func:`engine.core.files.write_files_atomic`).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bidding import DayPlan
from bidding.realtime import Replan
from engine.bids.documents import plan_documents
from engine.core.files import write_files_atomic
from engine.core.jsonio import pretty_json


def _f(x: float, digits: int = 6) -> float:
    return round(float(x), digits) + 0.0


def plan_document(plan: DayPlan, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bid set and its provenance as JSON-ready data (units in the field names)."""
    prov = plan.provenance
    docs = plan_documents(plan)
    return {
        "site": plan.site,
        "zone": plan.zone,
        "delivery_day": plan.day.isoformat(),
        "currency": plan.currency,
        "interval_minutes": round(plan.interval_hours * 60),
        "n_scenarios": int(plan.probabilities.shape[0]),
        "block_bids_in_curves": True,
        "da_curves": docs["curves"],
        "block_bids": docs["block_bids"],
        "reserve_bids": docs["reserve_bids"],
        "objective": docs["objective"],
        "breaches": docs["breaches"],
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
            "inputs_as_of": prov.inputs_as_of.isoformat() if prov.inputs_as_of else None,
            "inputs": inputs or {},
        },
    }


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _plot(plan: DayPlan) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1)
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return buf.getvalue()


def replan_files(replan: Replan) -> dict[str, bytes]:
    """``replan.csv`` (per interval: the schedule the site runs without the stage, the
    re-planned one, the real-time price forecast, and the re-planned jobs and battery) and
    ``replan.json`` (when, against what, how much moved) of a real-time re-plan."""
    frame = replan.plan.schedule_frame(0)
    frame.insert(0, "rt_forecast_per_mwh", replan.forecast_per_mwh)
    frame.insert(0, "replanned_market_mw", frame.pop("market_mw"))
    frame.insert(0, "base_market_mw", replan.base_mw)
    frame.index = frame.index.map(lambda ts: ts.isoformat())
    doc = {
        "site": replan.plan.site,
        "day": replan.plan.day.isoformat(),
        "as_of": None if replan.as_of is None else replan.as_of.isoformat(),
        "method": replan.plan.provenance.scenario_method,
        "threshold_per_mwh": replan.threshold_per_mwh,
        "moved_mwh": round(replan.deviation_mwh, 6),
        "replans": replan.replans,
        "note": "the DA bids are unchanged; the site runs replanned_market_mw and settles its "
        "deviation from the cleared position at the real-time price",
    }
    return {
        "replan.csv": frame.round(6).to_csv(index_label="interval_start").encode(),
        "replan.json": pretty_json(doc),
    }


def write_plan(
    plan: DayPlan,
    out: Path,
    inputs: dict[str, Any] | None = None,
    replan: Replan | None = None,
) -> list[Path]:
    """Write ``bids.json``, ``da_curve.csv``, ``reserve_bids.csv``, ``block_bids.csv``,
    ``schedule.csv`` and ``plan.png`` into ``out`` (created; existing files replaced), and with
    ``replan`` the real-time stage's :func:`replan_files`, all in one atomic write.
    """
    doc = plan_document(plan, inputs)
    curve_rows = [
        [c["interval_start"], i, p, q]
        for c in doc["da_curves"]
        for i, (p, q) in enumerate(zip(c["prices_per_mwh"], c["quantities_mw"], strict=True))
    ]
    frame = plan.schedule_frame()
    frame.index = frame.index.map(lambda ts: ts.isoformat())
    files = {
        "bids.json": pretty_json(doc),
        "da_curve.csv": _csv(
            ["interval_start", "step", "price_per_mwh", "quantity_mw"], curve_rows
        ).encode(),
        "reserve_bids.csv": _csv(
            ["product", "block_start", "block_end", "capacity_mw", "price_per_mw"],
            [
                [r["product"], r["start"], r["end"], r["capacity_mw"], r["price_per_mw"]]
                for r in doc["reserve_bids"]
            ],
        ).encode(),
        "block_bids.csv": _csv(
            ["job", "block_start", "block_end", "quantity_mw", "limit_price_per_mwh"],
            [
                [b["job"], b["start"], b["end"], b["quantity_mw"], b["limit_price_per_mwh"]]
                for b in doc["block_bids"]
            ],
        ).encode(),
        "schedule.csv": frame.round(6).to_csv(index_label="interval_start").encode(),
        "plan.png": _plot(plan),
    }
    if replan is not None:
        files.update(replan_files(replan))
    out = Path(out)
    write_files_atomic(files, out)
    return sorted(out / name for name in files)


def money(x: float) -> Decimal:
    """A float amount as Decimal with cents (for printing)."""
    return Decimal(repr(float(x))).quantize(Decimal("0.01"))
