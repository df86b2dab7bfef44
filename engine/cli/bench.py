"""``powerdesk bench``: performance benchmarks (each area adds its command to ``bench_app``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.cli.backtest import bench_backtest
from engine.cli.bid import bench_bid

bench_app = typer.Typer(help="Performance benchmarks.")
bench_app.command("backtest")(bench_backtest)
bench_app.command("bid")(bench_bid)


@bench_app.command("ledger")
def ledger(
    events: Annotated[int, typer.Option("--events", help="Events to ingest.")] = 20_000,
    sites: Annotated[int, typer.Option("--sites", help="Sites in the audit bundle.")] = 50,
    hours: Annotated[int, typer.Option("--hours", help="Hours in the audit bundle.")] = 8760,
    workers: Annotated[int, typer.Option("--workers", help="Signature processes.")] = 2,
    signing: Annotated[
        str,
        typer.Option(
            "--signing",
            help="per-event: one signature per event; hourly-batch: the issuer and the owner "
            "each sign an hour's events with one batch signature (leaf version 2).",
        ),
    ] = "hourly-batch",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ledger ingestion rate on SQLite and audit verification time of a year of certificates.

    Ingestion is measured with per-event signatures; the audit bundle is signed as --signing.
    """
    from engine.errors import PowerdeskError
    from engine.ledger_bench import bench_ingest, bench_verify

    if signing not in {"per-event", "hourly-batch"}:
        raise PowerdeskError(f"--signing must be per-event or hourly-batch, not {signing!r}")
    batched = signing == "hourly-batch"
    result = {
        **bench_ingest(events),
        **bench_verify(sites, hours, workers, signed_batches=batched),
    }
    typer.echo(json.dumps(result, indent=None if as_json else 2))
