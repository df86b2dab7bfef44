"""A (site, day) settles once, whoever asks at the same time: two API server processes (four
concurrent requests) and the CLI, or service calls in two processes and the CLI, race on SQLite
and on PostgreSQL and leave one settlement run."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from engine.bids.service import BidRequest, build_bid, submit_bid
from engine.bids.submission import OutboxAdapter
from engine.core.db import make_engine, migrate
from engine.core.errors import ConflictError
from engine.marketdata.store import load_price_file
from engine.models.settlement import SettlementRun
from engine.scheduling.daily import register_site_file
from engine.settlement.service import import_meter
from market import delivery_intervals, gate_closure_utc, get_zone

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "caiso-dc.toml"
DAY = date(2020, 3, 8)
POWERDESK = Path(sys.executable).with_name("powerdesk")


def _prepare(url: str, folder: Path) -> None:
    engine = make_engine(url)
    migrate(engine)
    with Session(engine) as session:
        load_price_file(session, FIXTURES / "prices" / "caiso_2020_03_da.csv", "CAISO")
        session.commit()
    register_site_file(engine, SITE)
    zone = get_zone("CAISO")
    gate = gate_closure_utc(DAY, zone)
    bid = build_bid(engine, BidRequest("caiso-dc", DAY, "forecast", n_scenarios=2))
    submit_bid(engine, bid.id, OutboxAdapter(engine, folder), now=gate - timedelta(hours=1))
    meter = folder / "meter.csv"
    meter.write_text(
        "interval_start,energy_mwh\n"
        + "".join(f"{t.isoformat()},90.5\n" for t in delivery_intervals(DAY, zone))
    )
    import_meter(engine, meter, "caiso-dc", "CAISO")
    engine.dispose()


def _settle(url: str, barrier: Any, queue: Any) -> None:
    from engine.core.db import make_engine
    from engine.settlement.service import compute_settlement, settle_site_day
    from market import get_zone

    engine = make_engine(url)
    compute_settlement(engine, "caiso-dc", get_zone("CAISO"), DAY)  # warm: imports, caches
    barrier.wait(timeout=60)
    try:
        record = settle_site_day(engine, "caiso-dc", "CAISO", DAY)
        queue.put(("ok", record.run, record.created))
    except Exception as exc:  # reported to the test, which fails on it
        queue.put(("error", type(exc).__name__, str(exc)))


def _race(url: str, folder: Path) -> None:
    _prepare(url, folder)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_settle, args=(url, barrier, queue)) for _ in range(2)]
    env = {
        **os.environ,
        "POWERDESK_HOME": str(folder / "home"),
        "POWERDESK_DATABASE_URL": url,
    }
    for p in procs:
        p.start()
    cli = subprocess.Popen(
        [str(POWERDESK), "settle", "--site", str(SITE), "--day", DAY.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = cli.communicate(timeout=120)
    for p in procs:
        p.join(timeout=120)
    results = [queue.get(timeout=5) for _ in procs]
    assert cli.returncode == 0, err
    assert all(r[0] == "ok" for r in results), results
    runs = [r[1] for r in results] + [json.loads(out)["run"]]
    created = [r[2] for r in results] + [json.loads(out)["created"]]
    assert runs == [1, 1, 1]
    assert created.count(True) == 1
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(SettlementRun)).scalar_one()
    engine.dispose()
    assert rows == 1


def test_racing_settlements_leave_one_run_on_sqlite(tmp_path: Path) -> None:
    _race(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)


@pytest.mark.postgres
def test_racing_settlements_leave_one_run_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    _race(postgres_url, tmp_path)


def test_a_settlement_that_loses_the_race_returns_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving of a race, made deterministic: while one settlement computes, another
    completes. The late one stores nothing and returns the first run (a correction that loses
    to another correction is refused)."""
    from engine.settlement import service

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _prepare(url, tmp_path)
    engine = make_engine(url)
    real = service.compute_settlement
    inner: list[Any] = []
    inner_force: list[bool] = [False]

    def interleaved(*args: Any) -> Any:
        if not inner:
            inner.append(None)  # the inner settlement computes unhindered
            inner[0] = service.settle_site_day(
                engine, "caiso-dc", "CAISO", DAY, force=inner_force[0]
            )
        return real(*args)

    monkeypatch.setattr(service, "compute_settlement", interleaved)
    late = service.settle_site_day(engine, "caiso-dc", "CAISO", DAY)
    assert (late.run, late.created) == (1, False)
    assert (inner[0].run, inner[0].created) == (1, True)
    inner.clear()
    inner_force[0] = True
    with pytest.raises(ConflictError, match="corrected at the same time"):
        service.settle_site_day(engine, "caiso-dc", "CAISO", DAY, force=True, reason="late meter")
    assert (inner[0].run, inner[0].supersedes_run) == (2, 1)
    t_run = SettlementRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        runs = conn.execute(select(t_run.c.run).order_by(t_run.c.run)).scalars().all()
    assert list(runs) == [1, 2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api_race(url: str, folder: Path) -> None:
    """Two `powerdesk serve` processes and the CLI settle the same site and day at once."""
    import threading
    import time

    import httpx

    from engine.access.keys import create_api_key
    from engine.sites.registry import register_site

    _prepare(url, folder)
    engine = make_engine(url)
    register_site(engine, SITE.read_text(), "toml", replace=True)
    _, token = create_api_key(engine, "trader", "race")
    engine.dispose()
    env = {**os.environ, "POWERDESK_HOME": str(folder / "home"), "POWERDESK_DATABASE_URL": url}
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(
            ["timeout", "120", str(POWERDESK), "serve", "--host", "127.0.0.1", "--port", str(p)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        for p in ports:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{p}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the API servers did not start"
                time.sleep(0.2)
        body = {"site": "caiso-dc", "day": DAY.isoformat()}
        answers: list[tuple[int, int]] = []
        start = threading.Barrier(len(ports) * 2)

        def post(port: int) -> None:
            start.wait(timeout=30)
            r = httpx.post(
                f"http://127.0.0.1:{port}/settlements", json=body, headers=headers, timeout=60
            )
            answers.append((r.status_code, int(r.json()["run"])))

        threads = [threading.Thread(target=post, args=(p,)) for p in ports * 2]
        for t in threads:
            t.start()
        cli = subprocess.run(
            [str(POWERDESK), "settle", "--site", str(SITE), "--day", DAY.isoformat()],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for t in threads:
            t.join(timeout=120)
    finally:
        for s in servers:
            s.terminate()
            s.wait(timeout=30)
    assert cli.returncode == 0, cli.stderr
    assert sorted(a[1] for a in answers) == [1, 1, 1, 1]
    assert json.loads(cli.stdout)["run"] == 1
    assert sorted(a[0] for a in answers).count(201) + json.loads(cli.stdout)["created"] == 1
    check = make_engine(url)
    with check.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(SettlementRun)).scalar_one()
    check.dispose()
    assert rows == 1


def test_two_api_processes_and_the_cli_settle_once_on_sqlite(tmp_path: Path) -> None:
    _api_race(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)


@pytest.mark.postgres
def test_two_api_processes_and_the_cli_settle_once_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    _api_race(postgres_url, tmp_path)
