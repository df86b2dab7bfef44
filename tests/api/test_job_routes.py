"""Scheduled job runs through the API: what ran, attempt by attempt, read-only."""

from __future__ import annotations

from typing import Any

from engine.scheduling.runs import Claim, run_once

from .conftest import Desk, TestClient, assert_error, row_counts


def _ok(_: Claim) -> dict[str, Any]:
    return {"bid_id": 7}


def _boom(_: Claim) -> dict[str, Any]:
    raise RuntimeError("no prices for the day")


def test_job_runs_are_listed_filtered_and_shown_by_key(client: TestClient, desk: Desk) -> None:
    h = desk.auth("auditor")
    assert client.get("/jobs/runs", headers=h).json()["total"] == 0
    assert run_once(desk.engine, "bid:example-dc:2025-03-30", _ok).status == "succeeded"
    assert run_once(desk.engine, "settle:example-dc:2025-03-30", _boom).status == "failed"
    assert run_once(desk.engine, "settle:example-dc:2025-03-30", _ok).status == "succeeded"
    page = client.get("/jobs/runs", headers=h).json()
    assert page["total"] == 3
    assert [(r["key"], r["attempt"]) for r in page["items"]] == [
        ("settle:example-dc:2025-03-30", 2),
        ("settle:example-dc:2025-03-30", 1),
        ("bid:example-dc:2025-03-30", 1),
    ]
    failed = client.get("/jobs/runs?status=failed", headers=h).json()["items"]
    assert len(failed) == 1
    assert "no prices for the day" in failed[0]["error"]
    bids = client.get("/jobs/runs?job=bid", headers=h).json()["items"]
    assert [r["result"] for r in bids] == [{"bid_id": 7}]
    assert bids[0]["finished_at"].endswith("Z") or "+00:00" in bids[0]["finished_at"]
    second = client.get("/jobs/runs?limit=1&offset=1", headers=h).json()
    assert second["next_offset"] == 2
    assert second["items"][0]["attempt"] == 1
    attempts = client.get("/jobs/runs/settle:example-dc:2025-03-30", headers=h).json()
    assert [(r["attempt"], r["status"]) for r in attempts] == [(1, "failed"), (2, "succeeded")]


def test_job_runs_bad_input(client: TestClient, desk: Desk) -> None:
    before = row_counts(desk.engine)
    h = desk.auth("auditor")
    assert_error(client.get("/jobs/runs"), 401)
    assert_error(client.get("/jobs/runs/bid:nowhere:2025-01-01", headers=h), 404, "not_found")
    assert_error(client.get("/jobs/runs?status=done", headers=h), 422)
    assert_error(client.get("/jobs/runs?limit=0", headers=h), 422)
    assert_error(client.post("/jobs/runs", headers=desk.auth("admin")), 405)
    assert row_counts(desk.engine) == before
