"""One path from data to decision to money.

The same site and days go through the API's bid build, the scheduler's bid job and the backtest:
the plans are the same bids, and live settlement of the submitted bid gives the backtest's figures
for each day (DA energy, imbalance on a finer grid than the DA intervals, reserve awards). The
scheduler's bid is submitted exactly once, and a forced re-run replaces it rather than adding a
second submitted bid.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from engine.backtest.runner import backtest_days, consumed_mwh, decide_day, nearest_scenario
from engine.bids.documents import plan_documents
from engine.bids.service import BidRecord, BidRequest, build_bid, get_bid, submit_bid
from engine.bids.submission import OutboxAdapter
from engine.core.db import make_engine, migrate
from engine.io.site_file import load_site
from engine.marketdata.store import load_price_file
from engine.marketdata.view import from_files
from engine.models.bids import BidRow
from engine.scheduling.daily import bid_day, register_site_file, submission_time
from engine.settlement.service import import_meter, settle_site_day
from engine.strategies.registry import StrategyConfig
from market import delivery_intervals, get_zone

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "caiso-dc.toml"
DA = FIXTURES / "prices" / "caiso_2020_03_da.csv"
RESERVES = FIXTURES / "prices" / "caiso_2020_03_reserves.csv"
# 2020-03-08 is the spring DST change in California (23 hours).
DAYS = (date(2020, 3, 7), date(2020, 3, 8), date(2020, 3, 9))
SCENARIOS = 3


def _imbalance_file(path: Path) -> Path:
    """Quarter-hour imbalance prices around each hourly DA price: their mean is DA + 5, so an
    interval mapping that takes the first quarter (DA - 30) instead of the mean shows."""
    da = pd.read_csv(DA, dtype={"price": str})
    rows = ["interval_start,interval_end,price"]
    offsets = (Decimal(-30), Decimal(-10), Decimal(10), Decimal(50))
    for start, price in zip(da["interval_start"], da["price"], strict=True):
        t0 = pd.Timestamp(start)
        for k, off in enumerate(offsets):
            lo = t0 + pd.Timedelta(minutes=15 * k)
            hi = lo + pd.Timedelta(minutes=15)
            rows.append(f"{lo.isoformat()},{hi.isoformat()},{Decimal(str(price)) + off}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path, Path]:
    home = tmp_path_factory.mktemp("home")
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    migrate(engine)
    imbalance = _imbalance_file(home / "imbalance.csv")
    with Session(engine) as session:
        load_price_file(session, DA, "CAISO")
        load_price_file(session, RESERVES, "CAISO")
        load_price_file(session, imbalance, "CAISO", "IMBALANCE")
        session.commit()
    register_site_file(engine, SITE)
    return engine, home, imbalance


def _bids(record: BidRecord) -> dict[str, object]:
    return {
        "curves": record.curves,
        "reserve_bids": record.reserve_bids,
        "block_bids": record.block_bids,
    }


def _bids_of(docs: dict[str, Any]) -> dict[str, object]:
    return {k: docs[k] for k in ("curves", "reserve_bids", "block_bids")}


def test_api_scheduler_and_backtest_submit_and_settle_the_same_bid(
    setup: tuple[Engine, Path, Path],
) -> None:
    engine, home, imbalance = setup
    site = load_site(SITE)
    zone = get_zone(site.zone)
    config = StrategyConfig(n_scenarios=SCENARIOS)
    data, _ = from_files(zone, DA, imbalance, RESERVES)
    actuals = data.actuals()
    runs = backtest_days(["forecast"], site, zone, DAYS, data, config)
    outbox = OutboxAdapter(engine, home)
    for day, outcome in zip(DAYS, runs["forecast"].outcomes, strict=True):
        at = submission_time(day, zone.key)
        api = build_bid(
            engine, BidRequest(site.name, day, "forecast", as_of=at, n_scenarios=SCENARIOS)
        )
        scheduled = bid_day(
            engine=engine,
            site=SITE,
            day=day,
            as_of=at,
            submitter=outbox,
            n_scenarios=SCENARIOS,
        )
        plan = decide_day("forecast", site, zone, day, data, config)
        backtested = plan_documents(plan)
        for record in (api, scheduled.bid):
            assert _bids(record) == _bids_of(backtested)
        assert scheduled.bid.reserve_bids, "the CAISO site offers regulation"
        assert scheduled.bid.submission_status == "submitted"
        # The site consumes what the backtest let it consume: the meter of the day.
        got = actuals.da.reindex(plan.intervals).to_numpy()
        energy = consumed_mwh(plan, nearest_scenario(plan, got))
        meter = home / f"meter-{day}.csv"
        meter.write_text(
            "interval_start,energy_mwh\n"
            + "".join(
                f"{t.isoformat()},{e}\n"
                for t, e in zip(delivery_intervals(day, zone), energy, strict=True)
            )
        )
        import_meter(engine, meter, site.name, zone.key)
        settled = settle_site_day(engine, site.name, zone.key, day)
        assert settled.provenance["bid_id"] == scheduled.bid.id
        totals = {k: Decimal(v) for k, v in settled.totals.items()}
        assert totals["energy_cost"] == outcome.energy_cost
        assert totals["imbalance_cost"] == outcome.imbalance_cost
        assert totals["reserve_revenue"] == outcome.reserve_revenue
        assert outcome.reserve_revenue > 0
    # A late meter correction deviates from the position: each hourly deviation is priced at
    # the mean of its four quarter-hour imbalance prices (DA + 5), not at the first one.
    day = DAYS[-1]
    meter = home / f"meter-{day}-corrected.csv"
    rows = (home / f"meter-{day}.csv").read_text().splitlines()[1:]
    meter.write_text(
        "interval_start,energy_mwh\n"
        + "".join(f"{r.split(',')[0]},{Decimal(r.split(',')[1]) + Decimal('0.25')}\n" for r in rows)
    )
    import_meter(engine, meter, site.name, zone.key)
    fixed = settle_site_day(engine, site.name, zone.key, day, force=True, reason="late meter")
    da = {
        ln["interval_start"]: Decimal(ln["price"])
        for ln in fixed.lines
        if ln["category"] == "da_energy"
    }
    imb = [ln for ln in fixed.lines if ln["category"] == "imbalance"]
    assert len(imb) == len(da) == 24
    for ln in imb:
        assert Decimal(ln["price"]) == da[ln["interval_start"]] + 5


def _submitted_rows(engine: Engine, site: str, day: date) -> list[tuple[int, str]]:
    t = BidRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.submission_status)
            .where(t.c.site == site, t.c.day == day)
            .order_by(t.c.id)
        ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def test_scheduler_bid_is_submitted_exactly_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    with Session(engine) as session:
        load_price_file(session, DA, "CAISO")
        session.commit()
    outbox = OutboxAdapter(engine, tmp_path)
    day = date(2020, 3, 5)
    at = submission_time(day, "CAISO")
    first = bid_day(engine=engine, site=SITE, day=day, as_of=at, submitter=outbox)
    again = bid_day(engine=engine, site=SITE, day=day, as_of=at, submitter=outbox)
    assert again.bid.id == first.bid.id
    assert _submitted_rows(engine, "caiso-dc", day) == [(first.bid.id, "submitted")]
    forced = bid_day(
        engine=engine,
        site=SITE,
        day=day,
        as_of=at + timedelta(minutes=5),
        submitter=outbox,
        force=True,
    )
    assert forced.bid.id != first.bid.id
    assert _submitted_rows(engine, "caiso-dc", day) == [
        (first.bid.id, "superseded"),
        (forced.bid.id, "submitted"),
    ]
    # Another bid of the same day cannot be submitted beside it, through any path.
    other = build_bid(engine, BidRequest("caiso-dc", day, "deterministic", as_of=at))
    with pytest.raises(Exception, match="already submitted"):
        submit_bid(engine, other.id, outbox, now=at)
    assert get_bid(engine, other.id).submission_status == "built"
    files = list((tmp_path / "outbox" / "CAISO" / day.isoformat()).iterdir())
    assert [f.name for f in files] == [f"bid-caiso-dc-{day.isoformat()}.json"]
    assert f'"bid_id":{forced.bid.id},' in files[0].read_text()
