"""The real-time stage: no look-ahead in the DA bid or the re-plan, a re-plan that gains on a known
spread and does nothing on a zero-information forecast, settlement of the re-planned deviations by
hand, one-line errors for bad inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bidding import Site
from cli import main
from engine.backtest.runner import (
    PERFECT_FORESIGHT,
    PRICE_TAKER,
    RT_DAY_COLUMNS,
    StrategyRun,
    backtest_days,
    build_summary,
    consumed_mwh,
    settle_plan,
)
from engine.bids.documents import plan_documents
from engine.core.errors import PowerdeskError
from engine.marketdata.view import MarketData
from engine.strategies.realtime import nearest_scenario, realtime_replan, replan_time
from engine.strategies.registry import StrategyConfig, decide
from market import KnownSeries, delivery_intervals, gate_closure_utc, get_zone, published_day_ahead
from market.clearing import clear_curve
from tests.bidding.helpers import BATTERY, make_site

ZONE = get_zone("DE-LU")
FIRST = date(2024, 4, 1)
DAY = date(2024, 6, 10)  # the delivery day under test (Monday)
QUARTER = timedelta(minutes=15)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _da_values(days: list[date], flat: bool = False) -> pd.Series:
    rng = np.random.default_rng(7)
    parts = []
    for d in days:
        idx = delivery_intervals(d, ZONE)
        hour = np.asarray(idx.tz_convert(ZONE.tz).hour, dtype=np.float64)
        if flat:
            values = np.full(len(idx), 50.0)
        else:
            values = 60 + 25 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 6, len(idx))
        parts.append(pd.Series(np.round(values, 2), index=idx))
    return pd.concat(parts)


def _spread(starts: pd.DatetimeIndex) -> np.ndarray:
    """A spread that repeats every day: real-time dear in the evening, cheap before dawn."""
    hour = np.asarray(starts.tz_convert(ZONE.tz).hour)
    return np.where(
        (hour >= 18) & (hour < 21), 80.0, np.where((hour >= 2) & (hour < 5), -80.0, 0.0)
    )


def _rt_values(da: pd.Series, spread: bool, noise_on: date | None = None) -> pd.Series:
    """Quarter-hourly real-time prices: each hour's DA price (+ the spread), the four quarters
    of an hour 10 apart around it (so the hourly mean is the hour's price)."""
    starts, values = [], []
    for t, p in da.items():
        for q, off in enumerate((-15.0, -5.0, 5.0, 15.0)):
            starts.append(pd.Timestamp(t) + q * QUARTER)
            values.append(float(p) + off)
    rt = pd.Series(values, index=pd.DatetimeIndex(starts))
    if spread:
        rt = rt + _spread(pd.DatetimeIndex(rt.index))
    if noise_on is not None:
        on = delivery_intervals(noise_on, ZONE, QUARTER)
        rng = np.random.default_rng(3)
        rt[on] = rt[on] + rng.normal(0, 40, len(on))
    return rt.round(2)


def _market(
    da: pd.Series, rt: pd.Series, features: dict[str, KnownSeries] | None = None
) -> MarketData:
    return MarketData(
        KnownSeries.from_values(da, published_day_ahead(ZONE), timedelta(hours=1), "EUR/MWh"),
        KnownSeries.from_values(
            rt, lambda idx: idx + QUARTER, QUARTER, "EUR/MWh"
        ),  # known once the quarter is over
        {},
        features or {},
    )


def _site() -> Site:
    return make_site(
        "DE-LU",
        battery=dict(BATTERY),
        jobs=[
            {
                "name": "train",
                "energy_mwh": 6.0,
                "max_power_mw": 1.0,
                "window_start": "00:00",
                "window_end": "24:00",
                "preemptible": True,
            }
        ],
    )


CFG = StrategyConfig(n_scenarios=3, rt_stage=True, rt_forecast="mean", rt_lookback_days=7)


def _scaled(series: pd.Series, where: np.ndarray, factor: float) -> pd.Series:
    out = series.copy()
    out[where] = out[where] * factor
    return out


def _wind(days: list[date]) -> pd.Series:
    rng = np.random.default_rng(11)
    parts = []
    for d in days:
        idx = delivery_intervals(d, ZONE)
        parts.append(pd.Series(np.round(rng.uniform(0, 2000, len(idx)), 1), index=idx))
    return pd.concat(parts)


def _features(wind: pd.Series, bump_from: datetime | None = None) -> dict[str, KnownSeries]:
    """The wind forecast, each day's values known 4 hours before the day's gate closure."""
    values = wind.copy()
    if bump_from is not None:
        values[values.index >= bump_from] = values[values.index >= bump_from] * 4
    known = KnownSeries.from_values(
        values,
        lambda idx: pd.DatetimeIndex(
            [gate_closure_utc(t.tz_convert(ZONE.tz).date(), ZONE) - timedelta(hours=4) for t in idx]
        ),
        timedelta(hours=1),
        "MW",
    )
    return {"wind_mw": known}


# --------------------------------------------------------------------------------------------
# Look-ahead


@pytest.mark.parametrize("name", ["forecast", "deterministic"])
def test_the_da_bid_ignores_what_is_published_after_gate_closure(name: str) -> None:
    """DA prices of D and later, RT prices of D and later: D's DA bid stays the same."""
    days = _days(FIRST, DAY + timedelta(days=3))
    da = _da_values(days)
    rt = _rt_values(da, spread=True)
    site, data = _site(), _market(da, rt)
    d0 = delivery_intervals(DAY, ZONE)[0]
    plan = decide(name, site, ZONE, DAY, data, CFG)
    later = _market(
        _scaled(da, da.index >= d0, 2.5),
        _scaled(rt, rt.index >= d0, -3.0),
    )
    again = decide(name, site, ZONE, DAY, later, CFG)
    assert plan_documents(again) == plan_documents(plan)
    # The control: the DA prices before D (published before the gate) do move the bid.
    earlier = _market(_scaled(da, da.index < d0, 2.5), rt)
    assert plan_documents(decide(name, site, ZONE, DAY, earlier, CFG)) != plan_documents(plan)


def test_features_of_later_days_leave_the_da_bid_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a model that reads features (LEAR), features of D+1 and later change nothing."""
    import engine.strategies.registry as registry
    from forecast.day import forecast_day

    # Two days of past errors instead of 28 (each is a LEAR recalibration): same code path.
    monkeypatch.setattr(registry, "forecast_day", partial(forecast_day, residual_days=2))
    days = _days(DAY - timedelta(days=64), DAY + timedelta(days=2))
    wind = _wind(days)
    da = (_da_values(days) - 0.03 * wind).round(2)  # wind lowers the price: LEAR learns it
    rt = _rt_values(da, spread=False)
    site = _site()
    cfg = replace(CFG, model="lear")
    d0 = delivery_intervals(DAY, ZONE)[0]
    d1 = delivery_intervals(DAY + timedelta(days=1), ZONE)[0]
    plan = decide("deterministic", site, ZONE, DAY, _market(da, rt, _features(wind)), cfg)
    later = _market(da, rt, _features(wind, bump_from=d1))
    assert plan_documents(decide("deterministic", site, ZONE, DAY, later, cfg)) == plan_documents(
        plan
    )
    own = _market(da, rt, _features(wind, bump_from=d0))  # D's own features are known: they count
    assert plan_documents(decide("deterministic", site, ZONE, DAY, own, cfg)) != plan_documents(
        plan
    )


def test_the_replan_ignores_what_is_published_after_the_replan_time() -> None:
    days = _days(FIRST, DAY + timedelta(days=3))
    da = _da_values(days)
    rt = _rt_values(da, spread=True)
    site, data = _site(), _market(da, rt)
    plan = decide("forecast", site, ZONE, DAY, data, CFG)
    replan = realtime_replan(site, ZONE, DAY, plan, data, CFG)
    t = replan_time(DAY, ZONE)
    assert replan.as_of == t
    d1 = delivery_intervals(DAY + timedelta(days=1), ZONE)[0]
    # RT prices of D and of D-1's intervals that end after the re-plan time; DA of D+1 on.
    late_rt = (rt.index + QUARTER) >= t
    changed = _market(_scaled(da, da.index >= d1, 3.0), _scaled(rt, late_rt, -2.0))
    again = realtime_replan(site, ZONE, DAY, plan, changed, CFG)
    np.testing.assert_array_equal(again.plan.market_mw, replan.plan.market_mw)
    np.testing.assert_array_equal(again.forecast_per_mwh, replan.forecast_per_mwh)
    # The control: RT prices known at the re-plan time (the days before) move the forecast.
    d_2 = delivery_intervals(DAY - timedelta(days=2), ZONE)
    early = (rt.index >= d_2[0]) & (rt.index < d_2[-1])
    moved = realtime_replan(site, ZONE, DAY, plan, _market(da, _scaled(rt, early, 3.0)), CFG)
    assert not np.array_equal(moved.forecast_per_mwh, replan.forecast_per_mwh)


def test_no_replan_before_the_da_prices_are_published() -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    site, data = _site(), _market(da, _rt_values(da, spread=False))
    plan = decide("forecast", site, ZONE, DAY, data, CFG)
    with pytest.raises(PowerdeskError, match="needs its DA prices"):
        realtime_replan(site, ZONE, DAY, plan, data, CFG, as_of=gate_closure_utc(DAY, ZONE))
    no_rt = MarketData(data.da)
    with pytest.raises(PowerdeskError, match="needs real-time / imbalance prices"):
        realtime_replan(site, ZONE, DAY, plan, no_rt, CFG)


# --------------------------------------------------------------------------------------------
# What the stage earns


def _run(data: MarketData, cfg: StrategyConfig, days: list[date]) -> dict[str, StrategyRun]:
    return backtest_days(
        ["forecast", PERFECT_FORESIGHT, PRICE_TAKER], _site(), ZONE, days, data, cfg
    )


def test_a_known_spread_is_earned_exactly() -> None:
    """Flat DA prices and a spread that repeats every day: the mean spread of the past week is
    the spread of D, so the forecast is exact and the re-plan gains what it expects to."""
    days = _days(FIRST, DAY + timedelta(days=1))
    da = _da_values(days, flat=True)
    data = _market(da, _rt_values(da, spread=True))
    test_days = [DAY, DAY + timedelta(days=1)]
    runs = _run(data, CFG, test_days)
    run = runs["forecast"]
    rt = run.realtime()
    assert rt is not None
    assert runs[PERFECT_FORESIGHT].realtime() is None
    site = _site()
    bat = site.battery
    assert bat is not None
    for day, da_only, with_rt in zip(test_days, run.outcomes, rt.outcomes, strict=True):
        plan = decide("forecast", site, ZONE, day, data, CFG)
        replan = realtime_replan(site, ZONE, day, plan, data, CFG)
        hourly = np.asarray(replan.forecast_per_mwh)
        np.testing.assert_allclose(hourly - 50.0, _spread(plan.intervals))  # exact forecast
        base = nearest_scenario(plan, np.full(len(plan.intervals), 50.0))
        moved = replan.plan.market_mw[0] - plan.market_mw[base]
        throughput = (replan.plan.charge_mw[0] + replan.plan.discharge_mw[0]).sum() - (
            plan.charge_mw[base] + plan.discharge_mw[base]
        ).sum()
        expected = -float(hourly @ moved) - throughput * bat.degradation_cost_per_mwh
        gain = float(da_only.total_cost - with_rt.total_cost)
        assert gain > 100.0  # the job moves out of the evening, the battery trades the spread
        assert gain == pytest.approx(expected, abs=0.25)  # up to Wh and cent rounding
        assert with_rt.energy_cost == da_only.energy_cost  # the DA position did not move
        assert with_rt.decision_sha256 == da_only.decision_sha256
        assert with_rt.replanned_mwh > 0


def test_a_zero_information_forecast_trades_nothing() -> None:
    """Flat DA prices and real-time prices that equal them on every day before D (only D itself
    is noisy, which nothing can know): the forecast is flat, the re-plan keeps the schedule."""
    days = _days(FIRST, DAY)
    da = _da_values(days, flat=True)
    data = _market(da, _rt_values(da, spread=False, noise_on=DAY))
    for cfg in (CFG, replace(CFG, rt_forecast="zero"), replace(CFG, rt_forecast="median")):
        run = _run(data, cfg, [DAY])["forecast"]
        rt = run.realtime()
        assert rt is not None
        (da_only,), (with_rt,) = run.outcomes, rt.outcomes
        assert with_rt.replanned_mwh == 0
        assert with_rt.total_cost == da_only.total_cost
        assert with_rt.imbalance_cost == da_only.imbalance_cost


def test_replanned_deviations_settle_at_the_real_time_price_by_hand() -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    rt = _rt_values(da, spread=True, noise_on=DAY)
    data = _market(da, rt)
    site = _site()
    plan = decide("forecast", site, ZONE, DAY, data, CFG)
    replan = realtime_replan(site, ZONE, DAY, plan, data, CFG)
    outcome = settle_plan(plan, site, ZONE, data.actuals(), replan)
    hand = Decimal(0)
    cent = Decimal("0.01")
    meter = consumed_mwh(replan.plan, 0)
    for t, curve, metered in zip(plan.intervals, plan.da_curves, meter, strict=True):
        price = Decimal(repr(float(da[t])))
        held = Decimal(repr(clear_curve(curve, price))).quantize(Decimal("0.000001"))
        quarters = [Decimal(repr(float(rt[t + k * QUARTER]))) for k in range(4)]
        rt_price = sum(quarters, Decimal(0)) / 4
        hand += ((metered - held) * rt_price).quantize(cent, rounding=ROUND_HALF_EVEN)
    assert outcome.imbalance_cost == hand
    assert outcome.replanned_mwh > 0
    assert outcome.imbalance_cost != settle_plan(plan, site, ZONE, data.actuals()).imbalance_cost


def test_summary_and_days_report_da_only_and_da_plus_rt_side_by_side() -> None:
    days = _days(FIRST, DAY + timedelta(days=1))
    da = _da_values(days)
    data = _market(da, _rt_values(da, spread=True))
    test_days = [DAY, DAY + timedelta(days=1)]
    runs = _run(data, CFG, test_days)
    summary = build_summary(
        strategy="forecast",
        run=runs["forecast"],
        perfect=runs[PERFECT_FORESIGHT],
        zone=ZONE,
        site=_site(),
        start=test_days[0],
        end=test_days[-1] + timedelta(days=1),
        config=CFG,
        inputs={},
        deviations_at="imbalance price",
        price_taker=runs[PRICE_TAKER],
    )
    rt = summary["realtime_stage"]
    pt = Decimal(summary["price_taker_total_cost"])
    pf = Decimal(summary["perfect_foresight_total_cost"])
    rt_total = Decimal(rt["total_cost"])
    assert Decimal(rt["capture"]) == ((pt - rt_total) / (pt - pf)).quantize(Decimal("0.0001"))
    assert Decimal(rt["gain_vs_da_only"]) == Decimal(summary["total_cost"]) - rt_total
    assert rt["rt_forecast"] == "mean"
    assert summary["capture"] is not None
    from engine.backtest.runner import days_csv

    header = days_csv(runs["forecast"], ZONE).decode().splitlines()[0].split(",")
    assert header[-len(RT_DAY_COLUMNS) :] == list(RT_DAY_COLUMNS)
    no_rt = _run(data, replace(CFG, rt_stage=False), test_days)["forecast"]
    assert no_rt.realtime() is None
    assert [o.total_cost for o in no_rt.outcomes] == [
        o.total_cost for o in runs["forecast"].outcomes
    ]


# --------------------------------------------------------------------------------------------
# Bad inputs


def _cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _write_prices(path: Path, series: pd.Series, step: timedelta | None = None) -> Path:
    """A canonical price file (with ``interval_end`` when ``step`` is given)."""
    if step is None:
        lines = ["interval_start,price"] + [f"{t.isoformat()},{v!r}" for t, v in series.items()]
    else:
        lines = ["interval_start,price,interval_end"] + [
            f"{t.isoformat()},{v!r},{(t + step).isoformat()}" for t, v in series.items()
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        'name = "t"\nzone = "DE-LU"\n[load]\nbase_it_mw = 10.0\npue = 1.0\n'
        "grid_import_max_mw = 50.0\n[battery]\n"
        + "".join(f"{k} = {v!r}\n" for k, v in BATTERY.items())
    )
    return path


def test_rt_files_with_a_gap_are_one_line_errors_that_write_nothing(
    tmp_path: Path, site_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = _days(FIRST, DAY)
    da = _da_values(days)
    rt = _rt_values(da, spread=False)
    prices = _write_prices(tmp_path / "da.csv", da)
    gap = _write_prices(tmp_path / "rt.csv", rt.drop(rt.index[500]), QUARTER)
    out = tmp_path / "out"
    argv: list[str] = [
        "backtest", "--site", str(site_file), "--prices", str(prices), "--imbalance-prices",
        str(gap), "--start", DAY.isoformat(), "--end", (DAY + timedelta(days=1)).isoformat(),
        "--out", str(out), "--rt-stage", "--executor", "inline",
    ]  # fmt: skip
    assert _cli(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "rt.csv" in err
    assert "missing interval" in err
    assert not out.exists()
    # Without real-time prices the stage cannot run: one line, nothing written.
    no_rt = [a for a in argv if a not in ("--imbalance-prices", str(gap))]
    assert _cli(no_rt) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "needs real-time / imbalance prices" in err
    assert not out.exists()
    bad = [*argv[: argv.index("--rt-stage")], "--rt-stage", "--rt-forecast", "magic"]
    bad[bad.index(str(gap))] = str(_write_prices(tmp_path / "rt_ok.csv", rt, QUARTER))
    assert _cli(bad) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown real-time forecast 'magic'" in err
    assert not out.exists()


def test_an_id_aep_file_with_a_gap_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["Datum von;(Uhrzeit) von;Zeitzone;(Uhrzeit) bis;Zeitzone;ID AEP in €/MWh"]
    for k in range(8):
        if k == 5:
            continue
        a, b = f"{k // 4:02d}:{15 * (k % 4):02d}", f"{(k + 1) // 4:02d}:{15 * ((k + 1) % 4):02d}"
        rows.append(f"01.06.2024;{a};CEST;{b};CEST;{50 + k},5")
    src = tmp_path / "idaep.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    out = tmp_path / "id.csv"
    assert _cli(["prices", "import", str(src), "--format", "id-aep", "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "idaep.csv" in err
    assert not out.exists()


def test_a_sweep_adds_a_real_time_row_per_optimising_strategy(
    tmp_path: Path, site_file: Path
) -> None:
    from engine.backtest.sweep import SweepResult, run_sweep

    days = _days(FIRST, DAY)
    da = _da_values(days)
    prices = _write_prices(tmp_path / "da.csv", da)
    rt = _write_prices(tmp_path / "rt.csv", _rt_values(da, spread=True, noise_on=DAY), QUARTER)

    def sweep(realtime: StrategyConfig | None) -> SweepResult:
        return run_sweep(
            site_file,
            prices,
            DAY,
            DAY + timedelta(days=1),
            strategies=["forecast", "deterministic", "price-taker"],
            n_scenarios=[3],
            imbalance_prices=rt,
            executor="inline",
            realtime=realtime,
        )

    result = sweep(None)
    assert [r.strategy for r in result.rows] == ["forecast", "deterministic", "price-taker"]
    with_rt = sweep(CFG)
    names = [r.strategy for r in with_rt.rows]
    assert names == ["forecast", "forecast+rt", "deterministic", "deterministic+rt", "price-taker"]
    by = {r.strategy: r for r in with_rt.rows}
    assert by["forecast"].totals == result.rows[0].totals  # the DA-only row is unchanged
    assert by["forecast+rt"].totals["energy_cost"] == by["forecast"].totals["energy_cost"]
    assert by["forecast+rt"].totals["total_cost"] != by["forecast"].totals["total_cost"]
    with pytest.raises(PowerdeskError, match="needs real-time / imbalance prices"):
        run_sweep(
            site_file,
            prices,
            DAY,
            DAY + timedelta(days=1),
            strategies=["forecast"],
            n_scenarios=[3],
            executor="inline",
            realtime=CFG,
        )
