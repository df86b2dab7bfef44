"""``powerdesk scheduler``: run the daily cycle, list the schedule and the recorded job runs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from engine.core.errors import PowerdeskError

app = typer.Typer(
    name="scheduler",
    help="The scheduler: daily bids, settlement and monthly reports, each run exactly once.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Scheduler configuration (default: POWERDESK_HOME/scheduler.toml)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")]


def _outcome_json(o: Any) -> dict[str, Any]:
    return {
        "key": o.key,
        "status": o.status,
        "attempt": o.attempt,
        "error": o.error,
        "reason": o.reason,
    }


@app.command("init")
def init(
    site: Annotated[
        list[Path] | None,
        typer.Option(
            "--site",
            help="Site file to schedule (repeatable; default: every POWERDESK_HOME/sites/*.toml).",
        ),
    ] = None,
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing configuration.")
    ] = False,
) -> None:
    """Write a commented default scheduler.toml (bid, settle and report jobs for the sites)."""
    from engine.core.settings import Settings
    from engine.scheduling.config_init import CONFIG_FILE, site_files, write_default_config

    settings = Settings()
    path = config if config is not None else settings.home / CONFIG_FILE
    sites = list(site) if site else site_files(settings.home)
    if not sites:
        raise PowerdeskError(
            f"no site files in {settings.home / 'sites'}: give one or more --site FILE"
        )
    written = write_default_config(path, sites, force=force)
    names = ", ".join(s.name for s in written.sites)
    typer.echo(f"wrote {path} ({names}); check it with `powerdesk scheduler jobs`")


@app.command("run")
def run(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now (catch-up) and exit.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the scheduler process (until SIGTERM/SIGINT), or only what is due with --once."""
    from engine.core.db import open_database
    from engine.core.settings import Settings
    from engine.scheduling.schedule import find_config, load_config
    from scheduler.app import make_runner
    from scheduler.app import run as run_scheduler

    settings = Settings()
    path = find_config(settings.ensure_home(), config)
    cfg = load_config(path)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    engine = open_database(settings)
    try:
        runner = make_runner(engine, cfg, settings.home)
        outcomes = run_scheduler(runner, once=once)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([_outcome_json(o) for o in outcomes], indent=2))
    else:
        for o in outcomes:
            detail = o.reason if o.status == "skipped" else (o.error or "")
            typer.echo(f"{o.key}\t{o.status}\t{detail}".rstrip())
    failed = [o for o in outcomes if o.status in ("failed", "lost")]
    if once and failed:
        raise PowerdeskError(
            f"{len(failed)} of {len(outcomes)} due job(s) failed, first {failed[0].key}: "
            f"{failed[0].error}"
        )


@app.command("jobs")
def jobs(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the scheduled jobs with their next run times (UTC and local)."""
    from rich.console import Console
    from rich.table import Table

    from engine.core.settings import Settings
    from engine.scheduling.schedule import find_config, job_specs, load_config

    settings = Settings()
    cfg = load_config(find_config(settings.home, config))
    now = datetime.now(UTC)
    records: list[dict[str, Any]] = []
    for spec in job_specs(cfg):
        nxt = spec.trigger().get_next_fire_time(None, now)
        records.append(
            {
                "id": spec.id,
                "kind": spec.kind.value,
                "site": spec.site.name,
                "zone": spec.site.zone,
                "time_zone": spec.tz,
                "schedule": spec.describe(),
                "misfire_grace_s": int(spec.misfire_grace.total_seconds()),
                "catch_up_s": int(spec.catch_up.total_seconds()),
                "next_run_utc": None if nxt is None else nxt.astimezone(UTC).isoformat(),
                "next_run_local": None
                if nxt is None
                else nxt.astimezone(ZoneInfo(spec.tz)).isoformat(),
            }
        )
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table()
    table.add_column("job", no_wrap=True)
    for header in ("schedule", "misfire grace", "next run (UTC)", "next run (local)"):
        table.add_column(header)
    for r in records:
        table.add_row(
            r["id"],
            r["schedule"],
            f"{r['misfire_grace_s'] // 60} min",
            r["next_run_utc"] or "-",
            r["next_run_local"] or "-",
        )
    Console().print(table)


@app.command("runs")
def runs(
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 50,
    job: Annotated[str | None, typer.Option("--job", help="Only this kind (bid, ...).")] = None,
) -> None:
    """List recent job runs (newest first): key, attempt, status, claimant, times, error."""
    from rich.console import Console
    from rich.table import Table

    from engine.core.db import open_database
    from engine.scheduling.runs import recent_runs

    engine = open_database()
    try:
        records = recent_runs(engine, limit=limit, job=job)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in records], indent=2))
        return
    table = Table()
    table.add_column("key", no_wrap=True)
    for header in ("attempt", "status", "forced", "claimed by", "claimed (UTC)", "error"):
        table.add_column(header)
    for r in records:
        error = (r.error or "").strip().splitlines()
        table.add_row(
            r.key,
            str(r.attempt),
            r.status,
            "yes" if r.forced else "",
            r.claimed_by,
            r.claimed_at.isoformat(timespec="seconds"),
            error[-1] if error else "",
        )
    Console().print(table)


@app.command("trigger")
def trigger(
    key: Annotated[str, typer.Argument(help="Business key, e.g. settle:example-dc:2025-03-30.")],
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run again even if it succeeded (a new attempt).")
    ] = False,
) -> None:
    """Run one configured business key now (at most once unless --force)."""
    from engine.core.db import open_database
    from engine.core.settings import Settings
    from engine.scheduling.schedule import find_config, load_config
    from scheduler.app import make_runner

    settings = Settings()
    cfg = load_config(find_config(settings.ensure_home(), config))
    engine = open_database(settings)
    try:
        runner = make_runner(engine, cfg, settings.home)
        outcome = runner.run(runner.resolve(key), force=force)
    finally:
        engine.dispose()
    if outcome.status in ("failed", "lost"):
        raise PowerdeskError(f"{key} attempt {outcome.attempt} {outcome.status}: {outcome.error}")
    detail = outcome.reason if outcome.status == "skipped" else f"attempt {outcome.attempt}"
    typer.echo(f"{key}\t{outcome.status}\t{detail}")
