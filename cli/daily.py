"""``powerdesk demo``, ``powerdesk settle`` and ``powerdesk meter import``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

meter_app = typer.Typer(help="Metered consumption: import canonical meter files.")


def demo(
    no_backtest: Annotated[
        bool, typer.Option("--no-backtest", help="Skip the one-month backtest.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    region: Annotated[
        str,
        typer.Option(
            "--region",
            help="eu: the European demo (DE-LU); cn: a Gansu data centre with green-electricity "
            "trading, GECs and Chinese carbon figures (docs/green-power.md).",
        ),
    ] = "eu",
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="cn: real Gansu price file (else a synthetic series)."),
    ] = None,
    price_format: Annotated[
        str | None, typer.Option("--format", help="cn: layout of --prices (gansu).")
    ] = None,
) -> None:
    """Run the daily cycle on the bundled fixtures: bid, clear, settle, certificates, report,
    audit bundle, and a one-month backtest (``--region cn``: the Gansu cycle, no backtest)."""
    from engine.core.errors import PowerdeskError
    from engine.scheduling.daily import dumps

    echo = (lambda *_: None) if as_json else print
    if region == "cn":
        from engine.demo.cn import run_cn_demo

        summary = run_cn_demo(prices=prices, price_format=price_format, echo=echo)
    elif region == "eu":
        from engine.demo.run import run_demo

        if prices is not None or price_format is not None:
            raise PowerdeskError("--prices and --format are options of --region cn")
        summary = run_demo(backtest=not no_backtest, echo=echo)
    else:
        raise PowerdeskError(f"--region {region!r}: choose eu or cn")
    if as_json:
        typer.echo(dumps(summary))
    else:
        home = Path(summary["home"])
        written = [
            f"{d}/" for d in ("outbox", "reports", "audit", "backtests") if (home / d).is_dir()
        ]
        typer.echo(f"\nwritten under {home}: {', '.join(written)}")


def settle(
    site: Annotated[Path, typer.Option("--site", help="Site file (TOML).")],
    day: Annotated[str, typer.Option("--day", help="Local delivery day YYYY-MM-DD.")],
    force: Annotated[
        bool, typer.Option("--force", help="Record a correction superseding the last run.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why a correction was made.")] = "",
) -> None:
    """Settle a site's delivery day once (a re-run is a no-op unless --force)."""
    from engine.core.db import open_database
    from engine.core.errors import PowerdeskError
    from engine.scheduling.daily import settle_day

    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise PowerdeskError(f"--day {day!r} is not a date YYYY-MM-DD") from None
    record = settle_day(engine=open_database(), site=site, day=when, force=force, reason=reason)
    typer.echo(json.dumps(record, indent=2, sort_keys=True))


@meter_app.command("import")
def meter_import(
    file: Annotated[Path, typer.Argument(help="Canonical meter CSV (interval_start, energy_mwh).")],
    zone: Annotated[str, typer.Option("--zone", help="Zone of the site or device.")],
    site: Annotated[str | None, typer.Option("--site", help="Site name (consumption).")] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Generator device (PPA output).")
    ] = None,
) -> None:
    """Store a site's metered consumption or a PPA generator's output (same file: a no-op)."""
    from engine.core.db import open_database
    from engine.core.errors import PowerdeskError
    from engine.settlement.service import device_meter_site, import_meter

    if (site is None) == (device is None):
        raise PowerdeskError("give exactly one of --site or --device")
    key = site if site is not None else device_meter_site(str(device))
    result = import_meter(open_database(), file, key, zone)
    typer.echo(
        json.dumps(
            {
                "dataset_id": result.dataset_id,
                "rows": result.rows,
                "created": result.created,
                "sha256": result.sha256,
            }
        )
    )
