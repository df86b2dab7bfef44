"""What each desk page shows, gathered from the engine's services (the API's own read paths).

Functions here are synchronous (database and file reads); the routes run them in a thread.
"""

from __future__ import annotations

import base64
import csv
import json
from collections import defaultdict
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from engine.bids.service import BidRecord, get_bid, list_bids
from engine.certificates import service as svc
from engine.certificates.store import bundle_json
from engine.core.errors import NotFoundError
from engine.core.layout import reports_root
from engine.scheduling.runs import runs_page
from engine.settlement.service import latest_settlement
from engine.sites.registry import list_sites
from ledger.ppa import ppa_to_mapping
from ledger.state import Status
from market import gate_closure_utc, get_zone

COMPONENTS = ("energy_cost", "imbalance_cost", "reserve_revenue", "ppa_cost", "placement_cost")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def next_delivery_day(zone_key: str, now: datetime) -> date:
    """The delivery day whose bids the desk works on now: tomorrow in the zone's time."""
    return now.astimezone(get_zone(zone_key).zoneinfo).date() + timedelta(days=1)


def bid_dict(b: BidRecord) -> dict[str, Any]:
    """A stored bid with everything the Today page draws."""
    return {f.name: getattr(b, f.name) for f in fields(b)}


def today(engine: Engine, now: datetime, bid_id: int | None) -> dict[str, Any]:
    """Per site: the next delivery day's bids and deadline, and the bid whose curves are shown."""
    records, _ = list_sites(engine, limit=500)
    sites = []
    for r in records:
        zone = get_zone(r.zone)
        day = next_delivery_day(r.zone, now)
        deadline = gate_closure_utc(day, zone)
        for_day, _ = list_bids(engine, site=r.name, day=day, limit=20)
        recent, total = list_bids(engine, site=r.name, limit=10)
        shown: dict[str, Any] | None = None
        wanted = [b for b in recent if b["id"] == bid_id] if bid_id else []
        pick = wanted or [b for b in for_day if b["submission_status"] == "submitted"]
        pick = pick or for_day or [b for b in recent if b["submission_status"] == "submitted"]
        pick = pick or recent
        if bid_id and not wanted:
            try:
                one = get_bid(engine, bid_id)
                if one.site == r.name:
                    shown = bid_dict(one)
            except NotFoundError:
                pass
        if shown is None and pick:
            shown = bid_dict(get_bid(engine, int(pick[0]["id"])))
        sites.append(
            {
                "name": r.name,
                "zone": r.zone,
                "currency": zone.currency,
                "time_zone": zone.tz,
                "next_day": day,
                "deadline": deadline,
                "open": now < deadline,
                "for_day": for_day,
                "recent": recent,
                "total_bids": total,
                "shown": shown,
                "jobs": [j.name for j in r.site.jobs],
                "battery_mwh": None if r.site.battery is None else r.site.battery.energy_mwh,
            }
        )
    return {"sites": sites}


def positions(engine: Engine) -> dict[str, Any]:
    """Settlements per day and month by component, from the newest run of each site and day."""
    records, _ = list_sites(engine, limit=500)
    rows: list[dict[str, Any]] = []
    for r in records:
        days = sorted({b["day"] for b in list_bids(engine, site=r.name, limit=500)[0]})
        for day in days:
            s = latest_settlement(engine, r.name, day)
            if s is None:
                continue
            row: dict[str, Any] = {
                "site": s.site,
                "day": s.day.isoformat(),
                "run": s.run,
                "currency": s.currency,
            }
            for c in (*COMPONENTS, "total_cost"):
                row[c] = Decimal(s.totals.get(c, "0"))
            rows.append(row)
    months: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys((*COMPONENTS, "total_cost"), Decimal(0))
    )
    for row in rows:
        m = months[(row["site"], row["day"][:7], row["currency"])]
        for c in (*COMPONENTS, "total_cost"):
            m[c] += row[c]
    monthly = [
        {"site": k[0], "month": k[1], "currency": k[2], **v} for k, v in sorted(months.items())
    ]
    # The four components every settlement has, and placement when some day has it.
    used = [c for c in COMPONENTS if c != "placement_cost" or any(row[c] for row in rows)]
    # Costs up, revenue (reserves) down: the bars add up to the total cost.
    sign = {c: -1.0 if c == "reserve_revenue" else 1.0 for c in used}
    chart = [{"name": c, "values": [sign[c] * float(row[c]) for row in rows]} for c in used]
    return {"days": rows, "months": monthly, "components": used, "chart": chart}


def positions_csv(engine: Engine) -> str:
    """The daily positions as CSV (one row per site and day)."""
    data = positions(engine)
    cols = ["site", "day", "run", "currency", *COMPONENTS, "total_cost"]
    out: list[str] = []

    class _W:
        def write(self, s: str) -> None:
            out.append(s)

    w = csv.writer(_W(), lineterminator="\n")
    w.writerow(cols)
    for row in data["days"]:
        w.writerow([row[c] for c in cols])
    return "".join(out)


def _all_bundles(engine: Engine, status: Status | None, cap: int = 20_000) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while len(out) < cap:
        items, total = svc.certificate_page(engine, status=status, limit=500, offset=offset)
        out.extend(bundle_json(b) for b in items)
        offset += len(items)
        if not items or offset >= total:
            break
    return out


def certificates(engine: Engine, home: Path, max_proofs: int = 500) -> dict[str, Any]:
    """PPAs, certificates by state and hour, and each retirement with its inclusion proof."""
    ppas = [ppa_to_mapping(p) for p in svc.list_ppa_page(engine, limit=500)[0]]
    bundles = _all_bundles(engine, None)
    by_state: dict[str, int] = defaultdict(int)
    for b in bundles:
        by_state[str(b["status"])] += int(b["energy_wh"])
    # Walk the log once: issuance, transfer and retirement events per production hour.
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    retirements: list[dict[str, Any]] = []
    energy_of = {str(b["bundle_id"]): int(b["energy_wh"]) for b in bundles}
    start = 0
    while True:
        page, size = svc.entries(engine, start, 500)
        for e in page:
            kind = str(e.event.get("kind"))
            body = e.event.get("body", {})
            if kind == "issue":
                hour = str(body.get("interval_start", body.get("production_start", "")))
                wh = int(body.get("energy_wh", 0) or 0)
                kinds[hour[:13]]["issued_wh"] += wh
            elif kind in ("transfer", "retire"):
                bundle = str(body.get("bundle", ""))
                wh = energy_of.get(bundle, 0)
                hour = bundle.split("/")[1] if bundle.count("/") >= 2 else ""
                kinds[hour[:13]][f"{kind}d_wh" if kind == "retire" else "transferred_wh"] += wh
                if kind == "retire":
                    retirements.append(
                        {
                            "index": e.index,
                            "leaf_b64": _b64(e.leaf),
                            "bundle": bundle,
                            "energy_wh": wh,
                            "site": body.get("site"),
                            "beneficiary": body.get("beneficiary"),
                            "consumption_start": body.get("consumption_start"),
                            "at": e.event.get("at"),
                        }
                    )
        if not page or page[-1].index + 1 >= size:
            break
        start = page[-1].index + 1
    checkpoint_note = ""
    keys: list[dict[str, str]] = []
    if size:
        store = svc.ledger_store(engine, home)
        checkpoint_note = svc.checkpoint(store, home)
        tree_size = int(checkpoint_note.split("\n")[1])
        tree = store.snapshot(tree_size)  # one tree for every proof of the page
        for r in retirements[-max_proofs:]:
            if r["index"] < tree_size:
                proof = tree.inclusion_proof(r["index"], tree_size)
                r["proof_b64"] = [_b64(p) for p in proof]
                r["tree_size"] = tree_size
        for k in svc.key_page(engine, limit=500)[0]:
            if "operator" in k.key.roles:
                keys.append({"key_id": k.key.key_id, "public_key_b64": _b64(k.key.public_key)})
    hours = [{"hour": h, **v} for h, v in sorted(kinds.items()) if h]
    return {
        "ppas": ppas,
        "by_state_wh": dict(by_state),
        "issued_wh": sum(by_state.values()),
        "retired_wh": by_state.get("retired", 0),
        "hours": hours,
        "retirements": retirements,
        "proofs": [r for r in retirements if "proof_b64" in r],
        "checkpoint": checkpoint_note,
        "operator_keys": keys,
        "log_size": size,
    }


def carbon_reports(home: Path) -> list[dict[str, Any]]:
    """The carbon reports written under ``POWERDESK_HOME/reports``, newest period first."""
    out = []
    # The stored layout: reports/<site>/<YYYY-MM>/report/report.json (engine.core.layout).
    for path in reports_root(home).glob("*/*/report/report.json"):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        site, day = path.parents[2].name, path.parents[1].name
        daily: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        zones = [s.get("zone") for s in report.get("sites", []) if s.get("site") == site]
        tz = get_zone(str(zones[0])).zoneinfo if zones and zones[0] else UTC
        for h in report.get("hourly", []):
            d = datetime.fromisoformat(str(h["interval_start"])).astimezone(tz).date().isoformat()
            daily[d][0] += Decimal(h.get("cfe_mwh", "0"))
            daily[d][1] += Decimal(h.get("load_mwh", "0"))
        out.append(
            {
                "site": site,
                "day": day,
                "report": report,
                "cfe_by_day": [
                    {"day": d, "cfe": float(c / t) if t else 0.0}
                    for d, (c, t) in sorted(daily.items())
                ],
                "has_html": (path.parent / "report.html").exists(),
                "has_pdf": (path.parent / "report.pdf").exists(),
            }
        )
    out.sort(key=lambda r: (r["report"].get("period_start", ""), r["site"]), reverse=True)
    return out


def audit_bundles(home: Path) -> list[str]:
    """Names of the audit bundles exported under ``POWERDESK_HOME/audit``, newest first."""
    d = home / "audit"
    if not d.is_dir():
        return []
    return sorted((p.name for p in d.iterdir() if (p / "manifest.json").exists()), reverse=True)


def _series(days: list[dict[str, str]], perfect: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    series = []
    cum = Decimal(0)
    cum_pf = Decimal(0)
    for r in days:
        cum += Decimal(r["total_cost"])
        pf = perfect.get(r["day"])
        cum_pf += Decimal(pf["total_cost"]) if pf else Decimal(0)
        regret = Decimal(r["total_cost"]) - Decimal(pf["total_cost"]) if pf else None
        series.append(
            {
                "day": r["day"],
                "total_cost": float(r["total_cost"]),
                "cumulative": float(cum),
                "cumulative_pf": float(cum_pf) if perfect else None,
                "regret": None if regret is None else float(regret),
            }
        )
    return series


def backtests(engine: Engine, home: Path) -> dict[str, Any]:
    """Backtests started through the API (stored), the runs and sweeps written under
    ``POWERDESK_HOME/backtests`` (``powerdesk backtest``/``sweep --out``, the demo)."""
    from engine.backtest.stored import list_backtests

    stored, total = list_backtests(engine, limit=50)
    api_runs = [
        {
            "name": f"backtest {r.id}",
            "status": r.status,
            "error": r.error,
            "request": r.request,
            "summary": r.summary or {},
            "days": _series([{k: str(v) for k, v in d.items()} for d in r.days or []], {}),
            "created_at": r.created_at,
        }
        for r in stored
    ]
    runs, sweeps = [], []
    for path in sorted((home / "backtests").glob("*/summary.json")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (path.parent / "sweep.csv").exists():
            rows = _csv(path.parent / "sweep.csv")
            labels = [
                " ".join(
                    [str(r.get("strategy"))]
                    + [f"{k}={r[k]}" for k in ("n_scenarios", "seed") if r.get(k)]
                )
                for r in rows
            ]
            sweeps.append(
                {"name": path.parent.name, "summary": summary, "rows": rows, "labels": labels}
            )
            continue
        days = _csv(path.parent / "days.csv")
        perfect = {r["day"]: r for r in _csv(path.parent / "days_perfect_foresight.csv")}
        runs.append({"name": path.parent.name, "summary": summary, "days": _series(days, perfect)})
    return {"stored": api_runs, "stored_total": total, "runs": runs, "sweeps": sweeps}


def _csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def operations(engine: Engine) -> dict[str, Any]:
    """The newest scheduled job runs."""
    rows, total = runs_page(engine, limit=200)
    return {"runs": rows, "total": total, "now": datetime.now(UTC)}
