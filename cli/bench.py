"""``powerdesk bench``: performance benchmarks (each area adds its command to ``bench_app``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.backtest import bench_backtest

bench_app = typer.Typer(help="Performance benchmarks.")
bench_app.command("backtest")(bench_backtest)


@bench_app.command("bid")
def bid(
    jobs: Annotated[int, typer.Option("--jobs", help="Flexible job classes.")] = 100,
    scenarios: Annotated[int, typer.Option("--scenarios", help="Price scenarios.")] = 10,
    warm: Annotated[int, typer.Option("--warm", help="Warm re-solves (at least 10).")] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    site: Annotated[
        Path | None, typer.Option("--site", help="Site file instead of synthetic.")
    ] = None,
    prices: Annotated[Path | None, typer.Option("--prices", help="DA prices for --site.")] = None,
    day: Annotated[str | None, typer.Option("--day", help="Delivery day for --site.")] = None,
    no_reserves: Annotated[bool, typer.Option("--no-reserves", help="Energy only.")] = False,
    job_recourse: Annotated[
        bool,
        typer.Option("--job-recourse", help="One job schedule per scenario (slower mode)."),
    ] = False,
    resolution_minutes: Annotated[
        int | None,
        typer.Option("--resolution-minutes", help="Synthetic problem on a finer grid (5 = T=288)."),
    ] = None,
    solver: Annotated[str, typer.Option("--solver")] = "HIGHS",
    highs_option: Annotated[
        list[str] | None,
        typer.Option("--highs-option", help="HiGHS option NAME=VALUE (repeatable)."),
    ] = None,
    no_warm_start: Annotated[
        bool, typer.Option("--no-warm-start", help="Solve every call from scratch.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Time the bid problem cold once and warm (new parameter values) at least 10 times.

    Without --site: the standard synthetic problem (96 quarter-hours, --jobs flexible job
    classes, --scenarios scenarios, a battery, FCR/aFRR up/down in 4-hour blocks). With --site,
    --prices and --day: that site and day on the day's actual prices; warm calls perturb the
    prices by a seeded +-10 %.
    """
    from benchmarks.bid import bench_bid

    result = bench_bid(
        jobs=jobs,
        scenarios=scenarios,
        warm=warm,
        seed=seed,
        site=site,
        prices=prices,
        day=day,
        no_reserves=no_reserves,
        job_recourse=job_recourse,
        resolution_minutes=resolution_minutes,
        solver=solver,
        highs_options=highs_option or (),
        warm_start=not no_warm_start,
    )
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for k, v in result.items():
            typer.echo(f"{k}: {v}")


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
    from benchmarks.ledger import bench_ingest, bench_verify
    from engine.core.errors import PowerdeskError

    if signing not in {"per-event", "hourly-batch"}:
        raise PowerdeskError(f"--signing must be per-event or hourly-batch, not {signing!r}")
    batched = signing == "hourly-batch"
    result = {
        **bench_ingest(events),
        **bench_verify(sites, hours, workers, signed_batches=batched),
    }
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("api")
def api(
    requests: Annotated[int, typer.Option("--requests", min=100, help="Measured requests.")] = 3000,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=1000, help="Requests in flight.")
    ] = 100,
    bid_share: Annotated[
        float, typer.Option("--bid-share", min=0.0, max=1.0, help="Share of bid builds.")
    ] = 0.01,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="uvicorn workers.")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", min=1.0, help="Open loop: offered requests/s (default: closed loop)."
        ),
    ] = None,
    bid_streams: Annotated[
        int,
        typer.Option(
            "--bid-streams",
            min=0,
            max=16,
            help="Extra connections building bids back to back while the requests run.",
        ),
    ] = 0,
    postgres: Annotated[
        str | None,
        typer.Option(
            "--postgres",
            help="PostgreSQL server URL: run on a throw-away database there (default: SQLite).",
        ),
    ] = None,
    read_cache: Annotated[
        bool,
        typer.Option(
            "--read-cache/--no-read-cache",
            help="Replay unchanged reads (the server's default) or compute every read afresh.",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load test of the trading-desk API on loopback (uvicorn in a subprocess, SQLite): reads
    mixed with bid builds; prints throughput and p50/p99 latency of each."""
    from benchmarks.api_load import bench_api

    result = bench_api(
        requests=requests,
        concurrency=concurrency,
        bid_share=bid_share,
        workers=workers,
        seed=seed,
        rate_rps=rate,
        read_cache=read_cache,
        bid_streams=bid_streams,
        postgres_url=postgres,
    )
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("portfolio")
def portfolio(
    sites: Annotated[int, typer.Option("--sites", min=1, help="Sites.")] = 10,
    zones: Annotated[int, typer.Option("--zones", min=1, max=5, help="Zones (CN provinces).")] = 5,
    jobs: Annotated[int, typer.Option("--jobs", min=0, help="Migratable job classes.")] = 100,
    scenarios: Annotated[int, typer.Option("--scenarios", min=1, help="Scenarios per zone.")] = 10,
    warm: Annotated[int, typer.Option("--warm", min=10, help="Warm re-solves.")] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    block_start: Annotated[
        bool,
        typer.Option(
            "--block-start/--no-block-start",
            help="Start from the sites solved alone in parallel (default), or solve cold.",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Time the co-optimised portfolio problem cold once and warm (new prices) --warm times."""
    from benchmarks.portfolio import bench_portfolio
    from engine.core.errors import PowerdeskError

    if zones > sites:
        raise PowerdeskError(f"--zones {zones} needs at least as many --sites")
    result = bench_portfolio(sites, zones, jobs, scenarios, warm, seed, block_start)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for k, v in result.items():
            typer.echo(f"{k}: {v}")
