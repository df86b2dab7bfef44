"""The daily cycle as services: build and submit a bid, settle a day, the monthly report.

These are what the scheduler's jobs call (``engine.scheduling.jobs``) and what ``powerdesk demo``
runs in a row. Each is idempotent by its business key: a stored bid, settlement or certificate
delivery is returned, not redone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from carbon import CarbonReport, ReportInputs, compute_report
from engine.bids.files import replan_files
from engine.bids.portfolio import (
    PortfolioBidRequest,
    build_portfolio_bid,
    latest_portfolio_bid,
    submit_portfolio_bid,
)
from engine.bids.service import (
    BidRecord,
    BidRequest,
    build_bid,
    exchange_document,
    exchange_file_name,
    submit_bid,
    submitted_bid,
    submitted_plan,
)
from engine.bids.submission import SubmissionAdapter
from engine.certificates.ppa_delivery import (
    DeliveredHour,
    deliver_physical_ppa,
    ensure_device,
    ensure_party_key,
    site_retirements,
)
from engine.certificates.store import LedgerStore
from engine.core.errors import PowerdeskError
from engine.core.files import write_files_atomic
from engine.core.layout import replan_dir
from engine.io.emission_factors import EfDataset
from engine.io.meter import MeterData
from engine.io.site_file import load_site
from engine.reporting.carbon import ReportFiles, build_inputs, sum_site_figures, write_report
from engine.settlement.service import settle_site_day
from engine.sites.portfolios import get_portfolio, register_portfolio_file
from engine.sites.registry import get_site, register_site
from engine.strategies.names import DEFAULT_SCENARIOS
from engine.strategies.realtime import check_realtime, realtime_replan, with_realtime
from engine.strategies.registry import StrategyConfig
from ledger.keys import Role
from ledger.ppa import PPA, MeteredInterval
from market import delivery_day_bounds, gate_closure_utc, get_zone

WH_PER_MW_HOUR = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class BuiltBid:
    """A submitted bid and its exchange files."""

    bid: BidRecord
    files: dict[str, bytes]
    summary: dict[str, Any]


def register_site_file(engine: Engine, path: Path) -> str:
    """Store (or refresh) a site file; returns the site name."""
    site = load_site(path)  # one-line errors naming the file
    register_site(engine, path.read_text(encoding="utf-8"), "toml", replace=True)
    return site.name


def bid_day(
    *,
    engine: Engine,
    site: Path,
    day: date,
    submitter: SubmissionAdapter,
    as_of: datetime | None = None,
    n_scenarios: int = DEFAULT_SCENARIOS,
    force: bool = False,
) -> BuiltBid:
    """Build the forecast bid of ``site`` for delivery ``day`` and submit it (the scheduler's job).

    The bid is decided from prices known at ``as_of`` (default: the gate closure; never later)
    and handed over through :func:`engine.bids.service.submit_bid`, the one submission path.
    Idempotent per (site, day): when a bid is already submitted it is returned, not rebuilt;
    ``force`` builds a new one that replaces it.
    """
    name = register_site_file(engine, site)
    record = None if force else submitted_bid(engine, name, day)
    if record is None:
        built = build_bid(
            engine,
            BidRequest(
                site=name, day=day, strategy="forecast", as_of=as_of, n_scenarios=n_scenarios
            ),
            created_by="scheduler",
            now=as_of,
        )
        record = submit_bid(engine, built.id, submitter, now=as_of, replace=force)
    document = exchange_document(record)
    summary = {
        "bid_id": record.id,
        "site": record.site,
        "day": day.isoformat(),
        "expected_cost": str(record.expected_cost),
        "currency": record.currency,
        "inputs_as_of": record.inputs_as_of.isoformat(),
        "solver": record.solver,
        "parameter_hash": record.parameter_hash,
        "submission_status": record.submission_status,
        "submission_sha256": record.submission_sha256,
    }
    return BuiltBid(record, {exchange_file_name(record.site, day): document}, summary)


def portfolio_bid_day(
    *,
    engine: Engine,
    portfolio: Path,
    day: date,
    submitter: SubmissionAdapter,
    as_of: datetime | None = None,
    n_scenarios: int = DEFAULT_SCENARIOS,
    force: bool = False,
) -> dict[str, Any]:
    """Build a portfolio's forecast bids for delivery ``day`` jointly and submit each site's bid
    to its zone's outbox (the scheduler's portfolio job).

    The portfolio file and its site files are registered (refreshed) first. Idempotent per
    (portfolio, day): a build whose site bids are submitted is returned, one whose submission was
    cut short is completed, not rebuilt; ``force`` builds a new one whose site bids replace the
    submitted ones (the earlier become ``superseded``). Each site bid goes through
    :func:`engine.bids.service.submit_bid`, the one submission path.
    """
    record, _ = register_portfolio_file(engine, portfolio, replace=True, created_by="scheduler")
    build = None if force else latest_portfolio_bid(engine, record.name, day)
    if build is not None and build.status not in ("submitted", "partly submitted"):
        build = None
    if build is None:
        build = build_portfolio_bid(
            engine,
            PortfolioBidRequest(
                portfolio=record.name,
                day=day,
                strategy="forecast",
                as_of=as_of,
                n_scenarios=n_scenarios,
            ),
            created_by="scheduler",
            now=as_of,
        )
    build = submit_portfolio_bid(engine, build.id, submitter, now=as_of, replace=force)
    bids = build.site_bids(engine)
    return {
        "portfolio": build.portfolio,
        "portfolio_bid_id": build.id,
        "day": day.isoformat(),
        "expected_cost": str(build.expected_cost),
        "currency": build.currency,
        "inputs_as_of": build.inputs_as_of.isoformat(),
        "status": build.status,
        "sites": [
            {
                "site": b.site,
                "zone": b.zone,
                "bid_id": b.id,
                "path": f"outbox/{b.zone}/{day.isoformat()}/{exchange_file_name(b.site, day)}",
                "submission_sha256": b.submission_sha256,
            }
            for b in bids
        ],
    }


def settle_day(
    *, engine: Engine, site: Path, day: date, force: bool = False, reason: str = ""
) -> dict[str, Any]:
    """Settle ``site`` on ``day`` once (the scheduler's job and ``powerdesk settle``); returns
    the stored summary.

    The site file is registered first (as :func:`bid_day` does), so the performance factor K
    of the settlement is the registered site's, the one the API's settlement uses too.
    """
    name = register_site_file(engine, site)
    zone = load_site(site).zone
    return settle_site_day(engine, name, zone, day, force=force, reason=reason).to_json_dict()


def replan_day(
    *,
    engine: Engine,
    site: Path,
    day: date,
    as_of: datetime,
    home: Path,
    settings: StrategyConfig,
) -> dict[str, Any]:
    """Re-plan the submitted bid of ``site`` for ``day`` as of ``as_of`` (the scheduler's
    ``replan`` job): the plan behind the bid rebuilt from the stored data
    (:func:`engine.bids.service.submitted_plan`), then :func:`realtime_replan` with the
    real-time settings of ``settings`` (with rolling re-plans, the chain up to ``as_of``), the
    same function the backtest and ``powerdesk bid --rt-stage`` call. ``replan.csv`` and
    ``replan.json`` go to :func:`engine.core.layout.replan_dir` in one atomic write; a re-run
    writes the same files.

    Raises
    ------
    PowerdeskError
        No submitted bid, a bid that cannot be rebuilt, no real-time prices stored, a re-plan
        before the DA prices of ``day`` are published.
    """
    s = load_site(site)
    record = submitted_bid(engine, s.name, day)
    if record is None:
        raise PowerdeskError(f"{s.name} has no submitted bid for {day} to re-plan")
    decided = submitted_plan(engine, record)
    if decided.data is None:
        raise PowerdeskError(f"bid {record.id} ({record.strategy}) has no market data to re-plan")
    config = with_realtime(decided.config, replace(settings, rt_stage=True))
    check_realtime(config, decided.data)
    zone = get_zone(record.zone)
    replan = realtime_replan(
        get_site(engine, s.name).site, zone, day, decided.plan, decided.data, config, as_of=as_of
    )
    folder = replan_dir(home, s.name, day, as_of)
    files = replan_files(replan)
    write_files_atomic(files, folder)
    return {
        "bid_id": record.id,
        "site": s.name,
        "day": day.isoformat(),
        "as_of": as_of.isoformat(),
        "replans": replan.replans,
        "moved_mwh": round(replan.deviation_mwh, 6),
        "folder": str(folder),
        "replan_csv_sha256": hashlib.sha256(files["replan.csv"]).hexdigest(),
    }


def generation_profile(
    mix_path: Path, fuel_column: str, capacity_mw: Decimal, start: datetime, end: datetime
) -> list[MeteredInterval]:
    """Hourly output [Wh] of a device of ``capacity_mw`` following a real fleet's profile.

    The fleet's generation in ``fuel_column`` of a generation-mix CSV is scaled so that its
    maximum over the file equals ``capacity_mw``; energy is rounded half-even to the Wh.
    """
    import pandas as pd

    frame = pd.read_csv(mix_path, usecols=["interval_start", fuel_column])
    starts = pd.DatetimeIndex(pd.to_datetime(frame["interval_start"], utc=True))
    values = [Decimal(repr(float(v))) for v in frame[fuel_column]]
    peak = max(values)
    if peak <= 0:
        raise PowerdeskError(f"{mix_path}: {fuel_column} has no positive generation")
    out = []
    for t, v in zip(starts, values, strict=True):
        lo = t.to_pydatetime()
        if start <= lo < end:
            wh = (capacity_mw * v / peak * WH_PER_MW_HOUR).quantize(
                Decimal(1), rounding=ROUND_HALF_EVEN
            )
            out.append(MeteredInterval(lo, lo + timedelta(hours=1), int(wh)))
    return out


def deliver_ppa_day(
    *,
    engine: Engine,
    ppa: PPA,
    site: str,
    day: date,
    zone: str,
    generation: Sequence[MeteredInterval],
    operator: Any,
    buyer: Any,
    capacity_w: int,
    technology: str,
    at: datetime,
) -> list[DeliveredHour]:
    """Certificates of a physical PPA for one delivery day: issued to the buyer, retired."""
    store = LedgerStore(engine)
    store.initialise(operator, at)
    ensure_party_key(store, operator, buyer, ppa.buyer, frozenset({Role.OWNER}), at)
    ensure_device(store, operator, ppa.devices[0], capacity_w, technology, zone, at)
    lo, hi = delivery_day_bounds(day, zone)
    hours = [m for m in generation if lo <= m.start < hi and ppa.covers(m.start)]
    return deliver_physical_ppa(store, ppa, hours, issuer=operator, buyer=buyer, site=site, at=at)


def ledger_report_inputs(
    engine: Engine,
    site: str,
    zone: str,
    period: tuple[datetime, datetime],
    meter: MeterData,
    grid: EfDataset,
) -> ReportInputs:
    """Report inputs of ``site`` with the certificates retired for it in the ledger."""
    retirements = site_retirements(LedgerStore(engine).bundles(), site, period[0], period[1])
    return build_inputs(
        site=site, zone=zone, period=period, meter=meter, grid=grid, retirements=retirements
    )


def carbon_report(
    *,
    engine: Engine,
    site: str,
    zone: str,
    period: tuple[datetime, datetime],
    meter: MeterData,
    grid: EfDataset,
    out_dir: Path,
) -> tuple[CarbonReport, ReportInputs, ReportFiles]:
    """The carbon report of ``site`` over ``period`` from the meter, grid factors and the
    certificates retired for it in the ledger."""
    inputs = ledger_report_inputs(engine, site, zone, period, meter, grid)
    report = compute_report(inputs)
    return report, inputs, write_report(report, inputs, out_dir)


def submission_time(day: date, zone: str, lead: timedelta = timedelta(hours=1)) -> datetime:
    """When the scheduler submits the bid of ``day``: ``lead`` before gate closure."""
    return gate_closure_utc(day, zone) - lead


def dumps(data: Any) -> str:
    """Stable JSON for summaries."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


__all__ = [
    "BuiltBid",
    "bid_day",
    "carbon_figures",
    "carbon_report",
    "deliver_ppa_day",
    "generation_profile",
    "ledger_report_inputs",
    "load_grid_factors",
    "monthly_report",
    "portfolio_bid_day",
    "portfolio_carbon_figures",
    "register_site_file",
    "settle_day",
    "stored_meter",
    "submission_time",
]


def stored_meter(engine: Engine, site: str, period: tuple[datetime, datetime]) -> MeterData:
    """The site's stored meter readings in ``period`` (newest import wins), as MeterData.

    Its SHA-256 is over the canonical text of the readings, so the report pins what it used.
    """
    import hashlib

    from engine.io.meter import MeterReading
    from engine.settlement.service import T_METER

    with engine.connect() as conn:
        rows = conn.execute(
            T_METER.select()
            .where(
                T_METER.c.site == site,
                T_METER.c.interval_start >= period[0],
                T_METER.c.interval_start < period[1],
            )
            .order_by(T_METER.c.interval_start, T_METER.c.dataset_id)
        ).all()
    latest = {r.interval_start: r for r in rows}
    readings = tuple(
        MeterReading(r.interval_start, r.interval_end, r.energy_mwh)
        for _, r in sorted(latest.items())
    )
    if not readings:
        raise PowerdeskError(f"no stored meter readings of {site} in the period")
    digest = hashlib.sha256(
        "\n".join(f"{r.interval_start.isoformat()},{r.energy_mwh}" for r in readings).encode()
    ).hexdigest()
    label = f"meter:{site}:{period[0].isoformat()}..{period[1].isoformat()}"
    return MeterData(Path(label), digest, readings)


def monthly_report(*, engine: Engine, site: Path, month: date, out_dir: Path) -> dict[str, Any]:
    """The monthly carbon report and audit bundle of ``site`` (the scheduler's job).

    Uses the site's stored meter readings, the grid factors configured in
    ``POWERDESK_GRID_FACTORS`` (a canonical EF CSV or a generation-mix CSV) and the ledger's
    retirements for the site; writes ``out_dir/report`` and ``out_dir/bundle``.
    """
    from engine.audit.bundle import export_bundle
    from engine.audit.report_section import REPORT_SECTION
    from engine.certificates.keyfiles import load_private_key
    from engine.core.settings import Settings
    from engine.reporting.carbon import parse_period

    settings = Settings()
    if settings.grid_factors is None:
        raise PowerdeskError("set POWERDESK_GRID_FACTORS to an EF or generation-mix CSV")
    s = load_site(site)
    period = parse_period(f"{month.year:04d}-{month.month:02d}", s.zone)
    meter = stored_meter(engine, s.name, period)
    grid = load_grid_factors(settings.grid_factors)
    report, _, files = carbon_report(
        engine=engine,
        site=s.name,
        zone=s.zone,
        period=period,
        meter=meter,
        grid=grid,
        out_dir=out_dir / "report",
    )
    operator = load_private_key(settings.home)
    export_bundle(
        LedgerStore(engine),
        operator,
        out_dir / "bundle",
        sections=("ledger", REPORT_SECTION.name),
        options={"report_dir": out_dir / "report"},
    )
    return {
        "site": s.name,
        "month": f"{month:%Y-%m}",
        "report": str(files.report_json),
        "bundle": str(out_dir / "bundle"),
        "cfe_score": str(report.cfe_score),
        "market_based_hourly_tco2e": str(report.market_based_hourly_tco2e),
    }


def load_grid_factors(path: Path) -> EfDataset:
    """Grid factors from a canonical EF CSV or a generation-mix CSV (told apart by header)."""
    from engine.io.emission_factors import read_ef_csv, read_generation_mix_csv

    try:
        header = path.read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError as exc:
        raise PowerdeskError(f"{path}: cannot read grid factors ({exc.strerror})") from None
    return read_ef_csv(path) if "ef_tco2e_per_mwh" in header else read_generation_mix_csv(path)


def carbon_figures(
    engine: Engine, site: str, zone: str, first: date, last: date, grid_factors: Path | None
) -> dict[str, Any]:
    """The carbon report of ``site`` over local days ``[first, last]`` from what is stored: its
    meter readings, the ledger's retirements for it and the configured grid factors."""
    if grid_factors is None:
        raise PowerdeskError("no grid factors configured (set POWERDESK_GRID_FACTORS)")
    if last < first:
        raise PowerdeskError(f"last day {last} is before first day {first}")
    period = (delivery_day_bounds(first, zone)[0], delivery_day_bounds(last, zone)[1])
    meter = stored_meter(engine, site, period)
    inputs = ledger_report_inputs(
        engine, site, zone, period, meter, load_grid_factors(grid_factors)
    )
    return compute_report(inputs).to_json_dict()


def portfolio_carbon_figures(
    engine: Engine, name: str, first: date, last: date, grid_factors: Path | None
) -> dict[str, Any]:
    """The carbon report of every site of portfolio ``name`` over local days ``[first, last]``
    (:func:`carbon_figures`, each site's own) and the portfolio's figures: the exact sums of the
    sites' additive figures (:func:`engine.reporting.carbon.sum_site_figures`)."""
    stored = get_portfolio(engine, name)
    reports = [
        carbon_figures(engine, s.name, s.zone, first, last, grid_factors)
        for s in stored.portfolio.sites
    ]
    return {
        "portfolio": name,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "totals": sum_site_figures(reports),
        "sites": {s.name: r for s, r in zip(stored.portfolio.sites, reports, strict=True)},
    }
