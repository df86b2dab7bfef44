"""``powerdesk portfolio bid``, ``backtest`` and ``sweep``: many sites, migratable jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.backtest import (
    RtEveryOpt,
    RtForecastOpt,
    RtLookbackOpt,
    RtStageOpt,
    RtThresholdOpt,
    realtime_settings,
)
from engine.strategies.names import DEFAULT_RT_THRESHOLD, DESCRIPTIONS
from forecast.realtime import DEFAULT_RT_LOOKBACK_DAYS, DEFAULT_RT_METHOD

app = typer.Typer(help="Portfolios of sites with migratable compute (docs/portfolio.md).")

_STRATEGY_HELP = "; ".join(f"{name.value}: {text}" for name, text in DESCRIPTIONS.items())
_EF_HELP = (
    "ZONE=CSV hourly grid emission factors (canonical EF file or generation mix, as "
    "`report carbon`); needed for a \\[carbon] price, repeat per zone."
)


PortfolioOpt = Annotated[Path, typer.Option("--portfolio", help="Portfolio file (TOML).")]
PricesOpt = Annotated[
    list[str], typer.Option("--prices", help="ZONE=CSV DA prices (repeat per zone).")
]
StartOpt = Annotated[str, typer.Option("--start", help="First delivery day YYYY-MM-DD.")]
EndOpt = Annotated[str, typer.Option("--end", help="Delivery day after the last (exclusive).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]
StrategyOpt = Annotated[str, typer.Option("--strategy", help=_STRATEGY_HELP)]
ImbalanceOpt = Annotated[
    list[str] | None, typer.Option("--imbalance-prices", help="ZONE=CSV imbalance prices.")
]
ReserveOpt = Annotated[
    list[str] | None, typer.Option("--reserve-prices", help="ZONE=CSV reserve prices.")
]
FeaturesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--features", help="ZONE=CSV published day-ahead inputs of a zone (feature file)."
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Price model of every zone (default: each zone's default for its data, e.g. gbm "
        "for CN-GS with its published inputs).",
    ),
]
ZonesOpt = Annotated[
    Path | None, typer.Option("--zones", help="Zones file (default $POWERDESK_ZONES).")
]
ScenariosOpt = Annotated[int, typer.Option("--scenarios", help="Scenarios (forecast).")]
SeedOpt = Annotated[int, typer.Option("--seed")]
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="inline, local, local:N or dask://HOST:PORT.")
]
ProgressOpt = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
]
PinOpt = Annotated[
    list[str] | None,
    typer.Option("--pin", help="JOB=SITE: run that migratable job only at SITE (baseline)."),
]


def _date(text: str, option: str) -> date:
    from engine.core.errors import PowerdeskError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PowerdeskError(f"{option} must be YYYY-MM-DD, got {text!r}") from None


def _zone_files(items: list[str] | None, option: str) -> dict[str, Path]:
    """``ZONE=CSV`` options as a mapping (one-line error on a bad item or a repeated zone)."""
    from engine.core.errors import PowerdeskError
    from market import get_zone

    out: dict[str, Path] = {}
    for item in items or []:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise PowerdeskError(f"{option} must be ZONE=CSV, got {item!r}")
        get_zone(key)
        if key in out:
            raise PowerdeskError(f"{option}: zone {key} given twice")
        out[key] = Path(path)
    return out


def _pins(items: list[str]) -> dict[str, str]:
    from engine.core.errors import PowerdeskError

    out: dict[str, str] = {}
    for item in items:
        job, sep, site = item.partition("=")
        if not sep or not job or not site:
            raise PowerdeskError(f"--pin must be JOB=SITE, got {item!r}")
        out[job] = site
    return out


def _factors(
    items: list[str] | None, inputs: dict[str, dict[str, str]], labels: dict[str, str]
) -> dict[str, Any] | None:
    """``--ef ZONE=CSV`` as hourly factor series per zone (``None`` without any).

    A file with a column ``ef_tco2e_per_mwh`` is a canonical emission-factor file, any other a
    generation-mix file: the two formats of ``powerdesk report carbon --ef / --mix``.
    """
    from engine.core.errors import InputFileError
    from engine.io.emission_factors import EF_COLUMNS, read_ef_csv, read_generation_mix_csv
    from engine.marketdata.view import file_sha256
    from engine.strategies.portfolio import factor_series

    files = _zone_files(items, "--ef")
    if not files:
        return None
    out: dict[str, Any] = {}
    for key, path in files.items():
        try:
            with path.open(encoding="utf-8-sig") as fh:
                header = fh.readline()
        except OSError as exc:
            raise InputFileError(str(path), f"cannot read: {exc.strerror}") from None
        canonical = EF_COLUMNS[1] in [c.strip() for c in header.split(",")]
        dataset = read_ef_csv(path) if canonical else read_generation_mix_csv(path)
        out[key] = factor_series(dataset.ef_tco2e_per_mwh)
        inputs[f"{key} emission factors"] = {
            "file": path.name,
            "sha256": file_sha256(path),
            "source": dataset.pin.source,
        }
        labels[key] = f"--ef {key}={path}"
    return out


def _load(
    portfolio: Path,
    zones_file: Path | None,
    prices: list[str],
    imbalance: list[str] | None,
    reserves: list[str] | None,
    features: list[str] | None = None,
) -> tuple[Any, Any, dict[str, Any], dict[str, dict[str, str]], dict[str, str]]:
    from engine.core.errors import PowerdeskError
    from engine.io.portfolio_file import load_portfolio, site_files, use_zones_file
    from engine.marketdata.view import file_sha256, from_files
    from market import get_zone

    zones = use_zones_file(zones_file)
    pf = load_portfolio(portfolio)
    da = _zone_files(prices, "--prices")
    imb = _zone_files(imbalance, "--imbalance-prices")
    res = _zone_files(reserves, "--reserve-prices")
    feat = _zone_files(features, "--features")
    stray = sorted(set(feat) - {s.zone for s in pf.sites})
    if stray:
        raise PowerdeskError(
            f"--features {stray[0]}=...: no site of the portfolio is in {stray[0]}"
        )
    inputs: dict[str, dict[str, str]] = {
        "portfolio": {"file": portfolio.name, "sha256": file_sha256(portfolio)}
    }
    for f in site_files(portfolio):
        inputs[f"site {f.name}"] = {"file": f.name, "sha256": file_sha256(f)}
    data: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for key in sorted({s.zone for s in pf.sites}):
        if key not in da:
            names = ", ".join(s.name for s in pf.sites if s.zone == key)
            raise PowerdeskError(f"no --prices {key}=CSV for zone {key} (sites: {names})")
        data[key], files = from_files(
            get_zone(key),
            da[key],
            imb.get(key),
            res.get(key),
            [feat[key]] if key in feat else (),
        )
        for kind, record in files.items():
            inputs[f"{key} {kind}"] = record
        labels[key] = f"DA prices {da[key]}"
    return pf, zones, data, inputs, labels


@dataclass(frozen=True)
class _Run:
    """A checked backtest or sweep: the portfolio, days, data and factors, nothing written."""

    portfolio: Any
    zones: Any
    data: dict[str, Any]
    inputs: dict[str, dict[str, str]]
    factors: dict[str, Any] | None
    days: tuple[date, ...]
    start: date
    end: date


def _prepare_run(
    portfolio: Path,
    zones_file: Path | None,
    prices: list[str],
    imbalance: list[str] | None,
    reserves: list[str] | None,
    ef: list[str] | None,
    pin: list[str] | None,
    strategy: str,
    start: str,
    end: str,
    features: list[str] | None = None,
) -> _Run:
    """Read and check everything a portfolio backtest or sweep needs (one-line errors)."""
    from engine.backtest.portfolio import backtest_days_of, check_factors, check_portfolio_data
    from engine.strategies.registry import get_strategy

    get_strategy(strategy)
    first, stop = _date(start, "--start"), _date(end, "--end")
    days = backtest_days_of(first, stop)
    pf, zones, data, inputs, labels = _load(
        portfolio, zones_file, prices, imbalance, reserves, features
    )
    if pin:
        pf = pf.with_jobs_pinned(_pins(pin))
    check_portfolio_data(pf, data, days, strategy, labels)
    factors = _factors(ef, inputs, labels)
    if factors is not None or pf.carbon_price_per_tco2 > 0:
        check_factors(pf, factors or {}, days, strategy, labels)
    return _Run(pf, zones, data, inputs, factors, days, first, stop)


def _config(scenarios: int, seed: int, data: dict[str, Any], model: str | None) -> Any:
    """The strategy settings of a portfolio command: each zone's price model for its data."""
    from engine.strategies.registry import StrategyConfig, zone_models
    from market import get_zone

    return StrategyConfig(
        n_scenarios=scenarios,
        seed=seed,
        zone_models=zone_models([get_zone(k) for k in data], data, model),
    )


def bid(
    portfolio: PortfolioOpt,
    day: Annotated[str, typer.Option("--day", help="Delivery day YYYY-MM-DD (local).")],
    prices: PricesOpt,
    out: Annotated[Path, typer.Option("--out", help="Output folder (one sub-folder per site).")],
    reserve_prices: ReserveOpt = None,
    zones_file: ZonesOpt = None,
    scenarios: Annotated[int, typer.Option("--scenarios", help="Price scenarios.")] = 10,
    strategy: StrategyOpt = "forecast",
    seed: SeedOpt = 0,
    ef: Annotated[list[str] | None, typer.Option("--ef", help=_EF_HELP)] = None,
    features: FeaturesOpt = None,
    model: ModelOpt = None,
) -> None:
    """Build every site's bids and the migratable jobs' allocation for one delivery day."""
    from bidding import BiddingError
    from engine.backtest.portfolio import check_factors
    from engine.bids.files import write_plan
    from engine.core.errors import PowerdeskError
    from engine.strategies.portfolio import decide_portfolio
    from engine.strategies.registry import get_strategy

    get_strategy(strategy)
    the_day = _date(day, "--day")
    pf, _, data, inputs, labels = _load(
        portfolio, zones_file, prices, None, reserve_prices, features
    )
    factors = _factors(ef, inputs, labels)
    if factors is not None:
        check_factors(pf, factors, [the_day], strategy, labels, settled=False)
    config = _config(scenarios, seed, data, model)
    try:
        plan = decide_portfolio(strategy, pf, the_day, data, config, factors=factors)
    except BiddingError as exc:
        raise PowerdeskError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    for site_plan in plan.plans:
        write_plan(site_plan, out / site_plan.site, dict(inputs))
    rows = ["job,site,interval_start,it_mw"]
    for a in plan.allocation:
        for start, mw in zip(a.intervals, a.it_mw, strict=True):
            rows.append(f"{a.job},{a.site},{start.isoformat()},{round(float(mw), 6)!r}")
    (out / "allocation.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    placed = {f"{a.job}@{a.site}": round(a.energy_mwh, 6) for a in plan.allocation if a.energy_mwh}
    typer.echo(
        f"{pf.name} {the_day.isoformat()} {strategy}: {len(plan.plans)} sites, "
        f"migratable energy {json.dumps(placed, sort_keys=True)} MWh -> {out}"
    )


def backtest(
    portfolio: PortfolioOpt,
    prices: PricesOpt,
    start: StartOpt,
    end: EndOpt,
    out: OutOpt,
    strategy: StrategyOpt = "forecast",
    imbalance_prices: ImbalanceOpt = None,
    reserve_prices: ReserveOpt = None,
    zones_file: ZonesOpt = None,
    scenarios: ScenariosOpt = 5,
    seed: SeedOpt = 0,
    executor: ExecutorOpt = "local",
    progress: ProgressOpt = None,
    pin: PinOpt = None,
    ef: Annotated[list[str] | None, typer.Option("--ef", help=_EF_HELP)] = None,
    features: FeaturesOpt = None,
    model: ModelOpt = None,
    no_regret: Annotated[
        bool,
        typer.Option(
            "--no-regret",
            help="Do not run perfect foresight and the price taker (regret, capture).",
        ),
    ] = False,
    rt_stage: RtStageOpt = False,
    rt_forecast: RtForecastOpt = DEFAULT_RT_METHOD,
    rt_lookback: RtLookbackOpt = DEFAULT_RT_LOOKBACK_DAYS,
    rt_threshold: RtThresholdOpt = DEFAULT_RT_THRESHOLD,
    rt_every: RtEveryOpt = 0,
) -> None:
    """Backtest a portfolio: joint decision per day, each site cleared and settled in its zone.

    Perfect foresight and the price taker run over the same days as benchmarks (summary.json's
    regret, value of flexibility and capture) unless --no-regret. With --rt-stage every site
    whose zone has --imbalance-prices re-plans its own load and battery in real time, the
    migratable load placed there held (summary.json's realtime_stage).
    """
    from engine.backtest.portfolio import (
        backtest_portfolio_runs,
        check_portfolio_realtime,
        write_portfolio_backtest,
    )
    from engine.strategies.realtime import with_realtime

    run = _prepare_run(
        portfolio,
        zones_file,
        prices,
        imbalance_prices,
        reserve_prices,
        ef,
        pin,
        strategy,
        start,
        end,
        features,
    )
    pf, days, data, factors = run.portfolio, run.days, run.data, run.factors
    zones, inputs, first, stop = run.zones, run.inputs, run.start, run.end
    config = with_realtime(
        _config(scenarios, seed, data, model),
        realtime_settings(rt_stage, rt_forecast, rt_lookback, rt_threshold, rt_every),
    )
    check_portfolio_realtime(config, data)
    runs = backtest_portfolio_runs(
        strategy,
        pf,
        days,
        data,
        config,
        regret=not no_regret,
        zones=zones,
        executor=executor,
        progress=progress,
        factors=factors,
    )
    summary = write_portfolio_backtest(
        out,
        strategy=strategy,
        portfolio=pf,
        days=runs.run,
        data=data,
        start=first,
        end=stop,
        config=config,
        inputs=inputs,
        perfect=runs.perfect,
        price_taker=runs.price_taker,
    )
    captured = "" if summary["capture"] is None else f", capture {summary['capture']}"
    typer.echo(
        f"{pf.name} {strategy} {summary['days']} days: total cost {summary['total_cost']} "
        f"{summary['currency']} (placement {summary['placement_cost']}{captured}) -> {out}"
    )


def settle(
    portfolio: PortfolioOpt,
    day: Annotated[str, typer.Option("--day", help="Local delivery day YYYY-MM-DD.")],
    force: Annotated[
        bool, typer.Option("--force", help="Record a correction of every site's settlement.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why a correction was made.")] = "",
) -> None:
    """Settle every site of a registered portfolio once and print the roll-up (as
    ``powerdesk settle`` for a site; a re-run is a no-op unless --force)."""
    from engine.core.db import open_database
    from engine.io.portfolio_file import load_portfolio
    from engine.settlement.portfolio import settle_portfolio_day

    when = _date(day, "--day")
    name = load_portfolio(portfolio).name
    result = settle_portfolio_day(open_database(), name, when, force=force, reason=reason)
    typer.echo(json.dumps(result.to_json_dict(), indent=2, sort_keys=True))


def sweep(
    portfolio: PortfolioOpt,
    prices: PricesOpt,
    ef: Annotated[list[str], typer.Option("--ef", help=_EF_HELP)],
    carbon_prices: Annotated[
        str,
        typer.Option(
            "--carbon-prices", help="Comma-separated prices \\[currency/tCO2e]; 0 is the reference."
        ),
    ],
    start: StartOpt,
    end: EndOpt,
    out: OutOpt,
    strategy: StrategyOpt = "forecast",
    imbalance_prices: ImbalanceOpt = None,
    reserve_prices: ReserveOpt = None,
    zones_file: ZonesOpt = None,
    scenarios: ScenariosOpt = 5,
    seed: SeedOpt = 0,
    executor: ExecutorOpt = "local",
    progress: ProgressOpt = None,
    pin: PinOpt = None,
    features: FeaturesOpt = None,
    model: ModelOpt = None,
) -> None:
    """Backtest the portfolio at each carbon price: cost and tCO2e moved against price 0."""
    from engine.backtest.portfolio import (
        SweepPoint,
        backtest_portfolio_days,
        parse_carbon_prices,
        sweep_files,
    )
    from engine.core.files import replace_dir_atomic

    levels = parse_carbon_prices(carbon_prices)
    run = _prepare_run(
        portfolio,
        zones_file,
        prices,
        imbalance_prices,
        reserve_prices,
        ef,
        pin,
        strategy,
        start,
        end,
        features,
    )
    pf, days, data, factors = run.portfolio, run.days, run.data, run.factors or {}
    zones, inputs, first, stop = run.zones, run.inputs, run.start, run.end
    config = _config(scenarios, seed, data, model)
    points = []
    for level in levels:
        priced = pf.with_carbon_price(float(level))
        result = backtest_portfolio_days(
            strategy,
            priced,
            days,
            data,
            config,
            zones=zones,
            executor=executor,
            progress=progress,
            factors=factors,
            label=f"{pf.name} at {level} {pf.currency}/tCO2e",
        )
        points.append(SweepPoint(level, result))
    files = sweep_files(
        points, pf, strategy=strategy, start=first, end=stop, config=config, inputs=inputs
    )
    replace_dir_atomic(
        files,
        out,
        may_replace=lambda d: not any(d.iterdir()) or (d / "sweep.json").is_file(),
        what="a sweep output directory",
    )
    for line in files["sweep.csv"].decode().splitlines():
        typer.echo(line)
    typer.echo(f"-> {out}")


app.command("bid")(bid)
app.command("backtest")(backtest)
app.command("settle")(settle)
app.command("sweep")(sweep)
