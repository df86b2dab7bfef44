"""The bid's value of Chinese ancillary services: mileage x K, activation, valley filling."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from bidding import ModelCache, PriceScenarios, Site, solve_day
from bidding.day import SolveOptions, day_shape, reserve_block_values
from market import delivery_intervals, get_zone
from tests.bidding.helpers import BATTERY, site_dict

DAY = date(2024, 5, 14)
ZONE = get_zone("CN-GS")


def _hourly(values: float | list[float]) -> pd.Series:
    ix = delivery_intervals(DAY, ZONE)
    return pd.Series(values, index=ix[ix.minute == 0], dtype="float64")


def _site(products: list[str], k: float = 1.0) -> Site:
    big = dict(BATTERY, power_mw=8.0, energy_mwh=20.0, soc_max_mwh=20.0, soc_initial_mwh=10.0)
    d = site_dict(
        "CN-GS",
        battery=big,
        reserves={"products": products, "performance_factor": k},
        demand_response={"curtailable_share": 0.1, "cost_per_mwh": 0.0},
    )
    d["load"].update({"base_it_mw": 30.0, "grid_import_max_mw": 60.0})
    return Site.from_dict(d)


def test_mileage_revenue_is_scaled_by_the_performance_factor() -> None:
    site = _site(["FREQ_REG"], k=0.85)
    shape, grid = day_shape(site, ZONE, DAY, 1, SolveOptions())
    prices = {"FREQ_REG": _hourly(2.0), "FREQ_REG_MILEAGE": _hourly(1.0)}
    _, value = reserve_block_values(ZONE, grid, shape.products[0], prices, 0.85)
    # capacity 2 + mileage 1 CNY/MW x ratio 2 MW/MW/h x 1 h x K 0.85 = 3.7 per MW
    np.testing.assert_allclose(value, 3.7)


def test_peak_shaving_value_follows_the_activation_series() -> None:
    site = _site(["PEAK_SHAVING"])
    shape, grid = day_shape(site, ZONE, DAY, 1, SolveOptions())
    share = np.zeros(24)
    share[19] = 0.25  # the 19:00 local block (the delivery day starts at 00:00 local)
    prices = {"PEAK_SHAVING": _hourly(3.0), "PEAK_SHAVING_ACTIVATION": _hourly(list(share))}
    _, value = reserve_block_values(ZONE, grid, shape.products[0], prices)
    np.testing.assert_allclose(value, 3.0 * share)  # price x share x 1 h
    _, fallback = reserve_block_values(
        ZONE, grid, shape.products[0], {"PEAK_SHAVING": _hourly(3.0)}
    )
    np.testing.assert_allclose(fallback, 3.0)  # no history: the product's share of 1


def test_valley_filling_is_offered_from_the_battery() -> None:
    site = _site(["VALLEY_FILLING"])
    ix = delivery_intervals(DAY, ZONE)
    scenarios = PriceScenarios.point(ix, np.full(len(ix), 300.0))
    plan = solve_day(
        site, ZONE, DAY, scenarios, {"VALLEY_FILLING": _hourly(5.0)}, cache=ModelCache()
    )
    assert plan.reserve_bids
    assert {b.product for b in plan.reserve_bids} == {"VALLEY_FILLING"}
    offered = sum(b.capacity_mw for b in plan.reserve_bids)
    assert plan.objective.reserve_revenue == pytest.approx(offered * 5.0, rel=1e-9)
