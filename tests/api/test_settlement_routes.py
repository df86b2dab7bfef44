"""Settlement through the API: once per site and day, explicit corrections, bad input."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from api.deps import utc_now
from engine.settlement.service import import_meter
from market import gate_closure_utc
from tests.api.conftest import FIXTURES, SITE_TOML, Desk, TestClient, assert_error, row_counts

DAY = "2025-03-20"


def _ready(client: TestClient, desk: Desk) -> int:
    h = desk.auth("trader")
    assert client.post("/sites", json={"content": SITE_TOML}, headers=h).status_code == 201
    import_meter(
        desk.engine, FIXTURES / "carbon" / "example-dc_2025_03_meter.csv", "example-dc", "DE-LU"
    )
    bid = client.post("/bids", json={"site": "example-dc", "day": DAY, "n_scenarios": 2}, headers=h)
    assert bid.status_code == 201
    bid_id = int(bid.json()["id"])
    # Settlement settles the submitted bid only: submit it before its gate closure.
    gate = gate_closure_utc(date.fromisoformat(DAY), "DE-LU")
    client.app.dependency_overrides[utc_now] = lambda: gate - timedelta(hours=2)  # type: ignore[attr-defined]
    try:
        assert client.post(f"/bids/{bid_id}/submit", headers=h).status_code == 200
    finally:
        client.app.dependency_overrides.pop(utc_now)  # type: ignore[attr-defined]
    return bid_id


def test_a_built_bid_that_was_never_submitted_is_not_settled(
    client: TestClient, desk: Desk
) -> None:
    h = desk.auth("trader")
    assert client.post("/sites", json={"content": SITE_TOML}, headers=h).status_code == 201
    import_meter(
        desk.engine, FIXTURES / "carbon" / "example-dc_2025_03_meter.csv", "example-dc", "DE-LU"
    )
    body = {"site": "example-dc", "day": DAY, "n_scenarios": 2}
    assert client.post("/bids", json=body, headers=h).status_code == 201
    before = row_counts(desk.engine)
    refused = client.post("/settlements", json={"site": "example-dc", "day": DAY}, headers=h)
    assert_error(refused, 404, "not_found")
    assert "no submitted bid" in refused.json()["error"]["message"]
    assert row_counts(desk.engine) == before


def test_settle_once_then_correct(client: TestClient, desk: Desk) -> None:
    bid_id = _ready(client, desk)
    h = desk.auth("trader")
    assert_error(
        client.get("/settlements", params={"site": "example-dc", "day": DAY}, headers=h), 404
    )
    first = client.post("/settlements", json={"site": "example-dc", "day": DAY}, headers=h)
    assert first.status_code == 201, first.text
    run = first.json()
    assert run["run"] == 1
    assert run["provenance"]["bid_id"] == bid_id
    assert run["currency"] == "EUR"
    assert all(Decimal(v) == Decimal(v).quantize(Decimal("0.01")) for v in run["totals"].values())
    again = client.post("/settlements", json={"site": "example-dc", "day": DAY}, headers=h)
    assert again.status_code == 200
    assert again.json()["run"] == 1
    assert again.json()["totals"] == run["totals"]
    fixed = client.post(
        "/settlements",
        json={"site": "example-dc", "day": DAY, "force": True, "reason": "late meter"},
        headers=h,
    )
    assert fixed.status_code == 201
    assert fixed.json()["run"] == 2
    assert fixed.json()["supersedes_run"] == 1
    shown = client.get(
        "/settlements", params={"site": "example-dc", "day": DAY}, headers=desk.auth("auditor")
    ).json()
    assert shown["run"] == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"site": "example-dc"}, 422),
        ({"site": "example-dc", "day": "2025-3-20"}, 422),
        ({"site": "example-dc", "day": DAY, "reason": "x" * 501}, 422),
        ({"site": "nope", "day": DAY}, 404),
        ({"site": "example-dc", "day": "2025-03-22"}, 404),  # no bid for that day
    ],
)
def test_bad_settlements_change_nothing(
    client: TestClient, desk: Desk, body: dict[str, Any], status: int
) -> None:
    _ready(client, desk)
    before = row_counts(desk.engine)
    assert_error(client.post("/settlements", json=body, headers=desk.auth("trader")), status)
    assert_error(client.post("/settlements", json=body, headers=desk.auth("auditor")), 403)
    assert row_counts(desk.engine) == before
    assert_error(
        client.get("/settlements", params={"site": "example-dc"}, headers=desk.auth("auditor")), 422
    )
