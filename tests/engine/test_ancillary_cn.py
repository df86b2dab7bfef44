"""Chinese provincial ancillary services through the one path: mileage prices from a file, the
performance factor K, activation files, and the expected activation estimated from past calls."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from cli import main
from engine.core.db import open_database
from engine.core.errors import InputFileError, PowerdeskError
from engine.core.settings import Settings
from engine.io.activations import read_activation_csv
from engine.io.site_file import load_site
from engine.marketdata.store import load_price_file
from engine.marketdata.view import from_database, from_files
from engine.models.market import Dataset
from engine.strategies.registry import StrategyConfig, decide, reserve_prices_for
from engine.strategies.registry import get_strategy as strategy_named
from market import delivery_intervals, gate_closure_utc, get_zone
from market.clearing import DACurve, ReserveOffer, SubmittedDay, settle_submitted_day
from market.settlement import Category

ZONE = get_zone("CN-GS")
DAY = date(2024, 5, 14)
FIRST = date(2024, 4, 1)
SITE = """
name = "gansu-dc"
zone = "CN-GS"

[load]
base_it_mw = 30.0
pue = 1.2
grid_import_max_mw = 80.0

[battery]
energy_mwh = 20.0
power_mw = 8.0
soc_initial_mwh = 10.0
soc_max_mwh = 20.0

[demand_response]
curtailable_share = 0.2
cost_per_mwh = 0.0

[reserves]
products = [{products}]
performance_factor = 0.85
"""


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _da(tmp: Path) -> Path:
    rows = []
    for d in _days(FIRST, DAY):
        for k, t in enumerate(delivery_intervals(d, ZONE)):
            rows.append(f"{t.isoformat()},{300 + 100 * np.sin(k / 96 * 2 * np.pi):.2f}")
    return _write(tmp / "da.csv", "interval_start,price", rows)


def _hours(d: date) -> pd.DatetimeIndex:
    ix = delivery_intervals(d, ZONE)
    return ix[ix.minute == 0]


def _reserves(tmp: Path, products: dict[str, float]) -> Path:
    rows = [
        f"{t.isoformat()},{key},{price}"
        for d in _days(FIRST, DAY)
        for t in _hours(d)
        for key, price in products.items()
    ]
    return _write(tmp / "reserves.csv", "interval_start,product,price", rows)


def _site(tmp: Path, products: str) -> Path:
    path = tmp / "site.toml"
    path.write_text(SITE.replace("{products}", products))
    return path


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_gansu_bid_with_regulation_and_mileage_prices_from_a_file(tmp_path: Path) -> None:
    da = _da(tmp_path)
    reserves = _reserves(tmp_path, {"FREQ_REG": 2.0, "FREQ_REG_MILEAGE": 1.0})
    site = _site(tmp_path, '"FREQ_REG"')
    out = tmp_path / "bids"
    argv = ["bid", "--site", str(site), "--day", DAY.isoformat(), "--prices", str(da)]
    argv += ["--reserve-prices", str(reserves), "--scenarios", "2", "--out", str(out)]
    assert run(argv) == 0
    with (out / "reserve_bids.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {r["product"] for r in rows} == {"FREQ_REG"}
    assert all(float(r["capacity_mw"]) >= 5.0 for r in rows)  # the product's minimum
    # valued at capacity 2 + mileage 1 x ratio 2 x 1 h x K 0.85 = 3.7 CNY per MW and hour
    the_site = load_site(site)
    data, _ = from_files(ZONE, da, reserve_prices=reserves)
    plan = decide("deterministic", the_site, ZONE, DAY, data, StrategyConfig())
    offered = sum(b.capacity_mw for b in plan.reserve_bids)
    assert plan.objective.reserve_revenue == pytest.approx(offered * 3.7, rel=1e-9)


def _calls(tmp: Path, rows: list[str], name: str = "calls.csv") -> Path:
    return _write(tmp / name, "interval_start,product,called_mw,mileage_mw", rows)


def _peak(d: date, hour: int = 19) -> datetime:
    """Local ``hour`` of ``d`` in UTC (Asia/Shanghai is UTC+8 all year)."""
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC) - timedelta(hours=8)


def _called_history(tmp: Path, extra: Sequence[str] = ()) -> Path:
    # The 19:00 hour called on every 4th day of DAY - 28 ... DAY - 1; the file covers
    # 2024-04-01 (a regulation row) to DAY - 1: an uncalled day of the span is a day without calls.
    rows = []
    for k, d in enumerate(_days(DAY - timedelta(days=28), DAY - timedelta(days=1))):
        if k % 4 == 0:
            rows.append(f"{_peak(d).isoformat()},PEAK_SHAVING,2,")
    rows.append(f"{_peak(FIRST, 3).isoformat()},FREQ_REG,0,4.5")
    return _calls(tmp, [*rows, *extra])


def test_peak_shaving_value_follows_the_estimated_activation(tmp_path: Path) -> None:
    da = _da(tmp_path)
    reserves = _reserves(tmp_path, {"PEAK_SHAVING": 400.0})
    the_site = load_site(_site(tmp_path, '"PEAK_SHAVING"'))
    calls = _called_history(tmp_path)
    data, inputs = from_files(ZONE, da, reserve_prices=reserves, activations=calls)
    assert inputs["activations"]["sha256"]
    t = gate_closure_utc(DAY, ZONE)
    config = StrategyConfig()
    view = data.as_of(t)
    prices = reserve_prices_for(strategy_named("deterministic"), view, DAY, ZONE, t, config)
    share = prices["PEAK_SHAVING_ACTIVATION"]
    # every 4th of the 28 days before DAY: 7 / 28 = 25 % at 19:00; DAY - 1 is not over at gate
    # closure, so the 28 days are DAY - 2 ... DAY - 29 and 7 of them hold a call
    assert share[pd.Timestamp(_peak(DAY))] == pytest.approx(7 / 28)
    assert share.drop(pd.Timestamp(_peak(DAY))).max() == 0.0

    plan = decide("deterministic", the_site, ZONE, DAY, data, config)
    bids = {pd.Timestamp(b.start): b for b in plan.reserve_bids}
    assert pd.Timestamp(_peak(DAY)) in bids
    expected = sum(b.capacity_mw * 400.0 * share.get(start, 0.0) * 1.0 for start, b in bids.items())
    assert plan.objective.reserve_revenue == pytest.approx(expected, rel=1e-9)
    # without the call history every offered hour counts as called (the product's fallback)
    blind = decide(
        "deterministic",
        the_site,
        ZONE,
        DAY,
        from_files(ZONE, da, reserve_prices=reserves)[0],
        config,
    )
    assert blind.objective.reserve_revenue > 3 * plan.objective.reserve_revenue


def test_calls_after_the_decision_time_do_not_change_the_bid(tmp_path: Path) -> None:
    da = _da(tmp_path)
    reserves = _reserves(tmp_path, {"PEAK_SHAVING": 400.0})
    the_site = load_site(_site(tmp_path, '"PEAK_SHAVING"'))
    before = from_files(ZONE, da, reserve_prices=reserves, activations=_called_history(tmp_path))
    later = [
        f"{_peak(DAY - timedelta(days=1), h).isoformat()},PEAK_SHAVING,3," for h in (8, 11, 19)
    ] + [f"{_peak(DAY, h).isoformat()},PEAK_SHAVING,3," for h in range(24)]
    after = from_files(
        ZONE, da, reserve_prices=reserves, activations=_called_history(tmp_path, later)
    )
    config = StrategyConfig()
    a = decide("deterministic", the_site, ZONE, DAY, before[0], config)
    b = decide("deterministic", the_site, ZONE, DAY, after[0], config)
    assert a.reserve_bids == b.reserve_bids
    assert a.objective == b.objective


def test_activation_file_settles_mileage_times_k(tmp_path: Path) -> None:
    # The file -> market data -> actuals -> the one clearing rule, figures by hand.
    da = _da(tmp_path)
    reserves = _reserves(tmp_path, {"FREQ_REG": 12.5, "FREQ_REG_MILEAGE": 8.3})
    reg = _peak(DAY, 20)
    q = timedelta(minutes=15)
    calls = _calls(
        tmp_path,
        [
            f"{reg.isoformat()},FREQ_REG,6,7.2",
            f"{(reg + q).isoformat()},FREQ_REG,6,5.0",
            f"{(reg + 2 * q).isoformat()},FREQ_REG,0,3.1",
        ],
    )
    data, _ = from_files(ZONE, da, reserve_prices=reserves, activations=calls)
    actuals = data.actuals()
    assert set(actuals.reserves) == {"FREQ_REG", "FREQ_REG_MILEAGE"}
    assert actuals.activations is not None
    intervals = delivery_intervals(DAY, ZONE)
    bids = SubmittedDay(
        tuple(DACurve(t.to_pydatetime(), (Decimal(650),), (10.0,)) for t in intervals),
        (ReserveOffer("FREQ_REG", reg, Decimal(6), Decimal(12)),),
    )
    s = settle_submitted_day(
        ZONE,
        DAY,
        bids,
        da_prices=actuals.da,
        metered_mwh=[Decimal("2.5")] * len(intervals),
        reserve_clearing=actuals.reserves,
        activations=actuals.activations,
        performance_factor=Decimal("0.85"),
    )
    mileage = [ln for ln in s.lines if ln.category is Category.RESERVE_MILEAGE]
    # (7.2 + 5.0 + 3.1) MW x 8.3 CNY/MW x 0.85 = 107.9415 -> 107.94 CNY; capacity 6 x 12.5 = 75
    assert [(m.quantity, m.amount) for m in mileage] == [(Decimal("15.3"), Decimal("-107.94"))]
    assert s.totals["reserve_revenue"] == Decimal("182.94")


def test_activation_files_are_stored_and_read_back(tmp_path: Path) -> None:
    engine = open_database(Settings(home=tmp_path / "home"))
    calls = _called_history(tmp_path)
    with Session(engine) as session, session.begin():
        first = load_price_file(session, calls, ZONE)
        again = load_price_file(session, calls, ZONE)
    assert first.created
    assert not again.created
    with Session(engine) as session:
        load_price_file(session, _da(tmp_path), ZONE)
        session.commit()
        stored = from_database(session, ZONE, ["PEAK_SHAVING", "FREQ_REG"])
    assert set(stored.activations) == {
        "PEAK_SHAVING_CALLED_MW",
        "FREQ_REG_CALLED_MW",
        "FREQ_REG_MILEAGE_MW",
    }
    from_file = read_activation_csv(calls, ZONE)
    pd.testing.assert_series_equal(
        stored.activations["PEAK_SHAVING_CALLED_MW"].final(),
        from_file["PEAK_SHAVING_CALLED_MW"].final(),
    )


BAD = [
    ("interval_start,product\n", "missing"),
    ("interval_start,product,called_mw\n", "no data rows"),
    ("interval_start,product,called_mw\n2024-05-13T11:00:00,PEAK_SHAVING,1\n", "naive"),
    ("interval_start,product,called_mw\n2024-05-13T11:05:00+00:00,PEAK_SHAVING,1\n", "grid"),
    ("interval_start,product,called_mw\n2024-05-13T11:00:00+00:00,FCR,1\n", "no product"),
    ("interval_start,product,called_mw\n2024-05-13T11:00:00+00:00,PEAK_SHAVING,-1\n", "below"),
    ("interval_start,product,called_mw\n2024-05-13T11:00:00+00:00,PEAK_SHAVING,x\n", "number"),
    (
        "interval_start,product,called_mw,mileage_mw\n2024-05-13T11:00:00+00:00,PEAK_SHAVING,1,2\n",
        "not paid on mileage",
    ),
    (
        "interval_start,product,called_mw\n"
        "2024-05-13T11:00:00+00:00,PEAK_SHAVING,1\n2024-05-13T11:00:00+00:00,PEAK_SHAVING,2\n",
        "duplicate",
    ),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_bad_activation_files_are_one_line_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=problem) as err:
        read_activation_csv(path, ZONE)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_bad_activation_file_loads_nothing(tmp_path: Path) -> None:
    engine = open_database(Settings(home=tmp_path / "home"))
    path = tmp_path / "bad.csv"
    path.write_text("interval_start,product,called_mw\n2024-05-13T11:00:00+00:00,FCR,1\n")
    with pytest.raises(InputFileError), Session(engine) as session, session.begin():
        load_price_file(session, path, ZONE)
    with Session(engine) as session:  # nothing was stored
        assert session.exec(select(Dataset)).first() is None


def test_performance_factor_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE.replace("{products}", '"FREQ_REG"').replace("0.85", "1.2"))
    with pytest.raises(PowerdeskError, match=r"performance_factor: must lie in \(0, 1\]"):
        load_site(path)


def test_backtest_settles_what_was_called_on_the_bid(tmp_path: Path) -> None:
    from engine.backtest.runner import settle_plan

    da = _da(tmp_path)
    reserves = _reserves(tmp_path, {"PEAK_SHAVING": 400.0})
    the_site = load_site(_site(tmp_path, '"PEAK_SHAVING"'))
    # the history (25 % at 19:00) plus a call of 2 MW in the first half of DAY's 19:00 hour
    q = timedelta(minutes=15)
    today = [f"{(_peak(DAY) + k * q).isoformat()},PEAK_SHAVING,2," for k in range(2)]
    data, _ = from_files(
        ZONE, da, reserve_prices=reserves, activations=_called_history(tmp_path, today)
    )
    plan = decide("deterministic", the_site, ZONE, DAY, data, StrategyConfig())
    offer = next(b for b in plan.reserve_bids if pd.Timestamp(b.start) == pd.Timestamp(_peak(DAY)))
    assert offer.capacity_mw >= 2.0
    outcome = settle_plan(plan, the_site, ZONE, data.actuals())
    # 2 MW x 0.5 h = 1 MWh called x 400 CNY/MWh; the other offers were not called: paid nothing
    assert outcome.reserve_revenue == Decimal("400.00")
    # the site delivered the call, so its meter matches its position plus the ordered change
    assert outcome.imbalance_cost == Decimal(0)


def test_live_settlement_of_the_submitted_bid_pays_the_calls_as_the_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.backtest.runner import consumed_mwh, nearest_scenario, settle_plan
    from engine.bids.documents import plan_documents, submitted_day
    from engine.bids.service import BidRequest, build_bid, submit_bid
    from engine.bids.submission import OutboxAdapter
    from engine.scheduling.daily import register_site_file, submission_time
    from engine.settlement.service import import_meter, settle_site_day
    from market.clearing import called_energy_mwh

    da = _da(tmp_path)
    reserves = _reserves(
        tmp_path, {"FREQ_REG": 12.5, "FREQ_REG_MILEAGE": 8.3, "PEAK_SHAVING": 400.0}
    )
    site_file = _site(tmp_path, '"FREQ_REG", "PEAK_SHAVING"')
    q = timedelta(minutes=15)
    today = [f"{(_peak(DAY) + k * q).isoformat()},PEAK_SHAVING,2," for k in range(2)]
    today += [
        f"{(_peak(DAY, h) + k * q).isoformat()},FREQ_REG,0,3.5" for h in (2, 3) for k in (0, 1)
    ]
    calls = _called_history(tmp_path, today)
    engine = open_database(Settings(home=tmp_path / "home"))
    with Session(engine) as session:
        for path in (da, reserves, calls):
            load_price_file(session, path, ZONE)
        session.commit()
    register_site_file(engine, site_file)
    site = load_site(site_file)

    # the backtest of the day, from the same files
    data, _ = from_files(ZONE, da, reserve_prices=reserves, activations=calls)
    plan = decide("deterministic", site, ZONE, DAY, data, StrategyConfig())
    outcome = settle_plan(plan, site, ZONE, data.actuals())
    assert outcome.reserve_revenue > 0

    # live: the API's bid from the database, submitted, metered as the site ran, settled
    at = submission_time(DAY, ZONE.key)
    bid = build_bid(engine, BidRequest(site.name, DAY, "deterministic", as_of=at))
    docs = plan_documents(plan)
    assert bid.reserve_bids == docs["reserve_bids"]
    submit_bid(engine, bid.id, OutboxAdapter(engine, tmp_path), now=at)
    actuals = data.actuals()
    assert actuals.activations is not None
    got = actuals.da.reindex(plan.intervals).to_numpy()
    called = called_energy_mwh(
        ZONE,
        DAY,
        submitted_day(docs["curves"], docs["reserve_bids"]),
        actuals.reserves,
        actuals.activations,
    )
    energy = [
        m + c for m, c in zip(consumed_mwh(plan, nearest_scenario(plan, got)), called, strict=True)
    ]
    meter = tmp_path / "meter.csv"
    meter.write_text(
        "interval_start,energy_mwh\n"
        + "".join(f"{t.isoformat()},{e}\n" for t, e in zip(plan.intervals, energy, strict=True))
    )
    import_meter(engine, meter, site.name, ZONE.key)
    settled = settle_site_day(engine, site.name, ZONE.key, DAY)
    assert settled.provenance["performance_factor"] == "0.85"
    totals = {k: Decimal(v) for k, v in settled.totals.items()}
    assert totals["energy_cost"] == outcome.energy_cost
    assert totals["imbalance_cost"] == outcome.imbalance_cost
    assert totals["reserve_revenue"] == outcome.reserve_revenue
    mileage = [ln for ln in settled.lines if ln["category"] == "reserve_mileage"]
    called_lines = [ln for ln in settled.lines if ln["category"] == "reserve_activation"]
    assert called_lines  # peak shaving paid per MWh called
    assert mileage  # regulation awarded at 02:00 and 03:00 local
    for ln in mileage:  # 2 quarters x 3.5 MW = 7 MW of mileage x 8.3 x K 0.85 = 49.385 -> 49.38
        assert (ln["quantity"], ln["price"], ln["amount"]) == ("7.0", "7.055", "-49.38")

    # `powerdesk settle` follows the same rule: the site file is registered and K is the
    # registered site's, so the API (registered K) and the command cannot settle apart.
    other = tmp_path / "k90" / "site.toml"
    other.parent.mkdir()
    other.write_text(
        site_file.read_text().replace("performance_factor = 0.85", "performance_factor = 0.9")
    )
    register_site_file(engine, other)  # someone registered K 0.9 since
    monkeypatch.setenv("POWERDESK_HOME", str(tmp_path / "home"))
    argv = ["settle", "--site", str(site_file), "--day", DAY.isoformat(), "--force"]
    assert run([*argv, "--reason", "K back to 0.85"]) == 0
    again = settle_site_day(engine, site.name, ZONE.key, DAY, force=True, reason="API re-run")
    assert again.provenance["performance_factor"] == "0.85"
    assert again.totals == settled.totals
