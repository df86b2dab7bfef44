"""The API under uvicorn (the load-test driver, small) and bid builds in a worker process."""

from __future__ import annotations

import json
import socket

import pytest

from api.app import create_app
from api.settings import ApiSettings
from cli import main
from tests.api.conftest import SITE_TOML, Desk, TestClient, assert_error, row_counts


def test_bid_builds_in_a_worker_process(desk: Desk) -> None:
    app = create_app(
        desk.settings, ApiSettings(bid_processes=1, backtest_executor="inline", gc_freeze=False)
    )
    h = desk.auth("trader")
    with TestClient(app) as client:
        assert client.post("/sites", json={"content": SITE_TOML}, headers=h).status_code == 201
        built = client.post("/bids", json={"site": "example-dc", "day": "2025-03-21"}, headers=h)
        assert built.status_code == 201, built.text
        assert len(built.json()["curves"]) == 24
        shown = client.get(f"/bids/{built.json()['id']}", headers=h).json()
        assert shown["curves"] == built.json()["curves"]
        before = row_counts(desk.engine)
        # Domain errors raised in the worker come back as the same JSON errors.
        assert_error(
            client.post("/bids", json={"site": "nope", "day": "2025-03-21"}, headers=h), 404
        )
        assert_error(
            client.post("/bids", json={"site": "example-dc", "day": "2025-03-01"}, headers=h),
            422,
            "no_price_scenarios",
        )
        assert row_counts(desk.engine) == before


@pytest.mark.parametrize("cache", ["--read-cache", "--no-read-cache"])
def test_bench_api_cli_runs_a_small_load(capsys: pytest.CaptureFixture[str], cache: str) -> None:
    args = ["--requests", "200", "--concurrency", "20", "--bid-share", "0.02", "--rate", "400"]
    with pytest.raises(SystemExit) as done:
        main(["bench", "api", *args, cache])
    assert done.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["requests"] == 200
    assert result["reads"]["count"] + result["bid_builds"]["count"] == 200
    assert result["bid_builds"]["count"] >= 1
    assert set(result["statuses"]) <= {"200", "201"}
    assert 0 < result["reads"]["p50_ms"] <= result["reads"]["p99_ms"] <= result["reads"]["max_ms"]
    assert result["mode"] == "open loop at 400 requests/s"
    assert result["read_cache"] is (cache == "--read-cache")
    # Open loop: 200 requests due at 400/s take at least half a second.
    assert result["wall_s"] >= 0.5 - 1e-3


def test_serve_is_a_command() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    with pytest.raises(SystemExit) as bad:
        main(["serve", "--port", "0"])
    assert bad.value.code == 2
    with socket.socket() as s:  # nothing was left listening
        s.bind(("127.0.0.1", 0))


def test_bench_api_bid_streams_build_while_reads_stay_in_flight(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--requests", "300", "--concurrency", "10", "--bid-share", "0", "--bid-streams", "1"]
    with pytest.raises(SystemExit) as done:
        main(["bench", "api", *args, "--json"])
    assert done.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "closed loop"
    assert result["reads"]["count"] == 300
    assert result["bid_builds"]["count"] >= 1
    assert result["requests"] == 300 + result["bid_builds"]["count"]
    assert set(result["statuses"]) == {"200", "201"}
    assert result["plan_throughput_rps"] > 0


@pytest.mark.postgres
def test_bench_api_on_a_throw_away_postgres_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os

    from sqlalchemy import create_engine, text

    server = os.environ.get("POWERDESK_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("POWERDESK_TEST_POSTGRES_URL is not set")
    args = ["--requests", "200", "--concurrency", "10", "--bid-share", "0", "--postgres", server]
    with pytest.raises(SystemExit) as done:
        main(["bench", "api", *args, "--json"])
    assert done.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["database"] == "postgresql"
    assert result["statuses"] == {"200": 200}
    admin = create_engine(server)
    try:
        with admin.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"),
                {"name": result["scratch_database"]},
            ).scalar_one()
    finally:
        admin.dispose()
    # The run's own database is gone (others may be running benchmarks on the same server).
    assert result["scratch_database"].startswith("powerdesk_bench_")
    assert left == 0


def test_bid_workers_share_the_cores_for_solver_threads() -> None:
    # In a process of its own: the initializer lowers the priority of the process it runs in.
    import os
    import subprocess
    import sys

    code = (
        "import os; os.environ.pop('POWERDESK_SOLVER_THREADS', None); "
        "from api.workers import lower_worker_priority; lower_worker_priority(2); "
        "print(os.environ['POWERDESK_SOLVER_THREADS'], os.nice(0))"
    )
    env = {k: v for k, v in os.environ.items() if k != "POWERDESK_SOLVER_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    threads, niceness = out.stdout.split()
    assert int(threads) == max(1, (os.cpu_count() or 1) // 2)
    assert int(niceness) >= 10
