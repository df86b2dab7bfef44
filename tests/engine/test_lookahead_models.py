"""A feature-using price model inside the strategy sees nothing published after gate closure.

The ``forecast`` strategy with ``--model lear`` (or ``gbm``) and day-ahead load forecasts as
features: changing the features of day D+1 or later, or the DA prices of D and later, leaves D's
bid unchanged, whether the day is decided alone (a live bid) or after earlier days with the
backtest's record of past forecasts. Changing D's own feature values (published before the
gate) does change it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.io.site_file import load_site
from engine.marketdata.view import MarketData, from_files
from engine.strategies.registry import StrategyConfig, decide, error_record
from market import KnownSeries, delivery_intervals, gate_closure_utc, get_zone

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "caiso-dc.toml"
DA = FIXTURES / "prices" / "caiso_2020_03_da.csv"
DAY = date(2020, 3, 17)
CFG = StrategyConfig(n_scenarios=3, model="lear-1456", offer_reserves=False)


def _load(zone_key: str, values: pd.Series) -> KnownSeries:
    """Day-ahead load forecasts, each published three hours before its day's gate closure."""
    zone = get_zone(zone_key)
    days = values.index.tz_convert(zone.tz).date
    published = pd.Series(
        [pd.Timestamp(gate_closure_utc(d, zone)) - pd.Timedelta(hours=3) for d in days],
        index=values.index,
    )
    return KnownSeries.from_values(values, published, timedelta(hours=1), "MW", "synthetic")


def _inputs() -> tuple[MarketData, pd.Series]:
    site = load_site(SITE)
    zone = get_zone(site.zone)
    data, _ = from_files(zone, DA)
    index = data.da.final().index
    hour = index.tz_convert(zone.tz).hour.to_numpy()
    rng = np.random.default_rng(7)
    load = pd.Series(20000 + 4000 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(0, 800, len(index)))
    load.index = index
    return replace(data, features={"load_mw": _load(zone.key, load)}), load


def _prices_changed_from(data: MarketData, start: pd.Timestamp, factor: float) -> KnownSeries:
    frame = data.da.frame.copy()
    late = frame["interval_start"] >= start
    frame.loc[late, "value"] = frame.loc[late, "value"] * factor
    return KnownSeries(frame, data.da.resolution, data.da.unit, data.da.source)


def _bids(data: MarketData, with_record: bool, cfg: StrategyConfig = CFG) -> tuple[object, object]:
    site = load_site(SITE)
    zone = get_zone(site.zone)
    record = error_record(cfg, zone) if with_record else None
    if record is not None:  # the backtest's path: the days before D decided first
        # (gbm fits on 14 days before each day it forecasts: the fixture's March has too few
        # for the days before D to have two forecast days of errors of their own)
        for back in (2, 1) if cfg.model.startswith("lear") else ():
            decide("forecast", site, zone, DAY - timedelta(days=back), data, cfg, record=record)
    plan = decide("forecast", site, zone, DAY, data, cfg, record=record)
    return plan.da_curves, plan.block_bids


@pytest.mark.parametrize("model", ["lear-1456", "gbm"])
@pytest.mark.parametrize("with_record", [False, True], ids=["live", "backtest-record"])
def test_models_with_features_ignore_what_is_published_after_gate_closure(
    with_record: bool, model: str
) -> None:
    zone = get_zone(load_site(SITE).zone)
    data, load = _inputs()
    cfg = replace(CFG, model=model)
    base = _bids(data, with_record, cfg)

    day_start = pd.Timestamp(delivery_intervals(DAY, zone)[0])
    next_start = pd.Timestamp(delivery_intervals(DAY + timedelta(days=1), zone)[0])
    later_load = load.copy()
    later_load[later_load.index >= next_start] *= 3.0
    later = replace(
        data,
        da=_prices_changed_from(data, day_start, 4.0),
        features={"load_mw": _load(zone.key, later_load)},
    )
    assert _bids(later, with_record, cfg) == base

    # The day's own load forecast is published before the gate: it does move the bid.
    own_load = load.copy()
    on_day = (own_load.index >= day_start) & (own_load.index < next_start)
    own_load[on_day] = own_load[on_day][::-1].to_numpy() * 2.0
    own = replace(data, features={"load_mw": _load(zone.key, own_load)})
    assert _bids(own, with_record, cfg) != base


def test_the_record_of_past_forecasts_does_not_change_the_bid() -> None:
    data, _ = _inputs()
    assert _bids(data, with_record=True) == _bids(data, with_record=False)
