"""``powerdesk forecast evaluate``: rolling day-ahead price forecasts over a period, scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecast.names import model_names

MODELS = model_names()
FORMATS = ("epftoolbox", "canonical")

app = typer.Typer(
    name="forecast",
    help="Day-ahead price forecasts: evaluate a model over a period.",
    no_args_is_help=True,
)


@app.command("evaluate")
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Price data file.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")],
    start: Annotated[str, typer.Option("--start", help="First local delivery day YYYY-MM-DD.")],
    end: Annotated[
        str, typer.Option("--end", help="Last local delivery day YYYY-MM-DD (inclusive).")
    ],
    model: Annotated[str, typer.Option("--model", help=f"One of: {', '.join(MODELS)}.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (written atomically).")],
    zone: Annotated[
        str | None,
        typer.Option("--zone", help="Zone key (epftoolbox: DE-LU; canonical: required)."),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="Exogenous day-ahead inputs (interval_start + columns)."),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="Another run's forecasts.csv: Diebold–Mariano test."),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.")] = 2,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics as one JSON document only.")
    ] = False,
) -> None:
    """Forecast every day START..END as of gate closure of the day before; write
    OUT/forecasts.csv, OUT/metrics.json and OUT/forecast.png and print the metrics."""
    from engine.backtest.executors import progress_bar
    from engine.forecasting.evaluate import evaluate as run
    from engine.forecasting.evaluate import parse_day

    metrics = run(
        data,
        fmt,
        parse_day(start, "--start"),
        parse_day(end, "--end"),
        model,
        out,
        zone=zone,
        features=features,
        compare=compare,
        jobs=jobs,
        progress=lambda total: progress_bar(total, f"forecast {model}"),
    )
    if as_json:
        typer.echo(json.dumps(metrics, sort_keys=True))
        return
    for key in ("model", "days", "intervals", "mae", "rmae", "smape", "rmse", "pinball"):
        typer.echo(f"{key:<12} {metrics[key]}")
    if "dm" in metrics:
        typer.echo(f"{'dm':<12} {json.dumps(metrics['dm'], sort_keys=True)}")
    typer.echo(f"{'seconds':<12} {metrics['seconds']}")
    typer.echo(f"{'written to':<12} {out}")
