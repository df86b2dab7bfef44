"""Settlement of calls: regulation mileage x K, peak shaving paid per MWh called (market.clearing).

Every figure below is worked by hand in the comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from market import MarketError, delivery_intervals, get_zone
from market.clearing import (
    Activations,
    DACurve,
    ReserveOffer,
    SubmittedDay,
    called_energy_mwh,
    settle_submitted_day,
)
from market.settlement import Category

ZONE = get_zone("CN-GS")
DAY = date(2024, 5, 14)
INTERVALS = delivery_intervals(DAY, ZONE)  # 96 quarter hours from 2024-05-13T16:00Z
QUARTER = timedelta(minutes=15)
PEAK = datetime(2024, 5, 14, 11, tzinfo=UTC)  # 19:00 local
REG = datetime(2024, 5, 14, 12, tzinfo=UTC)  # 20:00 local
LATE = datetime(2024, 5, 14, 13, tzinfo=UTC)


def _at(values: dict[datetime, float]) -> pd.Series:
    return pd.Series(list(values.values()), index=pd.DatetimeIndex(list(values)), dtype="float64")


BIDS = SubmittedDay(
    tuple(DACurve(t.to_pydatetime(), (Decimal(650),), (10.0,)) for t in INTERVALS),
    (
        ReserveOffer("PEAK_SHAVING", PEAK, Decimal(4), Decimal(100)),
        ReserveOffer("FREQ_REG", REG, Decimal(6), Decimal(10)),
        ReserveOffer("FREQ_REG", LATE, Decimal(6), Decimal(99)),  # above the clearing price
    ),
)
CLEARING = {
    "PEAK_SHAVING": _at({PEAK: 150.0}),  # CNY/MWh called
    "FREQ_REG": _at({REG: 12.5, LATE: 12.5}),  # CNY/MW per hour block
    "FREQ_REG_MILEAGE": _at({REG: 8.3, LATE: 8.3}),  # CNY/MW of mileage
}
ACTIVATIONS = Activations(
    called_mw={
        # 3 MW, then 5 MW (capped at the 4 MW award), then 0; 11:45 not called
        "PEAK_SHAVING": _at({PEAK: 3.0, PEAK + QUARTER: 5.0, PEAK + 2 * QUARTER: 0.0}),
        "FREQ_REG": _at({REG: 2.0}),  # regulation energy is not paid
    },
    mileage_mw={
        "FREQ_REG": _at(
            {REG: 7.2, REG + QUARTER: 5.0, REG + 2 * QUARTER: 3.1, LATE: 40.0}  # LATE: no award
        )
    },
)
DA = pd.Series(300.0, index=INTERVALS)


def _metered() -> list[Decimal]:
    # 10 MW for a quarter hour = 2.5 MWh; the site lowered consumption by what was called
    out = [Decimal("2.5")] * len(INTERVALS)
    out[INTERVALS.get_loc(PEAK)] -= Decimal("0.75")  # 3 MW x 0.25 h
    out[INTERVALS.get_loc(PEAK + QUARTER)] -= Decimal("1")  # 4 MW x 0.25 h
    return out


def test_mileage_is_paid_times_k_and_peak_shaving_per_mwh_called() -> None:
    s = settle_submitted_day(
        ZONE,
        DAY,
        BIDS,
        da_prices=DA,
        metered_mwh=_metered(),
        reserve_clearing=CLEARING,
        activations=ACTIVATIONS,
        performance_factor=Decimal("0.85"),
    )
    lines = {(ln.category, ln.product, ln.interval_start): ln for ln in s.lines}
    # FREQ_REG capacity: 6 MW x 12.5 = 75.00 CNY paid
    assert lines[(Category.RESERVE_CAPACITY, "FREQ_REG", REG)].amount == Decimal("-75.00")
    # mileage 7.2 + 5.0 + 3.1 = 15.3 MW x 8.3 CNY/MW x K 0.85 = 107.9415 -> 107.94 CNY paid
    mileage = lines[(Category.RESERVE_MILEAGE, "FREQ_REG", REG)]
    assert mileage.quantity == Decimal("15.3")
    assert mileage.price == Decimal("7.055")  # 8.3 x 0.85
    assert mileage.amount == Decimal("-107.94")
    # peak shaving: no capacity payment; 0.75 + 1.0 = 1.75 MWh called x 150 = 262.50 CNY paid
    assert lines[(Category.RESERVE_CAPACITY, "PEAK_SHAVING", PEAK)].amount == Decimal(0)
    called = lines[(Category.RESERVE_ACTIVATION, "PEAK_SHAVING", PEAK)]
    assert (called.quantity, called.price, called.amount) == (
        Decimal("1.75"),
        Decimal(150),
        Decimal("-262.50"),
    )
    # the called reduction is an ordered change, not an imbalance
    assert s.totals["imbalance_cost"] == Decimal(0)
    assert s.totals["reserve_revenue"] == Decimal("445.44")  # 75 + 107.94 + 262.50
    # the energy: 96 x 2.5 MWh x 300 CNY/MWh
    assert s.totals["energy_cost"] == Decimal("72000.00")
    reserve = [ln for ln in s.lines if ln.category.value.startswith("reserve")]
    assert not [ln for ln in reserve if ln.interval_start == LATE]  # not awarded: nothing paid


def test_without_activation_data_awards_are_paid_as_capacity_as_before() -> None:
    s = settle_submitted_day(
        ZONE,
        DAY,
        BIDS,
        da_prices=DA,
        metered_mwh=[Decimal("2.5")] * len(INTERVALS),
        reserve_clearing=CLEARING,
    )
    # 4 MW x 150 + 6 MW x 12.5, no mileage
    assert s.totals["reserve_revenue"] == Decimal("675.00")
    assert not [ln for ln in s.lines if ln.category is Category.RESERVE_MILEAGE]


def test_called_energy_per_interval_and_k_out_of_range() -> None:
    net = called_energy_mwh(ZONE, DAY, BIDS, CLEARING, ACTIVATIONS)
    assert net[INTERVALS.get_loc(PEAK)] == Decimal("-0.75")
    assert net[INTERVALS.get_loc(PEAK + QUARTER)] == Decimal("-1")
    assert sum(net, Decimal(0)) == Decimal("-1.75")
    for k in ("0", "1.01"):
        with pytest.raises(MarketError, match="performance factor"):
            settle_submitted_day(
                ZONE,
                DAY,
                BIDS,
                da_prices=DA,
                metered_mwh=_metered(),
                reserve_clearing=CLEARING,
                activations=ACTIVATIONS,
                performance_factor=Decimal(k),
            )


def test_valley_filling_is_paid_for_consumption_raised_when_called() -> None:
    bids = SubmittedDay(
        BIDS.curves, (ReserveOffer("VALLEY_FILLING", PEAK, Decimal(2), Decimal(0)),)
    )
    metered = [Decimal("2.5")] * len(INTERVALS)
    metered[INTERVALS.get_loc(PEAK)] += Decimal("0.5")  # 2 MW raised for a quarter hour
    s = settle_submitted_day(
        ZONE,
        DAY,
        bids,
        da_prices=DA,
        metered_mwh=metered,
        reserve_clearing={"VALLEY_FILLING": _at({PEAK: 80.0})},
        activations=Activations(called_mw={"VALLEY_FILLING": _at({PEAK: 2.0})}),
    )
    # 0.5 MWh x 80 CNY/MWh = 40.00 paid; the extra 0.5 MWh bought is no imbalance
    assert s.totals["reserve_revenue"] == Decimal("40.00")
    assert s.totals["imbalance_cost"] == Decimal(0)
