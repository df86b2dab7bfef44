"""Backtests through the API: started in the background on stored prices, polled, read."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from tests.api.conftest import SITE_TOML, Desk, TestClient, assert_error, row_counts


def _wait(client: TestClient, desk: Desk, backtest_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(
            f"/backtests/{backtest_id}", headers=desk.auth("auditor")
        ).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("backtest did not finish")


def test_backtest_runs_and_reports(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    assert client.post("/sites", json={"content": SITE_TOML}, headers=h).status_code == 201
    body = {"site": "example-dc", "start": "2025-03-29", "end": "2025-03-31", "n_scenarios": 2}
    started = client.post("/backtests", json=body, headers=h)
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("queued", "running", "succeeded")
    done = _wait(client, desk, started.json()["id"])
    assert done["status"] == "succeeded", done
    summary = client.get(f"/backtests/{done['id']}/summary", headers=desk.auth("auditor")).json()
    assert summary["strategy"] == "forecast"
    assert summary["days"] == 2
    parts = {k: Decimal(summary[k]) for k in ("energy_cost", "imbalance_cost", "degradation_cost")}
    total = sum(parts.values(), Decimal(0)) - Decimal(summary["reserve_revenue"])
    assert Decimal(summary["total_cost"]) == total
    # Perfect foresight is the benchmark: on these days nothing beats it.
    assert Decimal(summary["regret_vs_perfect_foresight"]) >= Decimal("-0.02")
    days = client.get(f"/backtests/{done['id']}/days", headers=desk.auth("auditor")).json()
    assert [d["day"] for d in days["items"]] == ["2025-03-29", "2025-03-30"]
    assert sum(Decimal(d["total_cost"]) for d in days["items"]) == Decimal(summary["total_cost"])
    # The spring DST day has 23 hours: less grid energy than the day before at the same load.
    assert Decimal(days["items"][1]["grid_energy_mwh"]) < Decimal(
        days["items"][0]["grid_energy_mwh"]
    )


def test_failed_backtest_reports_its_reason(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    client.post("/sites", json={"content": SITE_TOML}, headers=h)
    # The fixture holds March 2025 only: April is not covered.
    body = {
        "site": "example-dc",
        "start": "2025-04-01",
        "end": "2025-04-02",
        "strategy": "price-taker",
    }
    done = _wait(client, desk, client.post("/backtests", json=body, headers=h).json()["id"])
    assert done["status"] == "failed"
    assert "do not cover delivery day 2025-04-01" in done["error"]
    assert_error(client.get(f"/backtests/{done['id']}/summary", headers=h), 409)
    assert_error(client.get(f"/backtests/{done['id']}/days", headers=h), 409)


def test_a_real_time_stage_without_imbalance_prices_fails_with_its_reason(
    client: TestClient, desk: Desk
) -> None:
    h = desk.auth("trader")
    client.post("/sites", json={"content": SITE_TOML}, headers=h)
    body = {"site": "example-dc", "start": "2025-03-29", "end": "2025-03-30", "rt_stage": True}
    started = client.post("/backtests", json=body, headers=h)
    assert started.status_code == 202, started.text
    assert started.json()["request"]["rt_stage"] is True
    done = _wait(client, desk, started.json()["id"])
    assert done["status"] == "failed"
    assert "the real-time stage needs real-time / imbalance prices" in done["error"]
    rolling = client.post("/backtests", json={**body, "rt_every_minutes": 60}, headers=h)
    assert rolling.json()["request"]["rt_every_minutes"] == 60


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"site": "example-dc", "start": "2025-03-20"}, 422),
        ({"site": "example-dc", "start": "2025-03-20", "end": "2025-03-20"}, 422),
        ({"site": "example-dc", "start": "2025-03-20", "end": "2027-03-20"}, 422),
        ({"site": "example-dc", "start": "2025-03-20", "end": "2025-03-22", "strategy": "x"}, 422),
        ({"site": "example-dc", "start": "2025-03-20", "end": "2025-03-22", "model": "x"}, 422),
        (
            {
                "site": "example-dc",
                "start": "2025-03-20",
                "end": "2025-03-21",
                "rt_every_minutes": -60,
            },
            422,
        ),
        ({"site": "nope", "start": "2025-03-20", "end": "2025-03-22"}, 404),
    ],
)
def test_bad_backtests_change_nothing(
    client: TestClient, desk: Desk, body: dict[str, Any], status: int
) -> None:
    client.post("/sites", json={"content": SITE_TOML}, headers=desk.auth("trader"))
    before = row_counts(desk.engine)
    assert_error(client.post("/backtests", json=body, headers=desk.auth("trader")), status)
    assert_error(client.post("/backtests", json=body, headers=desk.auth("auditor")), 403)
    assert row_counts(desk.engine) == before


def test_unknown_backtest(client: TestClient, desk: Desk) -> None:
    h = desk.auth("auditor")
    for path in ("/backtests/77", "/backtests/77/summary", "/backtests/77/days"):
        assert_error(client.get(path, headers=h), 404)
    assert_error(client.get("/backtests/x", headers=h), 422)


def test_backtest_with_a_price_model_records_it(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    client.post("/sites", json={"content": SITE_TOML}, headers=h)
    body = {
        "site": "example-dc",
        "start": "2025-03-20",
        "end": "2025-03-21",
        "strategy": "deterministic",
        "model": "naive",
        "regret": False,
    }
    started = client.post("/backtests", json=body, headers=h)
    assert started.status_code == 202, started.text
    assert started.json()["request"]["model"] == "naive"
    done = _wait(client, desk, started.json()["id"])
    assert done["status"] == "succeeded", done
    summary = client.get(f"/backtests/{done['id']}/summary", headers=desk.auth("auditor")).json()
    assert summary["price_model"] == "naive"
