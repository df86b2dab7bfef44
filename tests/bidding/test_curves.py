"""Bid curves: monotone, inside floor and cap, on the tick, for any prices (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidding import DACurve, ModelCache, PriceScenarios, build_curves, clear_curve, solve_day
from market import delivery_intervals, get_zone
from tests.bidding.helpers import rich_site

DAY = date(2025, 6, 11)
CACHE = ModelCache()
ZONE = get_zone("CAISO")
FLOOR, CAP = float(ZONE.price_floor), float(ZONE.price_cap)


def check_curve(curve: DACurve) -> None:
    prices = curve.prices_per_mwh
    qty = curve.quantities_mw
    assert len(prices) == len(qty) >= 1
    assert all(a < b for a, b in itertools.pairwise(prices))
    assert all(a >= b for a, b in itertools.pairwise(qty))
    assert prices[0] >= ZONE.price_floor
    assert prices[-1] == ZONE.price_cap
    assert all((p / ZONE.tick) == (p / ZONE.tick).to_integral_value() for p in prices)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    spread=st.floats(0.0, 400.0),
    level=st.floats(-150.0, 500.0),
)
def test_solved_curves_are_monotone_and_inside_limits(
    n: int, seed: int, spread: float, level: float
) -> None:
    ix = delivery_intervals(DAY, ZONE)
    rng = np.random.default_rng(seed)
    prices = np.clip(level + spread * rng.standard_normal((n, len(ix))), FLOOR, CAP)
    prices = np.round(prices, 2)
    sc = PriceScenarios(ix, prices, np.full(n, 1.0 / n))
    plan = solve_day(rich_site("CAISO"), ZONE, DAY, sc, cache=CACHE)
    for t, curve in enumerate(plan.da_curves):
        check_curve(curve)
        for s in range(n):
            # A scenario's own purchase is what the curve holds at that scenario's price.
            assert clear_curve(curve, prices[s, t]) == pytest.approx(plan.market_mw[s, t], abs=2e-3)


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.floats(-1000.0, 10000.0), min_size=1, max_size=6),
    quantities=st.lists(st.floats(-50.0, 50.0), min_size=6, max_size=6),
)
def test_build_curves_clips_and_orders(prices: list[float], quantities: list[float]) -> None:
    n = len(prices)
    p = np.array(prices).reshape(n, 1)
    order = np.argsort(p[:, 0], kind="stable")
    q = np.empty(n)
    q[order] = np.sort(np.array(quantities[:n]))[::-1]  # monotone input
    ix = delivery_intervals(DAY, ZONE)[:1]
    (curve,) = build_curves(ZONE, ix, p, q.reshape(n, 1))
    check_curve(curve)
    assert clear_curve(curve, CAP) == curve.quantities_mw[-1]
    assert clear_curve(curve, CAP + 1) == 0.0


def test_clear_curve_steps() -> None:
    curve = DACurve(
        datetime(2025, 1, 1, tzinfo=UTC),
        (Decimal("10"), Decimal("50"), Decimal("2000")),
        (30.0, 20.0, 5.0),
    )
    assert clear_curve(curve, -150) == 30.0
    assert clear_curve(curve, 10) == 30.0
    assert clear_curve(curve, 10.01) == 20.0
    assert clear_curve(curve, Decimal("50")) == 20.0
    assert clear_curve(curve, 1999) == 5.0
    assert clear_curve(curve, 2000) == 5.0
