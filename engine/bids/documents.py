"""A day's plan as the documents the desk stores, submits and settles (one form for all).

:func:`plan_documents` turns a :class:`bidding.DayPlan` into JSON-ready parts: DA curves (every
job's power included: non-preemptible jobs are first-stage decisions, so their power is in every
scenario's purchase and hence in the curves), reserve bids, block bids, the planned schedule,
breaches and the objective. Quantities are rounded once here, to the µMW. :func:`submitted_day`
reads the curves and reserve bids back as the market's :class:`~market.clearing.SubmittedDay`;
live settlement and the backtest both clear that, so both measure the very bid that was stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import pandas as pd

from bidding import DayPlan
from bidding.portfolio_model import JobAllocation
from engine.core.jsonio import canonical_json
from market.clearing import (
    DACurve,
    ReserveOffer,
    SubmittedDay,
    placed_energy_mwh,
    placement_cost,
    price_decimal,
)


def _f(x: float, digits: int = 6) -> float:
    return round(float(x), digits) + 0.0


def _iso(t: Any) -> str:
    return pd.Timestamp(t).tz_convert("UTC").isoformat()


def plan_documents(plan: DayPlan) -> dict[str, Any]:
    """The JSON parts of a plan: curves, reserve bids, block bids, schedule, breaches, objective."""
    schedule = plan.schedule_frame()
    rows = []
    for start, values in zip(schedule.index, schedule.to_dict("records"), strict=True):
        row: dict[str, Any] = {"interval_start": _iso(start)}
        row.update({str(k): _f(v) for k, v in values.items()})
        rows.append(row)
    return {
        "curves": [
            {
                "interval_start": _iso(c.interval_start),
                "prices_per_mwh": [str(p) for p in c.prices_per_mwh],
                "quantities_mw": [_f(q) for q in c.quantities_mw],
            }
            for c in plan.da_curves
        ],
        "reserve_bids": [
            {
                "product": r.product,
                "start": _iso(r.start),
                "end": _iso(r.end),
                "capacity_mw": _f(r.capacity_mw),
                "price_per_mw": str(r.price_per_mw),
            }
            for r in plan.reserve_bids
        ],
        "block_bids": [
            {
                "job": b.job,
                "start": _iso(b.start),
                "end": _iso(b.end),
                "quantity_mw": _f(b.quantity_mw),
                "limit_price_per_mwh": str(b.limit_price_per_mwh),
            }
            for b in plan.block_bids
        ],
        "schedule": rows,
        "breaches": [
            {
                "group": b.group,
                "name": b.name,
                "amount_mwh": _f(b.amount),
                "penalty_cost": _f(b.penalty_cost, 2),
            }
            for b in plan.breaches
        ],
        "objective": {k: _f(v, 2) for k, v in asdict(plan.objective).items()},
    }


def allocation_documents(allocation: Sequence[JobAllocation]) -> list[dict[str, Any]]:
    """The stored form of a portfolio plan's allocation: per migratable job and site, its
    placement cost rate, interval length and IT power per interval (rounded once here, to the
    µMW, as the curves are)."""
    return [
        {
            "job": a.job,
            "site": a.site,
            "cost_per_mwh": str(price_decimal(a.cost_per_mwh)),
            "interval_minutes": round(a.interval_hours * 60),
            "intervals": [
                {"interval_start": _iso(t), "it_mw": _f(x)}
                for t, x in zip(a.intervals, a.it_mw, strict=True)
            ],
        }
        for a in allocation
    ]


def document_energy_mwh(document: Mapping[str, Any]) -> Decimal:
    """IT energy one stored allocation document places (:func:`market.clearing.placed_energy_mwh`
    of its stored, µMW-rounded powers) [MWh]."""
    return placed_energy_mwh(
        [float(i["it_mw"]) for i in document["intervals"]], int(document["interval_minutes"]) / 60
    )


def site_placement_cost(
    allocation: Sequence[Mapping[str, Any]], site: str, minor_unit: Decimal
) -> Decimal:
    """The placement cost at ``site`` of stored allocation documents
    (:func:`market.clearing.placement_cost`); live settlement and the backtest both use it."""
    return placement_cost(
        (
            (Decimal(str(a["cost_per_mwh"])), document_energy_mwh(a))
            for a in allocation
            if a["site"] == site
        ),
        minor_unit,
    )


def submitted_day(
    curves: Sequence[Mapping[str, Any]], reserve_bids: Sequence[Mapping[str, Any]]
) -> SubmittedDay:
    """The market's view of stored curve and reserve-bid documents."""
    return SubmittedDay(
        curves=tuple(
            DACurve(
                pd.Timestamp(c["interval_start"]).to_pydatetime(),
                tuple(Decimal(p) for p in c["prices_per_mwh"]),
                tuple(float(q) for q in c["quantities_mw"]),
            )
            for c in curves
        ),
        reserve_offers=tuple(
            ReserveOffer(
                product=str(r["product"]),
                block_start=pd.Timestamp(r["start"]).to_pydatetime(),
                capacity_mw=Decimal(repr(float(r["capacity_mw"]))),
                price_per_mw=Decimal(str(r["price_per_mw"])),
            )
            for r in reserve_bids
        ),
    )


def decision_sha256(docs: Mapping[str, Any]) -> str:
    """SHA-256 of what a plan bids (curves, block bids, reserve bids) in canonical JSON."""
    bids = {k: docs[k] for k in ("curves", "block_bids", "reserve_bids")}
    return hashlib.sha256(canonical_json(bids)).hexdigest()
