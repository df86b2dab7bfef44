"""The strategy registry: names in one place, one decision function for every caller."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from engine.core.errors import PowerdeskError
from engine.io.site_file import load_site
from engine.marketdata.view import from_files
from engine.strategies.names import DESCRIPTIONS, StrategyName
from engine.strategies.registry import STRATEGIES, StrategyConfig, decide, get_strategy
from market import KnownSeries, gate_closure_utc, get_zone

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "caiso-dc.toml"
DA = FIXTURES / "prices" / "caiso_2020_03_da.csv"
RESERVES = FIXTURES / "prices" / "caiso_2020_03_reserves.csv"


def test_every_name_has_one_strategy_and_every_shell_lists_the_same_names() -> None:
    from api.app import create_app
    from cli.backtest import STRATEGY_NAMES

    assert set(STRATEGIES) == set(StrategyName) == set(DESCRIPTIONS)
    assert tuple(s.value for s in StrategyName) == STRATEGY_NAMES
    schema = create_app().openapi()["components"]["schemas"]["StrategyName"]
    assert schema["enum"] == [s.value for s in StrategyName]
    assert get_strategy("perfect-foresight").hindsight
    with pytest.raises(PowerdeskError, match="unknown strategy 'magic' \\(known: forecast"):
        get_strategy("magic")


def _shifted(series: KnownSeries, after: object, factor: float) -> KnownSeries:
    frame = series.frame.copy()
    late = frame["published_at"] >= after
    frame.loc[late, "value"] = frame.loc[late, "value"] * factor
    return KnownSeries(frame, series.resolution, series.unit, series.source)


@pytest.mark.parametrize("name", ["forecast", "deterministic"])
def test_a_decision_ignores_everything_published_after_its_time(name: str) -> None:
    site = load_site(SITE)
    zone = get_zone(site.zone)
    data, _ = from_files(zone, DA, reserve_prices=RESERVES)
    day = date(2020, 3, 8)
    gate = gate_closure_utc(day, zone)
    cfg = StrategyConfig(n_scenarios=3)
    plan = decide(name, site, zone, day, data, cfg)
    changed = type(data)(
        _shifted(data.da, gate, 3.0),
        None,
        {k: _shifted(s, gate, 5.0) for k, s in data.reserves.items()},
    )
    again = decide(name, site, zone, day, changed, cfg)
    assert again.da_curves == plan.da_curves
    assert again.reserve_bids == plan.reserve_bids
    assert plan.reserve_bids
    # ... while the day's own prices do move the hindsight benchmark.
    pf = decide("perfect-foresight", site, zone, day, data, cfg)
    pf_changed = decide("perfect-foresight", site, zone, day, changed, cfg)
    assert pf.da_curves != pf_changed.da_curves


def test_no_decision_after_gate_closure_without_hindsight() -> None:
    site = load_site(SITE)
    zone = get_zone(site.zone)
    data, _ = from_files(zone, DA)
    day = date(2020, 3, 8)
    late = gate_closure_utc(day, zone) + timedelta(minutes=1)
    with pytest.raises(PowerdeskError, match="after gate closure"):
        decide("forecast", site, zone, day, data, StrategyConfig(), as_of=late)
    with pytest.raises(PowerdeskError, match="needs market data"):
        decide("forecast", site, zone, day, None, StrategyConfig())
    flat = decide("price-taker", site, zone, day, None, StrategyConfig())
    assert not flat.reserve_bids


def test_the_price_model_is_a_strategy_setting() -> None:
    from engine.backtest.runner import run_backtest

    with pytest.raises(PowerdeskError, match="unknown model 'magic'"):
        StrategyConfig(model="magic")
    de = FIXTURES / "sites" / "example-dc.toml"
    de_prices = FIXTURES / "prices" / "de_lu_2025_03_da.csv"
    period = {"start": "2025-03-17", "end": "2025-03-19", "executor": "inline", "progress": False}
    naive = run_backtest(de, de_prices, strategy="deterministic", model="naive", **period)
    similar = run_backtest(de, de_prices, strategy="deterministic", **period)
    assert naive.summary["price_model"] == "naive"
    assert similar.summary["price_model"] == "similar-days"
    # Same days, same benchmarks, another forecast: another bid and another cost.
    assert (
        naive.summary["perfect_foresight_total_cost"]
        == similar.summary["perfect_foresight_total_cost"]
    )
    assert naive.summary["total_cost"] != similar.summary["total_cost"]
    assert naive.run.outcomes[0].decision_sha256 != similar.run.outcomes[0].decision_sha256


def test_a_zone_s_default_model_needs_the_inputs_it_was_measured_with() -> None:
    """Gansu's gbm default was measured with the market's published inputs: without them the
    zone falls back to similar days; zones without a measured model keep similar days."""
    from engine.strategies.names import SIMILAR_DAYS, default_model

    assert default_model("CN-GS", has_features=True) == "gbm"
    assert default_model("CN-GS") == SIMILAR_DAYS
    assert default_model("DE-LU", has_features=True) == SIMILAR_DAYS
