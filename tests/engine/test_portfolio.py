"""Portfolios: an independent LP on real DK1 + DK2 prices, the value of moving a job, the IT
capacity, bad files, zones files and the CLI."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from bidding import PriceScenarios
from bidding.portfolio import Portfolio
from bidding.portfolio_model import solve_portfolio
from cli import main
from engine.backtest.portfolio import backtest_portfolio_days
from engine.core.errors import InputFileError
from engine.io.portfolio_file import load_portfolio, read_zones_file
from engine.marketdata.view import MarketData, from_files
from engine.strategies.registry import StrategyConfig
from market import get_zone, register_zones, restore_zones

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PORTFOLIO = FIXTURES / "portfolio" / "nordics.toml"
PRICES = {z: FIXTURES / "prices" / f"{z.lower()}_2023_10_da.csv" for z in ("DK1", "DK2")}
TZ = ZoneInfo("Europe/Copenhagen")


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _data() -> dict[str, MarketData]:
    return {z: from_files(get_zone(z), p)[0] for z, p in PRICES.items()}


# --- the independent LP: site files read with tomllib, prices with pandas, no bidding code ----


def _hours(day: date) -> pd.DatetimeIndex:
    start = datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    return pd.date_range(start, end, freq="1h", inclusive="left")


def _prices(zone: str) -> pd.Series:
    frame = pd.read_csv(PRICES[zone])
    return pd.Series(
        frame["price"].to_numpy(dtype=float), index=pd.DatetimeIndex(frame["interval_start"])
    )


def independent_lp(day: date, doc: dict, sites: list[dict], prices: dict[str, pd.Series]) -> float:
    """Minimum expected cost of the portfolio day under perfect foresight (scipy HiGHS)."""
    hours = _hours(day)
    nt = len(hours)
    cols: dict[tuple[str, int], int] = {}
    lower: list[float] = []
    upper: list[float] = []
    cost: list[float] = []

    def add(name: str, i: int, lo: float, hi: float, c: np.ndarray) -> int:
        cols[(name, i)] = len(lower)
        lower.extend([lo] * nt)
        upper.extend([hi] * nt)
        cost.extend(c.tolist())
        return cols[(name, i)]

    job = doc["migratable_jobs"][0]
    eq_rows: list[tuple[dict[int, float], float]] = []
    ub_rows: list[tuple[dict[int, float], float]] = []
    mig_cols: list[int] = []
    for i, s in enumerate(sites):
        load, price = s["load"], prices[s["zone"]].reindex(hours).to_numpy()
        pue, base = load["pue"], load["base_it_mw"]
        m = add("m", i, 0.0, load["grid_import_max_mw"], price)  # no export: m >= 0
        place = job["sites"].get(s["name"])
        mig = add("mig", i, 0.0, place["max_power_mw"], np.full(nt, place["cost_per_mwh"]))
        mig_cols += [mig + t for t in range(nt)]
        jobs = s.get("jobs", [])
        p = add("p", i, 0.0, jobs[0]["max_power_mw"], np.zeros(nt)) if jobs else None
        bat = s.get("battery")
        ch = dis = soc = None
        if bat:
            deg = np.full(nt, bat["degradation_cost_per_mwh"])
            ch = add("ch", i, 0.0, bat["power_mw"], deg)
            dis = add("dis", i, 0.0, bat["power_mw"], deg)
            soc = add("soc", i, bat["soc_min_mwh"], bat["soc_max_mwh"], np.zeros(nt))
        for t in range(nt):
            row = {m + t: 1.0, mig + t: -pue}
            if p is not None:
                row[p + t] = -pue
            if ch is not None and dis is not None and soc is not None:
                row[ch + t] = -1.0
                row[dis + t] = 1.0
                rec = {soc + t: 1.0, ch + t: -bat["charge_efficiency"]}
                rec[dis + t] = 1.0 / bat["discharge_efficiency"]
                if t:
                    rec[soc + t - 1] = -1.0
                eq_rows.append((rec, bat["soc_initial_mwh"] if t == 0 else 0.0))
            eq_rows.append((row, pue * base))
            it_row = {mig + t: 1.0}
            if p is not None:
                it_row[p + t] = 1.0
            ub_rows.append((it_row, load["it_capacity_mw"] - base))
        if p is not None:
            eq_rows.append(({p + t: 1.0 for t in range(nt)}, jobs[0]["energy_mwh"]))
        if soc is not None:
            ub_rows.append(({soc + nt - 1: -1.0}, -bat["soc_initial_mwh"]))
    eq_rows.append(({c: 1.0 for c in mig_cols}, job["energy_mwh"]))

    def matrix(rows: list[tuple[dict[int, float], float]]) -> tuple[sp.csr_matrix, np.ndarray]:
        r, c, v = [], [], []
        for k, (coef, _) in enumerate(rows):
            for col, val in coef.items():
                r.append(k)
                c.append(col)
                v.append(val)
        a = sp.csr_matrix((v, (r, c)), shape=(len(rows), len(lower)))
        return a, np.array([b for _, b in rows])

    a_eq, b_eq = matrix(eq_rows)
    a_ub, b_ub = matrix(ub_rows)
    res = linprog(
        np.array(cost),  # [currency/MWh]: dt = 1 h
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=list(zip(lower, upper, strict=True)),
        method="highs",
    )
    assert res.status == 0, res.message
    return float(res.fun)


def _raw() -> tuple[dict, list[dict]]:
    doc = tomllib.loads(PORTFOLIO.read_text())
    sites = [tomllib.loads((PORTFOLIO.parent / n).read_text()) for n in doc["sites"]]
    return doc, sites


def test_independent_lp_equals_perfect_foresight_portfolio_over_14_days_with_dst() -> None:
    days = [date(2023, 10, 18) + timedelta(days=k) for k in range(14)]
    assert date(2023, 10, 29) in days  # 25-hour day
    doc, sites = _raw()
    prices = {z: _prices(z) for z in PRICES}
    pf = load_portfolio(PORTFOLIO)
    data = _data()
    outcome = backtest_portfolio_days(
        "perfect-foresight", pf, days, data, StrategyConfig(), executor="inline"
    )
    for day, settled in zip(days, outcome, strict=True):
        lp = independent_lp(day, doc, sites, prices)
        scen = [
            PriceScenarios.perfect_foresight(data[s.zone].da, day, get_zone(s.zone))
            for s in pf.sites
        ]
        plan = solve_portfolio(pf, day, scen)
        assert plan.provenance.objective == pytest.approx(lp, rel=1e-7, abs=1e-3), day
        # Settled money (exact decimals, energies to the Wh) is the LP optimum to the cent level.
        assert abs(float(settled.total("total_cost")) - lp) < 0.5, day
        assert len(plan.plans[0].intervals) == (25 if day == date(2023, 10, 29) else 24)


def test_moving_the_job_saves_money() -> None:
    pf = load_portfolio(PORTFOLIO)
    data = _data()
    days = [date(2023, 10, 20), date(2023, 10, 21), date(2023, 10, 22)]
    cfg = StrategyConfig()
    joint = backtest_portfolio_days("perfect-foresight", pf, days, data, cfg)
    for home in ("dk1-dc", "dk2-dc"):
        pinned_pf = pf.with_jobs_pinned({"training-pool": home})
        pinned = backtest_portfolio_days("perfect-foresight", pinned_pf, days, data, cfg)
        saved = sum(
            (
                p.total("total_cost") - j.total("total_cost")
                for p, j in zip(pinned, joint, strict=True)
            ),
            Decimal(0),
        )
        assert saved > Decimal(100), home
    # Both sites got some of the job on some day (it really moved).
    placed = {s for d in joint for _, s, mwh in d.allocation if mwh > 0}
    assert placed == {"dk1-dc", "dk2-dc"}


def test_it_capacity_binds() -> None:
    pf = load_portfolio(PORTFOLIO)
    dk1 = pf.sites[0]
    tight = replace(dk1, load=replace(dk1.load, it_capacity_mw=dk1.load.base_it_mw + 15.0))
    loose = replace(dk1, load=replace(dk1.load, it_capacity_mw=None))
    data = _data()
    day = date(2023, 10, 20)
    scen = [
        PriceScenarios.perfect_foresight(data[s.zone].da, day, get_zone(s.zone)) for s in pf.sites
    ]
    plans = {}
    for name, site in (("tight", tight), ("loose", loose)):
        p = Portfolio(pf.name, (site, pf.sites[1]), pf.jobs)
        plans[name] = solve_portfolio(p, day, scen)
    plan = plans["tight"].plans[0]
    it = plan.base_it_mw + plan.job_it_mw[0].sum(axis=0)
    assert it.max() <= dk1.load.base_it_mw + 15.0 + 1e-6
    assert it.max() == pytest.approx(dk1.load.base_it_mw + 15.0, abs=1e-6)
    loose_it = plans["loose"].plans[0].base_it_mw + plans["loose"].plans[0].job_it_mw[0].sum(axis=0)
    assert loose_it.max() > dk1.load.base_it_mw + 15.0 + 1.0
    assert plans["tight"].provenance.objective > plans["loose"].provenance.objective + 1.0


# --- bad files -----------------------------------------------------------------------------------


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _portfolio(tmp: Path, sites: list[str], jobs: str) -> Path:
    for f in ("dk1-dc.toml", "dk2-dc.toml"):
        (tmp / f).write_text((PORTFOLIO.parent / f).read_text())
    listed = ", ".join(f'"{s}"' for s in sites)
    return _write(tmp, "p.toml", f'name = "t"\nsites = [{listed}]\n{jobs}')


JOB = """
[[migratable_jobs]]
name = "pool"
energy_mwh = 100.0
[migratable_jobs.sites]
{sites}
"""


@pytest.mark.parametrize(
    ("sites", "job", "message"),
    [
        (
            ["dk1-dc.toml", "dk2-dc.toml"],
            "nowhere = { max_power_mw = 5.0 }",
            "unknown site 'nowhere'",
        ),
        (
            ["dk1-dc.toml", "dk2-dc.toml"],
            "dk1-dc = { max_power_mw = 0.0 }",
            "'pool': is allowed at no site",
        ),
        (
            ["dk1-dc.toml", "dk2-dc.toml"],
            "dk1-dc = { max_power_mw = 1.0 }",
            "'pool': energy_mwh 100 does not fit",
        ),
        (
            ["dk1-dc.toml", "caiso.toml"],
            "dk1-dc = { max_power_mw = 5.0 }",
            "site 'caiso-dc': currency USD",
        ),
        (
            ["dk1-dc.toml", "shanghai.toml"],
            "dk1-dc = { max_power_mw = 5.0 }",
            "site 'sh-dc': local day boundaries",
        ),
        (
            ["dk1-dc.toml", "low-cap.toml"],
            "dk1-dc = { max_power_mw = 5.0 }",
            "low-cap.toml: load.it_capacity_mw: 10 MW is below base_it_mw 30 MW",
        ),
    ],
)
def test_bad_portfolio_files_are_one_line_errors_that_write_nothing(
    tmp_path: Path, sites: list[str], job: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "caiso.toml").write_text((FIXTURES / "sites" / "caiso-dc.toml").read_text())
    dk2 = (PORTFOLIO.parent / "dk2-dc.toml").read_text()
    (tmp_path / "low-cap.toml").write_text(
        dk2.replace("it_capacity_mw = 70.0", "it_capacity_mw = 10.0")
    )
    zones = _write(
        tmp_path,
        "zones.toml",
        '[[zones]]\nkey = "CN-SH"\nbase = "DK2"\ntime_zone = "Asia/Shanghai"\ncurrency = "EUR"\n',
    )
    (tmp_path / "shanghai.toml").write_text(
        dk2.replace('"DK2"', '"CN-SH"').replace("dk2-dc", "sh-dc")
    )
    path = _portfolio(tmp_path, sites, JOB.format(sites=job))
    out = tmp_path / "out"
    argv = [
        "portfolio",
        "bid",
        "--portfolio",
        str(path),
        "--day",
        "2023-10-20",
        "--prices",
        f"DK1={PRICES['DK1']}",
        "--prices",
        f"DK2={PRICES['DK2']}",
        "--out",
        str(out),
        "--zones",
        str(zones),
    ]
    before = register_zones(())
    try:
        with pytest.raises(SystemExit) as exc:
            main(argv)
    finally:
        restore_zones({"CN-SH": None, **before})
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert message in err, err
    assert not out.exists()


def test_zones_file_adds_a_zone(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "zones.toml",
        '[[zones]]\nkey = "CN-XX"\nname = "A province"\ntime_zone = "Asia/Shanghai"\n'
        'currency = "CNY"\nresolution_minutes = 15\ngate_closure = "09:30"\n'
        'da_publication = "17:30"\nprice_floor = "0"\nprice_cap = "1500"\n',
    )
    (zone,) = read_zones_file(path)
    assert (zone.key, zone.currency, zone.tz, zone.price_cap) == (
        "CN-XX",
        "CNY",
        "Asia/Shanghai",
        Decimal(1500),
    )
    before = register_zones([zone])
    try:
        assert get_zone("CN-XX").name == "A province"
    finally:
        restore_zones(before)
    bad = _write(
        tmp_path, "bad.toml", '[[zones]]\nkey = "CN-YY"\ntime_zone = "Mars/Base"\nbase = "DK1"\n'
    )
    with pytest.raises(InputFileError, match=r"zone 'CN-YY'\.time_zone: unknown IANA time zone"):
        read_zones_file(bad)


@pytest.mark.parametrize("how", ["option", "env"])
def test_zones_file_serves_every_command(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``powerdesk --zones FILE`` / ``$POWERDESK_ZONES`` reach single-site commands too (here
    ``prices import``): a zone without a built-in entry imports in its own time zone."""
    zones = FIXTURES / "portfolio" / "cn-zones.toml"
    src = _write(
        tmp_path,
        "dw.csv",
        "day,time,demand,clearing price (CNY/MWh)\n"
        + "".join(
            f"2023/6/1,{h}:{m:02d},1.0,{100 + q}\n"
            for q, (h, m) in enumerate((t // 60, t % 60) for t in range(15, 24 * 60 + 1, 15))
        ).replace("24:00", "24:00:00"),
    )
    out = tmp_path / "xx.csv"
    argv = ["prices", "import", str(src), "--format", "datawhale", "--zone", "CN-XX"]
    argv += ["--out", str(out)]
    if how == "option":
        argv = ["--zones", str(zones), *argv]
    else:
        monkeypatch.setenv("POWERDESK_ZONES", str(zones))
    before = register_zones(())
    try:
        with pytest.raises(SystemExit) as exc:
            main(argv)
    finally:
        restore_zones({"CN-XX": None, **before})
    assert exc.value.code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 96
    # Asia/Shanghai (the zones file's time zone): local midnight of 2023-06-01 is 16:00 UTC.
    assert frame["interval_start"].iloc[0] == "2023-05-31T16:00:00+00:00"
    assert frame["price"].iloc[-1] == 195.0


def test_backtest_cli_outputs_are_byte_identical(tmp_path: Path) -> None:
    outs = []
    for k, executor in enumerate(("inline", "local:2")):
        out = tmp_path / f"run{k}"
        argv = [
            "portfolio",
            "backtest",
            "--portfolio",
            str(PORTFOLIO),
            "--prices",
            f"DK1={PRICES['DK1']}",
            "--prices",
            f"DK2={PRICES['DK2']}",
            "--start",
            "2023-10-20",
            "--end",
            "2023-10-22",
            "--strategy",
            "forecast",
            "--scenarios",
            "3",
            "--executor",
            executor,
            "--out",
            str(out),
            "--no-progress",
        ]
        assert _run(argv) == 0
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == ["allocation.csv", "allocation.png", "days.csv", "sites.csv", "summary.json"]
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    header = (outs[0] / "days.csv").read_text().splitlines()[0]
    assert header == (
        "day,energy_cost,reserve_revenue,imbalance_cost,degradation_cost,placement_cost,"
        "total_cost,grid_energy_mwh"
    )
    for line in (outs[0] / "days.csv").read_text().splitlines()[1:]:
        _, e, r, i, d, p, total, _ = line.split(",")
        assert Decimal(total) == Decimal(e) + Decimal(i) + Decimal(d) + Decimal(p) - Decimal(r)


def test_backtest_reports_capture_against_its_benchmarks(tmp_path: Path) -> None:
    """The summary's benchmark figures are the benchmarks' own backtests over the same days, and
    capture is the site backtest's rule: (price taker - strategy) / (price taker - perfect)."""
    import json

    from engine.backtest.runner import capture

    def summary(strategy: str, *extra: str) -> dict[str, Any]:
        out = tmp_path / f"{strategy}{len(extra)}"
        argv = ["portfolio", "backtest", "--portfolio", str(PORTFOLIO)]
        argv += ["--prices", f"DK1={PRICES['DK1']}", "--prices", f"DK2={PRICES['DK2']}"]
        argv += ["--start", "2023-10-20", "--end", "2023-10-23", "--strategy", strategy]
        argv += ["--scenarios", "3", "--executor", "inline", "--out", str(out), "--no-progress"]
        assert _run([*argv, *extra]) == 0
        loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
        return loaded

    run = summary("forecast")
    alone = summary("forecast", "--no-regret")
    perfect = summary("perfect-foresight", "--no-regret")
    taker = summary("price-taker", "--no-regret")
    assert run["total_cost"] == alone["total_cost"]
    assert run["perfect_foresight_total_cost"] == perfect["total_cost"]
    assert run["price_taker_total_cost"] == taker["total_cost"]
    total, pf, pt = (Decimal(x["total_cost"]) for x in (run, perfect, taker))
    assert Decimal(run["regret_vs_perfect_foresight"]) == total - pf
    assert Decimal(run["value_of_flexibility"]) == pt - pf
    share = capture(total, pt, pf)
    assert share is not None
    assert run["capture"] == str(share)
    assert 0 < share < 1
    assert all(alone[k] is None for k in ("capture", "perfect_foresight_total_cost"))
    # Perfect foresight with its benchmarks captures everything.
    assert summary("perfect-foresight")["capture"] == "1.0000"


def test_bid_cli_writes_each_site_and_the_allocation(tmp_path: Path) -> None:
    out = tmp_path / "bid"
    code = _run(
        [
            "portfolio",
            "bid",
            "--portfolio",
            str(PORTFOLIO),
            "--day",
            "2023-10-29",
            "--prices",
            f"DK1={PRICES['DK1']}",
            "--prices",
            f"DK2={PRICES['DK2']}",
            "--scenarios",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert (out / "dk1-dc" / "bids.json").is_file()
    assert (out / "dk2-dc" / "bids.json").is_file()
    rows = (out / "allocation.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 * 25  # one row per site and interval of the 25-hour day
    energy = sum(float(r.split(",")[3]) for r in rows)  # hourly: MW = MWh
    assert energy == pytest.approx(600.0, abs=1e-4)


def test_portfolio_price_models_follow_the_zone_rule_and_model_option(tmp_path: Path) -> None:
    """Each zone's price model is the one the single-site commands pick for its data
    (``price_model``), ``--model`` sets every zone's, and a feature file for a zone without
    a site is a one-line error that writes nothing."""
    import json

    from engine.strategies.registry import zone_models

    data = _data()
    assert zone_models([get_zone("DK2"), get_zone("DK1")], data) == (
        ("DK1", "similar-days"),
        ("DK2", "similar-days"),
    )
    gansu = MarketData(data["DK1"].da, features={"wind_mw": data["DK1"].da})
    assert zone_models([get_zone("CN-GS")], {"CN-GS": gansu}) == (("CN-GS", "gbm"),)
    assert zone_models([get_zone("CN-GS")], {"CN-GS": gansu}, "naive") == (("CN-GS", "naive"),)

    out = tmp_path / "out"
    argv = ["portfolio", "bid", "--portfolio", str(PORTFOLIO), "--day", "2023-10-20"]
    for z, p in PRICES.items():
        argv += ["--prices", f"{z}={p}"]
    assert _run([*argv, "--out", str(out), "--model", "naive"]) == 0
    methods = {
        json.loads((d / "bids.json").read_text())["provenance"]["scenario_method"]
        for d in out.iterdir()
        if d.is_dir()
    }
    assert methods
    assert all("naive" in m for m in methods), methods
    bad = tmp_path / "bad"
    assert _run([*argv, "--out", str(bad), "--features", f"DE-LU={PRICES['DK1']}"]) != 0
    assert not bad.exists()
