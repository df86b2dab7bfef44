from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from market import energy_mwh, float_mwh_to_wh, mwh_to_wh, to_money, wh_to_mwh


def test_power_times_duration() -> None:
    assert energy_mwh(10.0, timedelta(minutes=15)) == 2.5
    assert energy_mwh(3.0, timedelta(hours=2)) == 6.0


def test_exact_energy_conversions() -> None:
    assert mwh_to_wh("1") == 1_000_000
    assert mwh_to_wh(Decimal("0.000001")) == 1
    assert wh_to_mwh(1_500_000) == Decimal("1.5")
    with pytest.raises(ValueError, match="whole number of Wh"):
        mwh_to_wh("0.0000001")
    assert float_mwh_to_wh(0.1 + 0.2) == 300_000


def test_money_rounds_half_to_even() -> None:
    assert to_money("0.125") == Decimal("0.12")
    assert to_money("0.135") == Decimal("0.14")
    assert to_money(2.675) == Decimal("2.68")  # the float's shortest repr, not its binary value
