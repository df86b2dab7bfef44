"""Portfolios everywhere else: registered in the database, built by the API's engine function,
the scheduler's daily job and ``powerdesk portfolio bid`` alike, run once under a race, settled
per site with a roll-up, and reported for carbon per site and for the portfolio."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from cli import main
from engine.bids.documents import site_placement_cost
from engine.bids.portfolio import (
    get_portfolio_bid,
    list_portfolio_bids,
)
from engine.bids.service import T_BID, list_bids, submitted_bid
from engine.bids.submission import OutboxAdapter
from engine.core.db import make_engine, migrate, session_scope
from engine.core.errors import InputFileError, NotFoundError, PowerdeskError
from engine.marketdata.store import load_price_file
from engine.models.jobs import JobRun
from engine.reporting.carbon import ADDITIVE_FIGURES
from engine.scheduling import daily
from engine.scheduling.jobs import default_registry
from engine.scheduling.runs import history
from engine.scheduling.schedule import JobKind, JobRunner, job_specs, load_config
from engine.settlement.portfolio import MONEY, portfolio_results, settle_portfolio_day
from engine.settlement.service import import_meter, latest_settlement
from engine.sites.portfolios import get_portfolio, register_portfolio_file
from engine.strategies.names import DEFAULT_SCENARIOS
from market import delivery_day_bounds, get_zone

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PORTFOLIO = FIXTURES / "portfolio" / "nordics.toml"
PRICES = {z: FIXTURES / "prices" / f"{z.lower()}_2023_10_da.csv" for z in ("DK1", "DK2")}
DAY = date(2023, 10, 20)
KEY = f"portfolio-bid:nordics:{DAY.isoformat()}"
BID_DOCS = ("curves", "block_bids", "reserve_bids")


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _prepare(engine: Engine) -> None:
    migrate(engine)
    with session_scope(engine) as session:
        for zone, path in PRICES.items():
            load_price_file(session, path, zone)


def _scheduler_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scheduler.toml"
    path.write_text(
        f'[[portfolio]]\nfile = "{PORTFOLIO}"\n\n[bid]\nlead_minutes = 60\n', encoding="utf-8"
    )
    return path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    _prepare(eng)
    yield eng
    eng.dispose()


def _stored_docs(engine: Engine, bid_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(select(T_BID).where(T_BID.c.id == bid_id)).one()
    return {
        "curves": json.loads(row.curves_json),
        "block_bids": json.loads(row.block_bids_json),
        "reserve_bids": json.loads(row.reserve_bids_json),
    }


def test_registration_keeps_the_file_and_registers_its_sites(engine: Engine) -> None:
    record, written = register_portfolio_file(engine, PORTFOLIO)
    assert written
    assert record.sites == ("dk1-dc", "dk2-dc")
    assert record.content == PORTFOLIO.read_text(encoding="utf-8")
    assert [s.name for s in get_portfolio(engine, "nordics").portfolio.sites] == list(record.sites)
    assert register_portfolio_file(engine, PORTFOLIO)[1] is False  # same files: a no-op


def test_bad_portfolio_files_write_nothing(engine: Engine, tmp_path: Path) -> None:
    for name in ("dk1-dc.toml", "dk2-dc.toml"):
        (tmp_path / name).write_text((PORTFOLIO.parent / name).read_text(), encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(PORTFOLIO.read_text().replace("dk2-dc = {", "dk9-dc = {"), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        register_portfolio_file(engine, bad)
    assert "unknown site 'dk9-dc'" in str(err.value)
    assert "\n" not in str(err.value)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T_BID)).scalar_one() == 0
    with pytest.raises(NotFoundError):
        get_portfolio(engine, "nordics")
    from engine.sites.registry import list_sites

    assert list_sites(engine)[1] == 0  # the good site files were not registered either


def _api_build(tmp_path: Path) -> dict[str, dict[str, object]]:
    """Register the sites and the portfolio and build its day over HTTP (the real app)."""
    from tests.api.conftest import TestClient, make_app, prepare_home

    desk = prepare_home(tmp_path / "api-home")
    with session_scope(desk.engine) as session:
        load_price_file(session, PRICES["DK2"], "DK2")
    trader = desk.auth("trader")
    with TestClient(make_app(desk)) as client:
        for name in ("dk1-dc", "dk2-dc"):
            content = (PORTFOLIO.parent / f"{name}.toml").read_text(encoding="utf-8")
            r = client.post("/sites", json={"content": content}, headers=trader)
            assert r.status_code == 201, r.text
        r = client.post(
            "/portfolios",
            json={"content": PORTFOLIO.read_text(encoding="utf-8"), "sites": ["dk1-dc", "dk2-dc"]},
            headers=trader,
        )
        assert r.status_code == 201, r.text
        r = client.post("/portfolios/nordics/bids", json={"day": DAY.isoformat()}, headers=trader)
        assert r.status_code == 201, r.text
        docs = {}
        for b in r.json()["bids"]:
            bid = client.get(f"/bids/{b['bid_id']}", headers=trader).json()
            docs[b["site"]] = {k: bid[k] for k in BID_DOCS}
    desk.engine.dispose()
    return docs


def test_api_build_scheduler_job_and_cli_give_the_same_site_bids(
    engine: Engine, tmp_path: Path
) -> None:
    # 1. POST /portfolios/{name}/bids
    api_docs = _api_build(tmp_path)
    # 2. the scheduler's daily portfolio job
    home = tmp_path / "home"
    cfg = load_config(_scheduler_config(tmp_path / "cfg"))
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    due = runner.resolve(KEY)
    assert due.due_at == datetime(2023, 10, 19, 9, 0, tzinfo=UTC)  # gate closure 12:00 - 1 h
    outcome = runner.run(due)
    assert outcome.status == "succeeded", outcome.error
    job_build = list_portfolio_bids(engine, "nordics", day=DAY)[0][0]
    assert job_build.status == "submitted"
    sched_docs = {site: _stored_docs(engine, bid_id) for site, bid_id in job_build.bids}
    files = sorted(p.relative_to(home).as_posix() for p in (home / "outbox").rglob("*.json"))
    assert files == [
        "outbox/DK1/2023-10-20/bid-dk1-dc-2023-10-20.json",
        "outbox/DK2/2023-10-20/bid-dk2-dc-2023-10-20.json",
    ]
    # 3. powerdesk portfolio bid on the same prices (from files)
    out = tmp_path / "cli"
    code = _run(
        [
            "portfolio",
            "bid",
            "--portfolio",
            str(PORTFOLIO),
            "--day",
            DAY.isoformat(),
            "--prices",
            f"DK1={PRICES['DK1']}",
            "--prices",
            f"DK2={PRICES['DK2']}",
            "--scenarios",
            str(DEFAULT_SCENARIOS),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    cli_docs = {}
    for site in ("dk1-dc", "dk2-dc"):
        doc = json.loads((out / site / "bids.json").read_text())
        cli_docs[site] = {
            "curves": doc["da_curves"],
            "block_bids": doc["block_bids"],
            "reserve_bids": doc["reserve_bids"],
        }
    assert cli_docs == sched_docs
    assert _same_instants(sched_docs, api_docs)  # the API writes instants with Z
    assert all(docs["curves"] for docs in cli_docs.values())
    # and the allocation the CLI wrote is the stored one
    rows = (out / "allocation.csv").read_text().splitlines()[1:]
    stored = [
        (a["job"], a["site"], i["it_mw"]) for a in job_build.allocation for i in a["intervals"]
    ]
    assert stored == [(j, s, float(mw)) for j, s, _, mw in (r.split(",") for r in rows)]


def _same_instants(a: dict[str, object], b: dict[str, object]) -> bool:
    """The same documents, instants compared as instants (the API writes ``Z``)."""
    import pandas as pd

    def norm(x: object) -> object:
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return [norm(v) for v in x]
        if isinstance(x, str) and len(x) >= 20 and x[4] == "-" and "T" in x:
            return pd.Timestamp(x).isoformat()
        return x

    return norm(a) == norm(b)


def _race(engine: Engine, tmp_path: Path) -> None:
    cfg = load_config(_scheduler_config(tmp_path / "cfg"))
    home = tmp_path / "home"
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
        due = runner.resolve(KEY)
        barrier.wait()
        o = runner.run(due)
        with lock:
            outcomes.append(o.status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert Counter(outcomes) == Counter({"succeeded": 1, "skipped": 3})
    builds, total = list_portfolio_bids(engine, "nordics", day=DAY)
    assert total == 1
    first = builds[0]
    assert first.status == "submitted"
    for site in ("dk1-dc", "dk2-dc"):
        assert list_bids(engine, site=site, day=DAY)[1] == 1
    with engine.connect() as conn:
        runs = conn.execute(select(col(JobRun.key), col(JobRun.attempt), col(JobRun.status))).all()
    assert [tuple(r) for r in runs] == [(KEY, 1, "succeeded")]

    # A forced re-run is a new attempt: a new build whose site bids supersede the first.
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    forced = runner.run(runner.resolve(KEY), force=True)
    assert (forced.status, forced.attempt) == ("succeeded", 2), forced.error
    assert [(r.attempt, r.status, r.forced) for r in history(engine, KEY)] == [
        (1, "succeeded", False),
        (2, "succeeded", True),
    ]
    builds, total = list_portfolio_bids(engine, "nordics", day=DAY)
    assert total == 2
    assert [b.status for b in builds] == ["submitted", "superseded"]
    assert get_portfolio_bid(engine, first.id).status == "superseded"
    for (site, new_id), (_, old_id) in zip(builds[0].bids, first.bids, strict=True):
        now_submitted = submitted_bid(engine, site, DAY)
        assert now_submitted is not None
        assert now_submitted.id == new_id != old_id
        zone = now_submitted.zone
        exchange = json.loads(
            (home / "outbox" / zone / DAY.isoformat() / f"bid-{site}-{DAY}.json").read_text()
        )
        assert exchange["bid_id"] == new_id  # the outbox file was replaced
    # and the run after that is not due again
    assert runner.run(runner.resolve(KEY)).status == "skipped"


def test_portfolio_job_runs_once_under_a_race_and_a_forced_rerun_supersedes(
    engine: Engine, tmp_path: Path
) -> None:
    _race(engine, tmp_path)


@pytest.mark.postgres
def test_portfolio_job_runs_once_under_a_race_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    eng = make_engine(postgres_url)
    try:
        _prepare(eng)
        _race(eng, tmp_path)
    finally:
        eng.dispose()


def test_a_portfolio_site_gets_no_bid_job_of_its_own_and_is_not_bid_twice(
    engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "cfg"
    path = _scheduler_config(folder)
    text = path.read_text()
    path.write_text(
        f'[[site]]\nfile = "{PORTFOLIO.parent / "dk1-dc.toml"}"\n\n' + text, encoding="utf-8"
    )
    cfg = load_config(path)
    specs = {(s.kind, s.site.name) for s in job_specs(cfg)}
    assert (JobKind.PORTFOLIO_BID, "nordics") in specs
    assert not any(k is JobKind.BID for k, _ in specs)  # both sites are bid by the portfolio
    for site in ("dk1-dc", "dk2-dc"):  # ... and settled and reported as sites
        assert (JobKind.SETTLE, site) in specs
        assert (JobKind.REPORT, site) in specs
    # Should a site's own bid job run anyway, it returns the portfolio's submitted bid.
    home = tmp_path / "home"
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    assert runner.run(runner.resolve(KEY)).status == "succeeded"
    before = list_bids(engine, site="dk1-dc")[1]
    built = daily.bid_day(
        engine=engine,
        site=PORTFOLIO.parent / "dk1-dc.toml",
        day=DAY,
        submitter=OutboxAdapter(engine, home),
        as_of=datetime(2023, 10, 19, 9, 0, tzinfo=UTC),
    )
    assert list_bids(engine, site="dk1-dc")[1] == before
    submitted = submitted_bid(engine, "dk1-dc", DAY)
    assert submitted is not None
    assert built.bid.id == submitted.id


def test_a_site_in_two_portfolios_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    second = folder / "again.toml"
    second.write_text(
        PORTFOLIO.read_text()
        .replace('name = "nordics"', 'name = "again"')
        .replace(
            '["dk1-dc.toml", "dk2-dc.toml"]',
            f'["{PORTFOLIO.parent}/dk1-dc.toml", "{PORTFOLIO.parent}/dk2-dc.toml"]',
        ),
        encoding="utf-8",
    )
    path = folder / "scheduler.toml"
    path.write_text(
        f'[[portfolio]]\nfile = "{PORTFOLIO}"\n[[portfolio]]\nfile = "again.toml"\n',
        encoding="utf-8",
    )
    with pytest.raises(InputFileError, match="is in portfolios 'nordics' and 'again'"):
        load_config(path)


def _meter(folder: Path, site: str, zone: str, mwh: Decimal) -> Path:
    lo, hi = delivery_day_bounds(DAY, zone)
    lines = ["interval_start,energy_mwh"]
    t = lo
    while t < hi:
        lines.append(f"{t.isoformat()},{mwh}")
        t += timedelta(hours=1)
    path = folder / f"{site}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _submitted_build(engine: Engine, tmp_path: Path) -> int:
    register_portfolio_file(engine, PORTFOLIO)
    home = tmp_path / "home"
    cfg = load_config(_scheduler_config(tmp_path / "cfg"))
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    outcome = runner.run(runner.resolve(KEY))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result is not None
    return int(outcome.result["portfolio_bid_id"])


def test_settlement_roll_up_is_the_sum_of_the_sites(
    engine: Engine,
    tmp_path: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_id = _submitted_build(engine, tmp_path)
    meters = (("dk1-dc", "DK1", "70.5"), ("dk2-dc", "DK2", "61.25"))
    site, zone, mwh = meters[0]
    import_meter(engine, _meter(tmp_path, site, zone, Decimal(mwh)), site, zone)
    # dk2's meter is missing: a one-line error, and dk1 is not settled either
    with pytest.raises(PowerdeskError, match="meter data of dk2-dc does not cover"):
        settle_portfolio_day(engine, "nordics", DAY)
    assert latest_settlement(engine, "dk1-dc", DAY) is None
    site, zone, mwh = meters[1]
    import_meter(engine, _meter(tmp_path, site, zone, Decimal(mwh)), site, zone)
    result = settle_portfolio_day(engine, "nordics", DAY)
    build = get_portfolio_bid(engine, build_id)
    totals = result.totals
    for name in MONEY:
        assert totals[name] == sum((s.figures[name] for s in result.sites), Decimal(0))
    assert totals["total_cost"] == (
        totals["energy_cost"]
        + totals["imbalance_cost"]
        + totals["degradation_cost"]
        + totals["placement_cost"]
        + totals["ppa_cost"]
        - totals["reserve_revenue"]
    )
    for s in result.sites:
        stored = latest_settlement(engine, s.site, DAY)
        assert stored is not None
        assert s.run == stored.run == 1
        # the site's own settlement is untouched; the placement cost is added to it
        assert (
            s.figures["total_cost"]
            == Decimal(stored.totals["total_cost"]) + s.figures["placement_cost"]
        )
        assert s.portfolio_bid_id == build_id
    # placement: cost_per_mwh x placed IT energy, independently recomputed
    dk2 = next(a for a in build.allocation if a["site"] == "dk2-dc")
    placed = sum((Decimal(repr(i["it_mw"])) for i in dk2["intervals"]), Decimal(0))
    expected = (Decimal(dk2["cost_per_mwh"]) * placed).quantize(Decimal("0.01"))
    assert result.sites[1].figures["placement_cost"] == expected > 0
    assert result.sites[0].figures["placement_cost"] == Decimal("0.00")  # cost 0 at dk1
    assert site_placement_cost(build.allocation, "dk2-dc", get_zone("DK2").minor_unit) == expected
    # a re-run settles nothing new; the read gives the same roll-up
    again = settle_portfolio_day(engine, "nordics", DAY)
    assert again.to_json_dict() == result.to_json_dict()
    assert portfolio_results(engine, "nordics", DAY).to_json_dict() == result.to_json_dict()
    # powerdesk portfolio settle, on the same database, prints the same roll-up
    monkeypatch.setenv("POWERDESK_DATABASE_URL", str(engine.url))
    capsys.readouterr()
    code = _run(["portfolio", "settle", "--portfolio", str(PORTFOLIO), "--day", str(DAY)])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == result.to_json_dict()


def test_carbon_report_of_the_portfolio_sums_the_sites(engine: Engine, tmp_path: Path) -> None:
    _submitted_build(engine, tmp_path)
    for site, zone, mwh in (("dk1-dc", "DK1", "70.5"), ("dk2-dc", "DK2", "61.25")):
        import_meter(engine, _meter(tmp_path, site, zone, Decimal(mwh)), site, zone)
    lo, hi = delivery_day_bounds(DAY, "DK1")
    ef = tmp_path / "ef.csv"
    lines = ["interval_start,ef_tco2e_per_mwh,carbon_free_share"]
    t, i = lo, 0
    while t < hi:
        lines.append(f"{t.isoformat()},{Decimal('0.1') + Decimal(i) / 1000},0.{i % 10}")
        t += timedelta(hours=1)
        i += 1
    ef.write_text("\n".join(lines) + "\n", encoding="utf-8")
    figures = daily.portfolio_carbon_figures(engine, "nordics", DAY, DAY, ef)
    sites = figures["sites"]
    assert list(sites) == ["dk1-dc", "dk2-dc"]
    for name in ADDITIVE_FIGURES:
        assert Decimal(figures["totals"][name]) == sum(
            (Decimal(r[name]) for r in sites.values()), Decimal(0)
        )
    # each site's report is the site report of GET /reports/carbon
    for site, zone in (("dk1-dc", "DK1"), ("dk2-dc", "DK2")):
        assert sites[site] == daily.carbon_figures(engine, site, zone, DAY, DAY, ef)
    assert Decimal(figures["totals"]["consumption_mwh"]) == 24 * (
        Decimal("70.5") + Decimal("61.25")
    )


class _FlakyOutbox(OutboxAdapter):
    """The outbox, failing once on its second file (a transport cut short mid-submission)."""

    calls = 0

    def submit(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
        type(self).calls += 1
        if type(self).calls == 2:
            raise OSError("connection reset while handing over the second site's file")
        return super().submit(*args, **kwargs)  # type: ignore[arg-type]


def test_a_cut_short_submission_is_completed_by_the_retry_not_rebuilt(
    engine: Engine, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    cfg = load_config(_scheduler_config(tmp_path / "cfg"))
    runner = JobRunner(engine, cfg, default_registry(), _FlakyOutbox(engine, home), home)
    first = runner.run(runner.resolve(KEY))
    assert first.status == "failed"
    assert first.error is not None
    assert "connection reset" in first.error
    builds, total = list_portfolio_bids(engine, "nordics", day=DAY)
    assert (total, builds[0].status) == (1, "partly submitted")
    second = runner.run(runner.resolve(KEY))
    assert (second.status, second.attempt) == ("succeeded", 2), second.error
    builds, total = list_portfolio_bids(engine, "nordics", day=DAY)
    assert (total, builds[0].status) == (1, "submitted")  # the same build, completed
    assert [submitted_bid(engine, s, DAY) is not None for s in ("dk1-dc", "dk2-dc")] == [True] * 2
