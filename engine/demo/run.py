"""``powerdesk demo``: the whole daily cycle on the bundled fixtures, replayed at historical times.

1. load the fixture DA prices (SMARD DE-LU, March 2025) into the database;
2. build example-dc's forecast DA + ancillary bid for the delivery day from prices known at gate
   closure, and submit it to the outbox one hour before gate closure;
3. clear it against the day's historical prices and settle it with the site's meter;
4. record the physical wind PPA's deliveries: certificates issued to the data centre for each
   hour's share of the wind output and retired for its consumption in that hour;
5. write the day's carbon report (Scope 2, CFE, green share) from the meter, the grid factors
   derived from the SMARD generation mix and the ledger's retirements;
6. export the audit bundle (ledger + report) and verify it offline with the public key;
7. run a one-month backtest of the forecast strategy against perfect foresight.

It also leaves ``POWERDESK_HOME/scheduler.toml`` for the demo site (unless one exists), so
``powerdesk scheduler jobs`` and ``powerdesk scheduler run`` work next.

Every step is idempotent: running the demo again reuses what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.core.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_HEADLINE = (
    "location_based_tco2e",
    "market_based_annual_tco2e",
    "market_based_hourly_tco2e",
    "cfe_score",
    "matched_only_score",
    "green_share_annual",
    "green_share_hourly",
    "unapplied_excess_mwh",
)
DEMO_DAY = date(2025, 3, 30)  # the spring DST day: 23 hours in Europe/Berlin
BACKTEST = (date(2025, 3, 2), date(2025, 4, 1))


@dataclass(frozen=True)
class DemoPaths:
    """Inputs of the demo (all inside fixtures/)."""

    site: Path = FIXTURES / "sites" / "example-dc.toml"
    prices: Path = FIXTURES / "prices" / "de_lu_2025_03_da.csv"
    meter: Path = FIXTURES / "carbon" / "example-dc_2025_03_meter.csv"
    mix: Path = FIXTURES / "de_2025_03_smard_generation_hourly.csv"
    ppa: Path = FIXTURES / "demo" / "ppa-wind-physical-2025.toml"


def run_demo(
    settings: Settings | None = None,
    *,
    day: date = DEMO_DAY,
    backtest: bool = True,
    paths: DemoPaths | None = None,
    echo: Any = print,
) -> dict[str, Any]:
    """Run the daily cycle once; returns a JSON-ready summary with the paths written."""
    from sqlmodel import Session

    from engine.audit.bundle import export_bundle, summary, verify_bundle
    from engine.audit.report_section import REPORT_SECTION
    from engine.bids.submission import OutboxAdapter
    from engine.certificates.keyfiles import create_key, key_path, load_private_key, public_pem
    from engine.certificates.ppa_contracts import add_ppa, get_ppa
    from engine.certificates.store import simulated_clock
    from engine.core.db import open_database
    from engine.core.errors import ConflictError
    from engine.core.layout import report_dir as stored_report_dir
    from engine.io.emission_factors import read_generation_mix_csv
    from engine.io.meter import read_meter_csv
    from engine.io.site_file import load_site
    from engine.marketdata.store import load_price_file
    from engine.scheduling.daily import (
        bid_day,
        carbon_report,
        deliver_ppa_day,
        generation_profile,
        submission_time,
    )
    from engine.settlement.service import device_meter_site, import_meter, settle_site_day
    from market import delivery_day_bounds, gate_closure_utc, get_zone

    settings = settings or Settings()
    paths = paths or DemoPaths()
    home = settings.ensure_home()
    engine = open_database(settings)
    out: dict[str, Any] = {"home": str(home), "database": settings.resolved_database_url}
    out["scheduler_config"] = str(_scheduler_config(home, paths.site))

    # Keys: the ledger operator (also the certificate issuer here) and the data centre's own key.
    if not key_path(home).exists():
        create_key(home)
    if not key_path(home, "example-dc").exists():
        create_key(home, "example-dc")
    operator, buyer = load_private_key(home), load_private_key(home, "example-dc")
    public = home / "ledger-public.pem"
    public.write_text(public_pem(operator))
    out["public_key"] = str(public)

    site = load_site(paths.site)
    zone = get_zone(site.zone)
    with Session(engine) as session:
        loaded = load_price_file(session, paths.prices, zone, "DA")
        session.commit()
    echo(f"prices   {loaded.rows} DA prices of {zone.key} stored (sha256 {loaded.sha256[:12]}…)")

    # 2. Bid, as the scheduler would: built at gate closure's knowledge, submitted before it.
    at = submission_time(day, zone.key)
    built = bid_day(
        engine=engine, site=paths.site, day=day, as_of=at, submitter=OutboxAdapter(engine, home)
    )
    submitted = built.bid
    echo(
        f"bid      {site.name} {day} (bid {built.bid.id}): {len(built.bid.curves)} DA curves, "
        f"{len(built.bid.reserve_bids)} reserve offers, {len(built.bid.block_bids)} block bids; "
        f"expected cost {built.bid.expected_cost} {built.bid.currency} over its forecast price "
        "scenarios; "
        f"{submitted.submission_status} before gate closure "
        f"{gate_closure_utc(day, zone).isoformat()}"
    )
    out["bid"] = built.summary | {"outbox": str(home / "outbox" / zone.key / day.isoformat())}

    # 3-4. Meter, PPA certificates, settlement.
    import_meter(engine, paths.meter, site.name, zone.key)
    try:
        ppa = add_ppa(engine, paths.ppa)
    except ConflictError:
        ppa = get_ppa(engine, "ppa-demo-wind-2025")
    lo, hi = delivery_day_bounds(day, zone)
    generation = generation_profile(paths.mix, "wind_onshore_generation_mw", Decimal(50), lo, hi)
    # The generator's metered output, stored like a meter so settlement can pay the PPA.
    gen_file = home / "generation" / f"{ppa.devices[0]}_{day.isoformat()}.csv"
    gen_file.parent.mkdir(parents=True, exist_ok=True)
    gen_file.write_text(
        "interval_start,energy_mwh\n"
        + "".join(
            f"{m.start.isoformat()},{Decimal(m.generation_wh) / 1_000_000}\n" for m in generation
        )
    )
    import_meter(engine, gen_file, device_meter_site(ppa.devices[0]), zone.key)
    # The demo simulates a past day: its ledger's clock is that day's (a server's never is).
    ledger_at = hi + timedelta(hours=2)
    with simulated_clock(lambda: ledger_at):
        delivered = deliver_ppa_day(
            engine=engine,
            ppa=ppa,
            site=site.name,
            day=day,
            zone=zone.key,
            generation=generation,
            operator=operator,
            buyer=buyer,
            capacity_w=50_000_000,
            technology="wind",
            at=ledger_at,
        )
    cert_mwh = Decimal(sum(h.certificate_wh for h in delivered)) / 1_000_000
    gen_mwh = Decimal(sum(h.generation_wh for h in delivered)) / 1_000_000
    certificates = {
        "ppa": ppa.ppa_id,
        "hours": len(delivered),
        "generation_mwh": str(gen_mwh),
        "certificates_mwh": str(cert_mwh),
    }
    settled = settle_site_day(engine, site.name, zone.key, day, certificates=certificates)
    t = settled.totals
    echo(
        f"settle   run {settled.run} at the day's actual prices: energy {t['energy_cost']} + "
        f"imbalance {t['imbalance_cost']}"
        f" - reserves {t['reserve_revenue']} + PPA {t['ppa_cost']} = {t['total_cost']} "
        f"{settled.currency}"
    )
    echo(
        f"ledger   {ppa.ppa_id}: {cert_mwh} MWh of certificates (share {ppa.share} of "
        f"{gen_mwh} MWh wind) issued to {site.name} and retired for its hours"
    )
    out["settlement"] = settled.to_json_dict()
    out["certificates"] = certificates

    # 5. Carbon report of the day.
    report_dir = stored_report_dir(home, site.name, day)  # where `audit export --period` looks
    report, _, files = carbon_report(
        engine=engine,
        site=site.name,
        zone=zone.key,
        period=(lo, hi),
        meter=read_meter_csv(paths.meter),
        grid=read_generation_mix_csv(paths.mix),
        out_dir=report_dir,
    )
    echo(
        f"carbon   location-based {report.location_based_tco2e} tCO2e, market-based hourly "
        f"{report.market_based_hourly_tco2e} tCO2e, CFE {report.cfe_score}, hourly green share "
        f"{report.green_share_hourly} → {files.html}"
    )
    out["report"] = {
        "json": str(files.report_json),
        "inputs": str(files.inputs_json),
        "html": str(files.html),
        "pdf": str(files.pdf),
        "figures": {k: str(v) for k, v in report.to_json_dict().items() if k in _HEADLINE},
    }

    # 6. Audit bundle, verified offline with the public key alone.
    from engine.certificates.store import LedgerStore

    bundle_dir = home / "audit" / f"{site.name}-{day.isoformat()}-{_stamp()}"
    export_bundle(
        LedgerStore(engine),
        operator,
        bundle_dir,
        sections=("ledger", REPORT_SECTION.name),
        options={"report_dir": report_dir},
    )
    verified = summary(verify_bundle(bundle_dir, operator.public_key(), workers=1))
    echo(
        f"audit    bundle {bundle_dir} verified offline with {public.name}: "
        f"{verified['tree_size']} log entries, checkpoint root {verified['root_b64']}, "
        f"{verified['issued_wh']} Wh issued = {verified['retired_wh']} Wh retired "
        f"+ {verified['active_wh']} Wh active"
    )
    out["audit"] = {"bundle": str(bundle_dir), "verified": verified}

    # 7. One-month backtest.
    if backtest:
        from engine.backtest.runner import format_summary, run_backtest

        bt_dir = home / "backtests" / f"{site.name}-forecast-2025-03"
        result = run_backtest(
            paths.site,
            paths.prices,
            BACKTEST[0].isoformat(),
            BACKTEST[1].isoformat(),
            "forecast",
            executor="inline",
            out=bt_dir,
        )
        echo(f"backtest {bt_dir}\n{format_summary(result.summary)}")
        out["backtest"] = {"out": str(bt_dir), "summary": result.summary}
    return out


def _scheduler_config(home: Path, site: Path) -> Path:
    """A ready ``home/scheduler.toml`` for the demo site (kept as ``home/sites/<file>``, so the
    configuration does not depend on where the fixtures are), unless one exists."""
    from engine.io.canonical import atomic_write_text
    from engine.scheduling.config_init import CONFIG_FILE, write_default_config

    kept = home / "sites" / site.name
    if not kept.exists():
        atomic_write_text(kept, site.read_text(encoding="utf-8"))
    config = home / CONFIG_FILE
    if not config.exists():
        write_default_config(config, [kept])
    return config


def _stamp() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
