"""``powerdesk prices``: import real-world price files into canonical CSV, load them into the DB."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Format(StrEnum):
    """Source layouts; listed here (not imported from engine.io.formats) so that
    ``powerdesk --help`` does not import pandas. A test keeps the two lists equal."""

    ENTSOE = "entsoe"
    ENERGINET = "energinet"
    REBAP = "rebap"
    ID_AEP = "id-aep"
    SMARD = "smard"
    ELECTRICITYMAPS = "electricitymaps"
    TECHARENA_DA = "techarena-da"
    TECHARENA_FCR = "techarena-fcr"
    TECHARENA_AFRR = "techarena-afrr"
    CAISO_DERVET = "caiso-dervet"
    ERCOT_DAM = "ercot-dam"
    ERCOT_AS = "ercot-as"
    GREENDCC = "greendcc"
    ERCOT_RTM = "ercot-rtm"
    GANSU = "gansu"
    JIANGSU = "jiangsu"
    DATAWHALE = "datawhale"


FORMAT_KEYS = tuple(f.value for f in Format)

app = typer.Typer(
    name="prices",
    help="Import real-world market price files and load canonical price files.",
    no_args_is_help=True,
)


def _day(value: str | None, what: str) -> date | None:
    from engine.core.errors import PowerdeskError

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PowerdeskError(f"{what} {value!r} is not a date YYYY-MM-DD") from None


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Source file in one of the --format layouts.")],
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            help="Source layout (docs/formats.md describes each and its time convention).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Canonical CSV to write.")],
    zone: Annotated[
        str | None, typer.Option("--zone", help="Zone key (energinet: DK1 or DK2).")
    ] = None,
    column: Annotated[
        str | None,
        typer.Option("--column", help="Source column / settlement point / CI basis to take."),
    ] = None,
    series: Annotated[
        str | None, typer.Option("--series", help="DA, RT, IMBALANCE, ID (format default).")
    ] = None,
    reserve_out: Annotated[
        Path | None,
        typer.Option("--reserve-out", help="Reserve prices of formats that carry both."),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First local delivery day kept (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Local delivery day after the last one kept.")
    ] = None,
    features_out: Annotated[
        Path | None,
        typer.Option(
            "--features-out",
            help="Also write the day-ahead forecasts the source publishes (gansu) as a "
            "canonical feature CSV.",
        ),
    ] = None,
) -> None:
    """Convert FILE to the canonical CSV form; print rows written and the UTC span covered."""
    from engine.io.formats import import_file, write_import

    imported = import_file(
        file,
        fmt.value,
        zone=zone,
        column=column,
        series=series,
        start=_day(start, "--start"),
        end=_day(end, "--end"),
    )
    for w in write_import(imported, out, reserve_out=reserve_out, features_out=features_out):
        typer.echo(
            f"{w.path}: {w.rows} rows ({w.kind}, {imported.zone}"
            f"{' ' + imported.series if w.kind == 'price' else ''}), "
            f"UTC {w.first_start.isoformat()} to {w.last_end.isoformat()}"
        )


@app.command("load")
def load(
    file: Annotated[
        Path, typer.Argument(help="Canonical price, reserve price, feature or activation CSV.")
    ],
    zone: Annotated[str, typer.Option("--zone", help="Zone key.")],
    series: Annotated[
        str, typer.Option("--series", help="DA, IMBALANCE, RT, ... (reserve files: ignored).")
    ] = "DA",
) -> None:
    """Store a canonical file in the database (re-loading the same bytes changes nothing)."""
    from engine.core.db import open_database, session_scope
    from engine.marketdata.store import load_price_file

    engine = open_database()
    try:
        with session_scope(engine) as session:
            result = load_price_file(session, file, zone, series)
    finally:
        engine.dispose()
    state = "loaded" if result.created else "already loaded"
    typer.echo(
        f"{file}: {state} as dataset {result.dataset_id} ({result.rows} rows, "
        f"sha256 {result.sha256})"
    )
