"""Reserve products as data: mileage, curtailment, DR backing, ERCOT's five products."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from bidding import ModelCache, PriceScenarios, Site, solve_day
from market import delivery_intervals, get_zone
from tests.bidding.helpers import BATTERY, site_dict

DAY = date(2024, 5, 14)


def hourly(zone: str, value: float) -> pd.Series:
    ix = delivery_intervals(DAY, zone)
    starts = ix[pd.Index(ix.tz_convert(get_zone(zone).tz).minute) == 0]
    return pd.Series(value, index=starts)


def flat_prices(zone: str, value: float = 300.0) -> PriceScenarios:
    ix = delivery_intervals(DAY, zone)
    return PriceScenarios.point(ix, np.full(len(ix), value))


def test_dr_alone_backs_upward_reserve_up_to_its_share() -> None:
    d = site_dict(
        "ERCOT",
        reserves={"products": ["RRS"]},
        demand_response={"curtailable_share": 0.2, "cost_per_mwh": 0.0},
    )
    site = Site.from_dict(d)
    plan = solve_day(
        site,
        "ERCOT",
        DAY,
        flat_prices("ERCOT", 30.0),
        {"RRS": hourly("ERCOT", 5.0)},
        cache=ModelCache(),
    )
    # No battery: the only backing is 20 % of 10 MW IT x PUE 1.0 = 2 MW in every hour.
    np.testing.assert_allclose(plan.reserve_mw["RRS"], 2.0, atol=1e-6)
    assert plan.objective.reserve_revenue == pytest.approx(2.0 * 5.0 * 24, rel=1e-9)
    assert len(plan.reserve_bids) == 24


@pytest.mark.parametrize("key", ["FREQ_REG", "PEAK_SHAVING"])
def test_mileage_and_curtailment_are_paid(key: str) -> None:
    # FREQ_REG has a 5 MW minimum offer: a battery big enough to offer it.
    big = dict(BATTERY, power_mw=8.0, energy_mwh=20.0, soc_max_mwh=20.0, soc_initial_mwh=10.0)
    d = site_dict(
        "CN-GS",
        battery=big,
        reserves={"products": [key]},
        demand_response={"curtailable_share": 0.1, "cost_per_mwh": 0.0},
    )
    d["load"].update({"base_it_mw": 30.0, "grid_import_max_mw": 60.0})
    site = Site.from_dict(d)
    zone = get_zone("CN-GS")
    prices = {
        "FREQ_REG": hourly("CN-GS", 2.0),
        "FREQ_REG_MILEAGE": hourly("CN-GS", 1.0),
        "PEAK_SHAVING": hourly("CN-GS", 3.0),
    }
    plan = solve_day(site, zone, DAY, flat_prices("CN-GS"), prices, cache=ModelCache())
    product = zone.product(key)
    if key == "FREQ_REG":
        per_mw = 2.0 + 1.0 * product.mileage_ratio * 1.0  # capacity + mileage x ratio x 1 h
    else:
        per_mw = 3.0 * product.expected_activation_share * 1.0  # per MWh curtailed x share x 1 h
    offered = [b.capacity_mw for b in plan.reserve_bids]
    assert offered
    assert min(offered) >= float(product.min_size_mw)
    assert plan.objective.reserve_revenue == pytest.approx(sum(offered) * per_mw, rel=1e-6)


def test_ercot_offers_all_five_products() -> None:
    d = site_dict(
        "ERCOT",
        battery=dict(BATTERY),
        reserves={"products": ["REGUP", "REGDN", "RRS", "NSPIN", "ECRS"]},
        demand_response={"curtailable_share": 0.1, "cost_per_mwh": 50.0},
    )
    site = Site.from_dict(d)
    prices = {
        k: hourly("ERCOT", v)
        for k, v in (("REGUP", 8), ("REGDN", 6), ("RRS", 5), ("NSPIN", 3), ("ECRS", 4))
    }
    plan = solve_day(site, "ERCOT", DAY, flat_prices("ERCOT", 40.0), prices, cache=ModelCache())
    assert set(plan.reserve_mw) == {"REGUP", "REGDN", "RRS", "NSPIN", "ECRS"}
    up = sum(plan.reserve_mw[k] for k in ("REGUP", "RRS", "NSPIN", "ECRS"))
    assert (up <= plan.battery_up_mw + plan.dr_up_mw + 1e-6).all()
    assert (plan.reserve_mw["REGDN"] <= plan.battery_down_mw + 1e-6).all()
    # NSPIN must be sustainable for 4 h: battery-backed upward capacity is limited by energy.
    assert (
        plan.battery_up_mw.max() <= (BATTERY["soc_max_mwh"] - BATTERY["soc_min_mwh"]) / 0.5 + 1e-6
    )
    assert plan.objective.reserve_revenue > 0


def test_reserve_asks_are_the_cost_of_delivering_an_award() -> None:
    """Battery-backed capacity asks 0 (the capacity is held whether or not it is awarded);
    capacity backed by curtailing IT load asks its expected curtailment cost per MW of the
    block, rounded up to the cent, and stays below the price it was valued at."""
    from decimal import ROUND_CEILING, Decimal

    zone = get_zone("ERCOT")
    share = zone.product("RRS").expected_activation_share
    d = site_dict(
        "ERCOT",
        reserves={"products": ["RRS"]},
        demand_response={"curtailable_share": 0.2, "cost_per_mwh": 37.0},
    )
    prices = hourly("ERCOT", 9.0)
    plan = solve_day(
        Site.from_dict(d), "ERCOT", DAY, flat_prices("ERCOT", 30.0), {"RRS": prices},
        cache=ModelCache(),
    )  # fmt: skip
    assert len(plan.reserve_bids) == 24
    assert (plan.dr_up_mw > 0).all()
    expected = Decimal(repr(37.0 * share * 1.0)).quantize(Decimal("0.01"), ROUND_CEILING)
    assert expected > 0
    assert {b.price_per_mw for b in plan.reserve_bids} == {expected}
    assert all(b.price_per_mw <= Decimal("9.00") for b in plan.reserve_bids)

    d_bat = site_dict("ERCOT", reserves={"products": ["RRS"]}, battery=BATTERY)
    plan = solve_day(
        Site.from_dict(d_bat), "ERCOT", DAY, flat_prices("ERCOT", 30.0), {"RRS": prices},
        cache=ModelCache(),
    )  # fmt: skip
    assert plan.reserve_bids
    assert (plan.dr_up_mw == 0).all()
    assert {b.price_per_mw for b in plan.reserve_bids} == {Decimal(0)}


def test_mileage_revenue_lowers_the_ask_of_capacity_and_mileage_offers() -> None:
    """An award of a capacity + mileage product pays both: the ask is the delivery cost less the
    mileage revenue expected per MW, never below 0; products paid per MWh called ask the
    curtailment cost per MWh."""
    from types import SimpleNamespace

    from bidding.day import reserve_asks
    from bidding.model import BidShape, ProductShape
    from market import Payment

    site = Site.from_dict(
        site_dict("CN-GS", demand_response={"curtailable_share": 0.2, "cost_per_mwh": 300.0})
    )
    prod = ProductShape("FREQ_REG", True, True, (0, 0, 1, 1))
    shape = BidShape(4, 0.25, 1, products=(prod,))
    dr = SimpleNamespace(value=np.array([1.0, 0.0, 2.0, 2.0]))
    model = SimpleNamespace(variables={"dr_up_mw": dr})
    unit = np.array([3.0, 3.0, 4.0, 4.0])  # expected curtailment cost per MW and interval
    cap = np.array([10.0, 10.0])
    values = {"dr_cost": unit, "reserve_value_0": np.array([11.0, 30.0])}
    asks = reserve_asks(site, shape, prod, Payment.CAPACITY_AND_MILEAGE, model, values, 0, cap)  # type: ignore[arg-type]
    # block 0: DR in interval 0 only, cost 3, mileage 1 -> 2; block 1: cost 8, mileage 20 -> 0
    assert asks.tolist() == [2.0, 0.0]
    asks = reserve_asks(site, shape, prod, Payment.CAPACITY, model, values, 0, cap)  # type: ignore[arg-type]
    assert asks.tolist() == [3.0, 8.0]
    asks = reserve_asks(site, shape, prod, Payment.CURTAILMENT, model, values, 0, cap)  # type: ignore[arg-type]
    assert asks.tolist() == [300.0, 300.0]
    down = ProductShape("FREQ_REG", False, True, (0, 0, 1, 1))
    asks = reserve_asks(site, shape, down, Payment.CAPACITY, model, values, 0, cap)  # type: ignore[arg-type]
    assert asks.tolist() == [0.0, 0.0]


def test_pay_as_bid_capacity_asks_its_forecast_price_and_is_paid_its_ask() -> None:
    """Germany's aFRR capacity pays as bid: an ask at the delivery cost (0 for a battery) would
    give the capacity away, so the offer asks the forecast price, and an award is paid the ask;
    FCR (pay-as-clear) keeps the delivery-cost ask and is paid the clearing price."""
    from decimal import Decimal

    from market.clearing import ReserveOffer, award_reserves

    zone = get_zone("DE-LU")
    assert zone.product("AFRR_UP").pay_as_bid
    assert not zone.product("FCR").pay_as_bid
    assert not get_zone("DK2").product("AFRR_UP").pay_as_bid
    ix = delivery_intervals(DAY, "DE-LU")
    blocks = ix[pd.Index(ix.tz_convert(zone.tz).hour) % 4 == 0]
    forecast = {"AFRR_UP": pd.Series(11.37, index=blocks), "FCR": pd.Series(8.0, index=blocks)}
    for product, ask in (("AFRR_UP", Decimal("11.37")), ("FCR", Decimal(0))):
        d = site_dict("DE-LU", reserves={"products": [product]}, battery=BATTERY)
        plan = solve_day(
            Site.from_dict(d), "DE-LU", DAY, flat_prices("DE-LU", 60.0), forecast,
            cache=ModelCache(),
        )  # fmt: skip
        assert plan.reserve_bids
        assert {b.price_per_mw for b in plan.reserve_bids} == {ask}

    start = blocks[0].to_pydatetime()
    offers = [
        ReserveOffer("AFRR_UP", start, Decimal("2.0"), Decimal("11.37")),
        ReserveOffer("FCR", start, Decimal("1.0"), Decimal("0")),
    ]
    clearing = {"AFRR_UP": pd.Series(15.0, index=blocks), "FCR": pd.Series(9.5, index=blocks)}
    paid = {a.product: a.capacity_price for a in award_reserves(offers, clearing, zone)}
    assert paid == {"AFRR_UP": Decimal("11.37"), "FCR": Decimal("9.5")}
    clearing["AFRR_UP"] = pd.Series(11.0, index=blocks)  # below the ask: not accepted
    assert [a.product for a in award_reserves(offers, clearing, zone)] == ["FCR"]
