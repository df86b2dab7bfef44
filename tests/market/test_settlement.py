from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from market import Direction, delivery_intervals, get_zone
from market.settlement import Category, IntervalInputs, ReserveAward, settle_day

DE = get_zone("DE-LU")
D = Decimal


def test_hand_computed_day() -> None:
    t0 = datetime(2025, 6, 1, 0, tzinfo=UTC)
    t1 = t0 + timedelta(minutes=15)
    intervals = [
        IntervalInputs(t0, D("10"), D("50.005"), D("10"), D("80")),  # 500.05 DA, no deviation
        # bought 10, consumed 12 of which -1 was an ordered reduction: deviation = 12 - (-1) - 10
        IntervalInputs(t1, D("10"), D("40"), D("12"), None, activated_mwh=D("-1")),
    ]
    award = ReserveAward(
        "AFRR_UP",
        Direction.UP,
        t0,
        D("5"),
        D("12.5"),
        activated_mwh=D("1"),
        activation_price=D("100"),
        shortfall_mw=D("1"),
        penalty_factor=D("2"),
    )
    s = settle_day(DE, date(2025, 6, 1), intervals, [award])
    amounts = {(ln.category, ln.interval_start): ln.amount for ln in s.lines}
    assert amounts[(Category.DA_ENERGY, t0)] == D("500.05")  # 500.050 rounds half-even to .05
    assert amounts[(Category.DA_ENERGY, t1)] == D("400.00")
    assert amounts[(Category.IMBALANCE, t0)] == D("0.00")
    assert amounts[(Category.IMBALANCE, t1)] == D("120.00")  # 3 MWh at the DA price fallback
    assert amounts[(Category.RESERVE_CAPACITY, t0)] == D("-62.50")
    assert amounts[(Category.RESERVE_ACTIVATION, t0)] == D("-100.00")
    assert amounts[(Category.RESERVE_PENALTY, t0)] == D("25.00")
    assert s.totals["energy_cost"] == D("900.05")
    assert s.totals["reserve_revenue"] == D("137.50")
    assert s.total == D("900.05") + D("120.00") - D("137.50")


money = st.decimals(min_value=-500, max_value=4000, places=3, allow_nan=False)
energy = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)


@given(st.lists(st.tuples(energy, money, energy, st.none() | money), min_size=92, max_size=92))
def test_lines_reconcile_to_the_minor_unit(rows: list[tuple[D, D, D, D | None]]) -> None:
    starts = delivery_intervals(date(2025, 3, 30), DE, timedelta(minutes=15))
    intervals = [
        IntervalInputs(t.to_pydatetime(), q, p, m, ip)
        for t, (q, p, m, ip) in zip(starts, rows, strict=True)
    ]
    s = settle_day(DE, date(2025, 3, 30), intervals)
    assert all(ln.amount == ln.amount.quantize(D("0.01")) for ln in s.lines)
    parts = s.totals["energy_cost"] + s.totals["imbalance_cost"] - s.totals["reserve_revenue"]
    assert parts + s.totals["ppa_cost"] == s.totals["total_cost"] == s.total
    # Each line is its exact product rounded once: never more than half a cent away.
    for ln in s.lines:
        exact = ln.quantity * ln.price
        assert abs(ln.amount - exact) <= D("0.005")
