"""``powerdesk report ...``: reports rendered from recorded and supplied data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.core.errors import PowerdeskError

app = typer.Typer(name="report", help="Render reports (carbon accounting).", no_args_is_help=True)


@app.command("carbon")
def carbon(
    site: Annotated[str, typer.Option("--site", help="Site name (as retirements name it).")],
    zone: Annotated[str, typer.Option("--zone", help="Market zone of the site, e.g. DE-LU.")],
    period: Annotated[
        str,
        typer.Option(
            "--period", help="Local months YYYY-MM[..YYYY-MM] or days YYYY-MM-DD[..YYYY-MM-DD]."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    meter: Annotated[
        Path | None,
        typer.Option(
            "--meter",
            help="Meter CSV (interval_start,energy_mwh); default: the site's stored readings.",
        ),
    ] = None,
    from_ledger: Annotated[
        bool,
        typer.Option(
            "--from-ledger", help="Use the retirements for the site recorded in the ledger."
        ),
    ] = False,
    ef: Annotated[
        Path | None,
        typer.Option(
            "--ef",
            help="Hourly EF CSV: interval_start,ef_tco2e_per_mwh,carbon_free_share"
            "[,ef_residual_tco2e_per_mwh].",
        ),
    ] = None,
    mix: Annotated[
        Path | None,
        typer.Option("--mix", help="Hourly generation-mix CSV to derive grid factors from."),
    ] = None,
    official_factors: Annotated[
        str | None,
        typer.Option(
            "--official-factors",
            help="CN zones: the official annual grid factors (MEE & NBS), provincial or "
            "national, expanded to every hour (docs/carbon-cn.md).",
        ),
    ] = None,
    residual: Annotated[
        Path | None,
        typer.Option("--residual", help="Residual-mix CSV (hourly interval_start or annual year)."),
    ] = None,
    retirements: Annotated[
        Path | None,
        typer.Option("--retirements", help="Retirement records, JSON Lines."),
    ] = None,
    cfe_grid_basis: Annotated[
        str,
        typer.Option(
            "--cfe-grid-basis",
            help="What the grid carbon-free share is: production-mix or residual-adjusted-mix.",
        ),
    ] = "production-mix",
    ef_source: Annotated[
        str | None, typer.Option("--ef-source", help="Source of the EF/mix dataset, in words.")
    ] = None,
    residual_source: Annotated[
        str | None, typer.Option("--residual-source", help="Source of the residual dataset.")
    ] = None,
) -> None:
    """Carbon report of one site: Scope 2 (location/market, annual/hourly), CFE, green shares,
    and PUE, CUE and the green-electricity share as Chinese reporting defines them."""
    from carbon import ReportParameters, compute_report
    from engine.io.emission_factors import read_ef_csv, read_generation_mix_csv, read_residual_csv
    from engine.io.meter import read_meter_csv
    from engine.reporting.carbon import (
        build_inputs,
        parse_period,
        read_retirements_jsonl,
        write_report,
    )
    from market import get_zone

    if sum(x is not None for x in (ef, mix, official_factors)) != 1:
        raise PowerdeskError("give exactly one of --ef, --mix and --official-factors")
    get_zone(zone)
    span = parse_period(period, zone)
    parameters = ReportParameters(cfe_grid_basis=cfe_grid_basis)
    if ef is not None:
        grid = read_ef_csv(ef, ef_source)
    elif mix is not None:
        grid = read_generation_mix_csv(mix, ef_source)
    else:
        from engine.io.cn_grid_factors import official_factors as official
        from engine.reporting.carbon import report_hours

        assert official_factors is not None  # exactly one of the three, checked above
        grid = official(zone, list(report_hours(*span)), official_factors)
    if from_ledger and retirements is not None:
        raise PowerdeskError("give either --retirements or --from-ledger, not both")
    if meter is None or from_ledger:
        from engine.core.db import open_database

        engine = open_database()
    if meter is None:
        from engine.scheduling.daily import stored_meter

        meter_data = stored_meter(engine, site, span)
    else:
        meter_data = read_meter_csv(meter)
    if from_ledger:
        from engine.certificates.ppa_delivery import site_retirements
        from engine.certificates.store import LedgerStore

        records = tuple(site_retirements(LedgerStore(engine).bundles(), site, *span))
    else:
        records = () if retirements is None else read_retirements_jsonl(retirements)
    inputs = build_inputs(
        site=site,
        zone=zone,
        period=span,
        meter=meter_data,
        grid=grid,
        residual=None if residual is None else read_residual_csv(residual, residual_source),
        retirements=records,
        parameters=parameters,
    )
    report = compute_report(inputs)
    files = write_report(report, inputs, out)
    typer.echo(
        f"location-based {report.location_based_tco2e} tCO2e, market-based "
        f"{report.market_based_annual_tco2e} (annual) / {report.market_based_hourly_tco2e} "
        f"(hourly) tCO2e, CFE {report.cfe_score}, wrote {files.report_json.parent}"
    )
    if report.china is not None and report.china.pue is not None:
        c = report.china
        typer.echo(
            f"PUE {c.pue}, CUE {c.cue_location_kg_per_kwh} (location) / "
            f"{c.cue_market_kg_per_kwh} (market) kgCO2e/kWh, green electricity share "
            f"{c.green_electricity_share}"
        )
