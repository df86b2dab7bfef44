"""The portfolio's carbon price: price 0 is today's result, a price moves energy to the cleaner
zone (checked by an independent LP), factors obey the decision's knowledge time, emissions are
metered purchase times factor, the sweep is byte-identical, bad inputs are one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bidding import PriceScenarios
from bidding.errors import SiteError
from bidding.portfolio_model import solve_portfolio
from cli import main
from engine.backtest.portfolio import backtest_portfolio_days
from engine.core.errors import InputFileError
from engine.io.portfolio_file import load_portfolio
from engine.marketdata.view import MarketData, from_files
from engine.strategies.portfolio import factors_for_day
from engine.strategies.registry import StrategyConfig
from market import get_zone
from tests.engine.test_portfolio import PORTFOLIO, PRICES, _raw, _run, independent_lp

DAY = date(2023, 10, 20)
FIRST_HOUR = datetime(2023, 9, 30, 22, tzinfo=UTC)
N_HOURS = 31 * 24 + 1


def _ef_series(value: float | np.ndarray) -> pd.Series:
    index = pd.date_range(FIRST_HOUR, periods=N_HOURS, freq="1h")
    return pd.Series(np.broadcast_to(value, (N_HOURS,)).astype(float), index=index)


def _write_ef(path: Path, series: pd.Series, drop: int | None = None) -> Path:
    lines = ["interval_start,ef_tco2e_per_mwh,carbon_free_share"]
    for k, (t, v) in enumerate(series.items()):
        if k != drop:
            lines.append(f"{t.isoformat()},{v!r},0.5")
    path.write_text("\n".join(lines) + "\n")
    return path


def _same_prices_data() -> dict[str, MarketData]:
    """DK1's prices in both zones: only the factors tell the sites apart."""
    return {z: from_files(get_zone(z), PRICES["DK1"])[0] for z in ("DK1", "DK2")}


def _scenarios(data: dict[str, MarketData], day: date) -> list[PriceScenarios]:
    pf = load_portfolio(PORTFOLIO)
    return [
        PriceScenarios.perfect_foresight(data[s.zone].da, day, get_zone(s.zone)) for s in pf.sites
    ]


def test_carbon_price_zero_is_todays_result_exactly() -> None:
    pf = load_portfolio(PORTFOLIO)
    assert pf.carbon_price_per_tco2 == 0.0
    data = {z: from_files(get_zone(z), p)[0] for z, p in PRICES.items()}
    scen = _scenarios(data, DAY)
    factors = [np.linspace(0.1, 0.7, 24), np.full(24, 0.2)]
    today = solve_portfolio(pf, DAY, scen)
    zero = solve_portfolio(
        pf.with_carbon_price(80.0).with_carbon_price(0.0), DAY, scen, None, emission_factors=factors
    )
    assert zero.provenance.objective == today.provenance.objective
    for a, b in zip(today.plans, zero.plans, strict=True):
        assert np.array_equal(a.market_mw, b.market_mw)
        assert a.da_curves == b.da_curves
    for a, b in zip(today.allocation, zero.allocation, strict=True):
        assert np.array_equal(a.it_mw, b.it_mw)
    assert zero.plans[0].extra["planned_carbon_cost"] == 0.0
    # The planned emissions are the expected purchase times the factors.
    p0 = zero.plans[0]
    assert p0.extra["planned_emissions_tco2e"] == pytest.approx(
        float(p0.expected_market_mw @ factors[0])
    )
    # Settled money is unchanged too when factors are only reported.
    ser = {"DK1": _ef_series(0.5), "DK2": _ef_series(0.2)}
    days = [DAY, DAY + timedelta(days=1)]
    cfg = StrategyConfig()
    plain = backtest_portfolio_days("perfect-foresight", pf, days, data, cfg)
    carbon = backtest_portfolio_days("perfect-foresight", pf, days, data, cfg, factors=ser)
    for a, b in zip(plain, carbon, strict=True):
        assert a.total("total_cost") == b.total("total_cost")
        assert a.allocation == b.allocation
        assert b.total("carbon_cost") == 0


def test_a_carbon_price_moves_the_job_to_the_cleaner_zone_as_an_independent_lp_says() -> None:
    """Equal prices in both zones; DK1's grid 0.6 t/MWh, DK2's 0.1 t/MWh.

    Per MWh of IT energy in an hour of price p: DK1 costs 1.15 (p + 0.6 c), DK2 1.2 (p + 0.1 c)
    + 2 (placement). At c = 0 DK1 is cheaper in every hour (p > -40), at c = 100 DK2 is
    (1.15 p + 69 > 1.2 p + 14 for p < 1100), and DK2's 35 MW x 24 h hold the 600 MWh: the
    whole pool moves to DK2, and the emissions fall by (the pool's energy at DK1 at c = 0) x
    (1.15 x 0.6 - 1.2 x 0.1) t.
    """
    pf = load_portfolio(PORTFOLIO)
    data = _same_prices_data()
    scen = _scenarios(data, DAY)
    assert scen[0].prices_per_mwh.min() > -40
    assert scen[0].prices_per_mwh.max() < 1100
    ef = {"DK1": 0.6, "DK2": 0.1}
    factors = [np.full(24, ef[s.zone]) for s in pf.sites]
    doc, sites = _raw()
    raw_prices = {z: pd.Series(scen[0].prices_per_mwh[0], index=scen[0].intervals) for z in ef}
    placed = {}
    for price in (0.0, 100.0):
        plan = solve_portfolio(pf.with_carbon_price(price), DAY, scen, emission_factors=factors)
        # Independent LP: every MWh bought costs price + carbon price x factor.
        eff = {z: raw_prices[z] + price * ef[z] for z in ef}
        assert plan.provenance.objective == pytest.approx(
            independent_lp(DAY, doc, sites, eff), rel=1e-7, abs=1e-3
        )
        placed[price] = {a.site: a.energy_mwh for a in plan.allocation}
    assert placed[0.0]["dk1-dc"] > 100.0
    assert placed[100.0]["dk2-dc"] == pytest.approx(600.0, abs=1e-6)
    assert placed[100.0]["dk1-dc"] == pytest.approx(0.0, abs=1e-6)
    # Settled: the emissions of the pool's move, as computed by hand above (the rest of the
    # load does not move between zones; the battery at a constant factor only cycles less).
    cfg = StrategyConfig()
    ser = {z: _ef_series(v) for z, v in ef.items()}
    runs = {
        price: backtest_portfolio_days(
            "perfect-foresight", pf.with_carbon_price(price), [DAY], data, cfg, factors=ser
        )[0]
        for price in (0.0, 100.0)
    }
    pool_dk1_0 = placed[0.0]["dk1-dc"]
    moved = float(runs[0.0].total("emissions_tco2e") - runs[100.0].total("emissions_tco2e"))
    assert moved == pytest.approx(pool_dk1_0 * (1.15 * 0.6 - 1.2 * 0.1), abs=1.0)
    assert runs[100.0].total("carbon_cost") == (
        Decimal(100) * runs[100.0].total("emissions_tco2e")
    ).quantize(Decimal("0.01"))
    # Emissions are the metered purchase times the factor, exactly (constant factor, no PPA).
    for s in runs[100.0].sites:
        exact = s.outcome.grid_energy_mwh * Decimal(repr(ef[s.zone]))
        assert s.emissions_tco2e == exact.quantize(Decimal("0.000001"))


def test_decisions_use_only_factors_known_at_gate_closure() -> None:
    zone = get_zone("DK1")
    rng = np.random.default_rng(1)
    series = _ef_series(rng.uniform(0.1, 0.7, N_HOURS))
    gate = datetime(2023, 10, 19, 10, tzinfo=UTC)  # D-1 12:00 local
    forecast = factors_for_day(series, DAY, zone, gate, hindsight=False)
    changed = series.copy()
    late = changed.index >= datetime(2023, 10, 18, 22, tzinfo=UTC)  # D-1 and D, local
    changed[late] = 5.0
    assert np.array_equal(factors_for_day(changed, DAY, zone, gate, hindsight=False), forecast)
    # It is the mean of D-8 .. D-2 at the same local hour.
    first = [
        series[datetime(2023, 10, 20 - k, 0, tzinfo=UTC) - timedelta(hours=2)] for k in range(2, 9)
    ]
    assert forecast[0] == pytest.approx(np.mean(first))
    # Hindsight sees the delivery day itself.
    realised = factors_for_day(changed, DAY, zone, gate, hindsight=True)
    assert np.array_equal(realised, np.full(24, 5.0))
    data = {z: from_files(get_zone(z), p)[0] for z, p in PRICES.items()}
    priced = load_portfolio(PORTFOLIO).with_carbon_price(10.0)
    with pytest.raises(SiteError, match="needs grid emission factors"):
        solve_portfolio(priced, DAY, _scenarios(data, DAY))


def _sweep_argv(tmp: Path, out: Path, executor: str, ef_dk1: Path, ef_dk2: Path) -> list[str]:
    return [
        "portfolio", "sweep", "--portfolio", str(PORTFOLIO),
        "--prices", f"DK1={PRICES['DK1']}", "--prices", f"DK2={PRICES['DK2']}",
        "--ef", f"DK1={ef_dk1}", "--ef", f"DK2={ef_dk2}",
        "--carbon-prices", "0,100", "--start", "2023-10-20", "--end", "2023-10-22",
        "--strategy", "forecast", "--scenarios", "3", "--executor", executor,
        "--out", str(out), "--no-progress",
    ]  # fmt: skip


def test_sweep_outputs_are_byte_identical(tmp_path: Path) -> None:
    hours = np.arange(N_HOURS)
    ef1 = _write_ef(tmp_path / "dk1.csv", _ef_series(0.4 + 0.2 * np.sin(hours * 2 * np.pi / 24)))
    ef2 = _write_ef(tmp_path / "dk2.csv", _ef_series(0.15))
    outs = []
    for k, executor in enumerate(("inline", "local:2")):
        out = tmp_path / f"sweep{k}"
        assert _run(_sweep_argv(tmp_path, out, executor, ef1, ef2)) == 0
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == ["sweep.csv", "sweep.json", "sweep.png"]
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    doc = json.loads((outs[0] / "sweep.json").read_text())
    zero, hundred = doc["points"]
    assert (zero["carbon_price_per_tco2"], hundred["carbon_price_per_tco2"]) == ("0", "100")
    assert Decimal(zero["tco2e_moved"]) == 0
    moved = Decimal(zero["emissions_tco2e"]) - Decimal(hundred["emissions_tco2e"])
    assert Decimal(hundred["tco2e_moved"]) == moved > 0
    assert Decimal(hundred["cost_change"]) == Decimal(hundred["total_cost"]) - Decimal(
        zero["total_cost"]
    )
    # The sweep's point at 0 is the plain backtest with factors reported.
    out = tmp_path / "bt"
    argv = _sweep_argv(tmp_path, out, "inline", ef1, ef2)
    argv[1] = "backtest"
    i = argv.index("--carbon-prices")
    del argv[i : i + 2]
    assert _run(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_cost"] == zero["total_cost"]
    assert summary["emissions_tco2e"] == zero["emissions_tco2e"]
    header = (out / "days.csv").read_text().splitlines()[0]
    assert header.endswith("grid_energy_mwh,emissions_tco2e,carbon_cost")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown-zone", "unknown zone 'XX"),
        ("foreign-zone", "--ef DE-LU: no site of portfolio 'nordics' is in zone DE-LU"),
        ("missing-hour", "no emission factor for the UTC hour starting 2023-10-15T03:00:00+00:00"),
        ("missing-zone", "no --ef for zone DK2"),
        ("negative-file", "carbon.price_per_tco2: must be at least 0, got -5"),
        ("negative-sweep", "--carbon-prices: -50 must be a finite price of at least 0"),
        ("text-sweep", "--carbon-prices: 'abc' is not a number"),
    ],
)
def test_bad_carbon_inputs_are_one_line_errors_that_write_nothing(
    tmp_path: Path, case: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ef1 = _write_ef(tmp_path / "dk1.csv", _ef_series(0.5))
    gap = int((datetime(2023, 10, 15, 3, tzinfo=UTC) - FIRST_HOUR) / timedelta(hours=1))
    ef2 = _write_ef(
        tmp_path / "dk2.csv", _ef_series(0.1), drop=gap if case == "missing-hour" else None
    )
    out = tmp_path / "out"
    argv = _sweep_argv(tmp_path, out, "inline", ef1, ef2)
    if case == "unknown-zone":
        argv[argv.index(f"DK2={ef2}")] = f"XX={ef2}"
    elif case == "foreign-zone":
        argv += ["--ef", f"DE-LU={ef2}"]
    elif case == "missing-zone":
        i = argv.index(f"DK2={ef2}")
        del argv[i - 1 : i + 1]
    elif case == "negative-file":
        for f in ("dk1-dc.toml", "dk2-dc.toml"):
            (tmp_path / f).write_text((PORTFOLIO.parent / f).read_text())
        text = PORTFOLIO.read_text() + "\n[carbon]\nprice_per_tco2 = -5\n"
        (tmp_path / "p.toml").write_text(text)
        argv[argv.index(str(PORTFOLIO))] = str(tmp_path / "p.toml")
        argv[1] = "backtest"
        i = argv.index("--carbon-prices")
        del argv[i : i + 2]
    elif case == "negative-sweep":
        argv[argv.index("0,100")] = "0,-50"
    elif case == "text-sweep":
        argv[argv.index("0,100")] = "0,abc"
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert message in err, err
    assert not out.exists()


def test_carbon_price_in_the_portfolio_file(tmp_path: Path) -> None:
    for f in ("dk1-dc.toml", "dk2-dc.toml"):
        (tmp_path / f).write_text((PORTFOLIO.parent / f).read_text())
    path = tmp_path / "p.toml"
    path.write_text(PORTFOLIO.read_text() + "\n[carbon]\nprice_per_tco2 = 75\n")
    pf = load_portfolio(path)
    assert pf.carbon_price_per_tco2 == 75.0
    assert pf.with_jobs_pinned({"training-pool": "dk1-dc"}).carbon_price_per_tco2 == 75.0
    path.write_text(PORTFOLIO.read_text() + "\n[carbon]\nprice = 75\n")
    with pytest.raises(InputFileError, match=r"carbon\.price: unknown key"):
        load_portfolio(path)
