"""PPA contracts and settlement: exact money, integer Wh, collars, profiles on DST days."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ledger.errors import PPAError
from ledger.ppa import MeteredInterval, Volume, ppa_from_mapping, settle_ppa
from market import delivery_intervals

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ledger"
TZ = "Europe/Berlin"
HOUR = timedelta(hours=1)


def _load(name: str) -> dict[str, object]:
    return tomllib.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def _metered(day: date, gen_wh: list[int] | int) -> list[MeteredInterval]:
    idx = delivery_intervals(day, "DE-LU", HOUR)
    gens = gen_wh if isinstance(gen_wh, list) else [gen_wh] * len(idx)
    starts = [t.to_pydatetime() for t in idx]
    return [MeteredInterval(t, t + HOUR, g) for t, g in zip(starts, gens, strict=True)]


def test_physical_pay_as_produced_is_exact() -> None:
    ppa = ppa_from_mapping(_load("ppa-wind-physical.toml"), TZ)
    metered = _metered(date(2026, 6, 1), [1_000_001] * 24)
    result = settle_ppa(ppa, metered)
    # share 0.8 of 1_000_001 Wh floors to 800_000 Wh (never certify more than produced)
    assert {line.quantity_wh for line in result.lines} == {800_000}
    assert result.certificate_wh == 24 * 800_000
    assert result.payment == Decimal("62.50") * Decimal("0.8") * 24
    assert result.difference_payment == 0


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 6, 1), 24), (date(2026, 10, 25), 25)]
)
def test_shaped_virtual_with_collar_on_dst_days(day: date, hours: int) -> None:
    ppa = ppa_from_mapping(_load("ppa-solar-virtual.toml"), TZ)
    assert ppa.volume is Volume.SHAPED
    metered = _metered(day, 12_000_000)
    prices = [Decimal(p) for p in ["-20", "200", "60.5"] * 9][: len(metered)]
    result = settle_ppa(ppa, metered, prices)
    assert len(result.lines) == hours
    summer = day.month in (4, 5, 6, 7, 8, 9)
    for line, price in zip(result.lines, prices, strict=True):
        local_hour = line.start.astimezone(ZoneInfo(TZ)).hour
        profile = (
            (20 if local_hour in (10, 11, 12, 13, 14) else 0)
            if summer
            else (8 if local_hour in (11, 12, 13) else 0)
        )
        assert line.quantity_wh == profile * 1_000_000
        assert line.certificate_wh == min(line.quantity_wh, 12_000_000)
        assert line.shortfall_wh == max(0, line.quantity_wh - 12_000_000)
        clipped = min(max(price, Decimal(0)), Decimal(150))
        assert line.difference_payment == (clipped - Decimal(55)) * profile
        assert line.shortfall_payment == Decimal(90) * Decimal(line.shortfall_wh) / 1_000_000
        assert line.payment == 0


def test_baseload_shortfall() -> None:
    data = _load("ppa-wind-physical.toml") | {
        "volume": "baseload",
        "baseload_mw": "5",
        "share": "1",
    }
    ppa = ppa_from_mapping(data, TZ)
    start = datetime(2026, 1, 5, 10, tzinfo=UTC)
    line = settle_ppa(ppa, [MeteredInterval(start, start.replace(hour=11), 3_000_000)]).lines[0]
    assert (line.quantity_wh, line.certificate_wh, line.shortfall_wh) == (
        5_000_000,
        3_000_000,
        2_000_000,
    )
    assert line.payment == Decimal("312.50")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strike_per_mwh": "abc"}, "strike_per_mwh"),
        ({"currency": "euro"}, "currency"),
        ({"share": "1.5"}, "share"),
        ({"start": "2026-01-01T00:00:00"}, "UTC offset"),
        ({"volume": "baseload"}, "baseload_mw"),
        ({"collar": {"floor_per_mwh": "1", "cap_per_mwh": "2"}}, "virtual"),
        ({"devices": []}, "devices"),
        ({"colour": "green"}, "unknown"),
    ],
)
def test_bad_contracts_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(PPAError, match=message):
        ppa_from_mapping(_load("ppa-wind-physical.toml") | change, TZ)


def test_settlement_refuses_naive_or_out_of_tenor_intervals() -> None:
    ppa = ppa_from_mapping(_load("ppa-wind-physical.toml"), TZ)
    naive = datetime(2026, 1, 5, 10)  # noqa: DTZ001 - deliberately naive
    with pytest.raises(PPAError, match="naive"):
        settle_ppa(ppa, [MeteredInterval(naive, naive.replace(hour=11), 1)])
    late = datetime(2040, 1, 1, tzinfo=UTC)
    with pytest.raises(PPAError, match="tenor"):
        settle_ppa(ppa, [MeteredInterval(late, late.replace(hour=1), 1)])
