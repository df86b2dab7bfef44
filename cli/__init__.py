"""The ``powerdesk`` command line.

Each area registers a sub-command module here. Heavy imports (cvxpy, pandas readers) happen inside
commands, so ``powerdesk --help`` stays fast. Errors meant for the user end as one line on stderr
and a non-zero exit, never a traceback (set ``POWERDESK_DEBUG=1`` to see one). With ``--json`` a
command prints exactly one JSON document on stdout: anything else written to stdout (solver
banners, child processes) goes to stderr (:mod:`cli.jsonout`).
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from bidding.errors import BiddingError
from carbon.errors import CarbonInputError
from cli import backtest as _backtest
from cli import bid as _bid
from cli import daily as _daily
from cli import forecast as _forecast
from cli import portfolio as _portfolio
from cli import prices as _prices
from cli import report as _report
from cli import scheduler as _scheduler
from cli import serve as _serve
from cli import zones as _zones
from cli.audit import audit_app
from cli.bench import bench_app
from cli.desk import desk_app
from cli.jsonout import stdout_for_json
from cli.keys import keys_app
from cli.ledger import ledger_app
from engine.core.errors import PowerdeskError
from ledger.errors import LedgerError
from market.errors import MarketError

app = typer.Typer(
    name="powerdesk",
    help="Electricity-market and green-certificate trading engine for AI data centres.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    zones_file: Annotated[
        Path | None,
        typer.Option(
            "--zones",
            envvar="POWERDESK_ZONES",
            help="Zones file adding or overriding registry entries for every command "
            "(docs/portfolio.md).",
        ),
    ] = None,
) -> None:
    """Electricity-market and green-certificate trading engine for AI data centres."""
    if zones_file is not None:
        from engine.io.portfolio_file import use_zones_file

        use_zones_file(zones_file)


app.command("zones")(_zones.zones)
app.command("demo")(_daily.demo)
app.command("settle")(_daily.settle)
app.add_typer(_daily.meter_app, name="meter")
app.command("serve")(_serve.serve)
app.command("backtest")(_backtest.backtest)
app.command("sweep")(_backtest.sweep)
app.command("bid")(_bid.bid)
app.add_typer(_scheduler.app, name="scheduler")
app.add_typer(_prices.app, name="prices")
app.add_typer(_forecast.app, name="forecast")
app.add_typer(_report.app, name="report")
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.add_typer(bench_app, name="bench")
app.add_typer(_portfolio.app, name="portfolio")
app.add_typer(desk_app, name="desk")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and turn errors into one line on stderr."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    json_out = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        # standalone mode: usage errors print usage and exit 2, --help exits 0.
        with stdout_for_json() if json_out else nullcontext():
            command.main(args=args, prog_name="powerdesk", standalone_mode=True)
    except (PowerdeskError, MarketError, BiddingError, LedgerError, CarbonInputError) as exc:
        print(f"powerdesk: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("POWERDESK_DEBUG"):
            raise
        print(f"powerdesk: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
