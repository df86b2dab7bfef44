"""Writing routes through the real app: sites, bids, submission, idempotency keys, body limits.

Every refused request is a 4xx JSON error and leaves every table as it was.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest

from api.deps import utc_now
from market import gate_closure_utc
from tests.api.conftest import (
    MAX_BODY,
    SITE_TOML,
    Desk,
    TestClient,
    assert_error,
    row_counts,
)

DAY = "2025-03-20"


def _site(client: TestClient, desk: Desk) -> None:
    r = client.post("/sites", json={"content": SITE_TOML}, headers=desk.auth("trader"))
    assert r.status_code == 201, r.text


def test_register_site_replay_conflict_replace(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    first = client.post("/sites", json={"content": SITE_TOML}, headers=h)
    assert first.status_code == 201
    assert first.json()["zone"] == "DE-LU"
    again = client.post("/sites", json={"content": SITE_TOML}, headers=h)
    assert again.status_code == 200
    assert again.json()["sha256"] == first.json()["sha256"]
    changed = SITE_TOML.replace("base_it_mw = 60.0", "base_it_mw = 50.0")
    before = row_counts(desk.engine)
    assert_error(client.post("/sites", json={"content": changed}, headers=h), 409, "conflict")
    assert row_counts(desk.engine) == before
    replaced = client.post("/sites", json={"content": changed, "replace": True}, headers=h)
    assert replaced.status_code == 201
    assert replaced.json()["base_it_mw"] == 50.0
    as_json = {
        "name": "json-dc",
        "zone": "DK1",
        "load": {"base_it_mw": 10.0, "pue": 1.2, "grid_import_max_mw": 30.0},
    }
    obj = client.post("/sites", json={"content": as_json}, headers=h)
    assert obj.status_code == 201
    assert obj.json()["content_format"] == "json"
    text = client.post(
        "/sites",
        json={"content": json.dumps({**as_json, "name": "j2"}), "format": "json"},
        headers=h,
    )
    assert text.status_code == 201
    assert text.json()["name"] == "j2"


BAD_SITES: list[tuple[Any, int]] = [
    ({}, 422),  # content missing
    ({"content": 5}, 422),
    ({"content": SITE_TOML, "format": "yaml"}, 422),
    ({"content": SITE_TOML, "surprise": 1}, 422),
    ({"content": "name = "}, 422),  # bad TOML
    ({"content": "[1, 2]", "format": "json"}, 422),
    ({"content": "{", "format": "json"}, 422),
    ({"content": SITE_TOML.replace('"DE-LU"', '"XX"')}, 422),
    ({"content": SITE_TOML.replace("energy_mwh = 240.0", "energy_mwh = 24000.0")}, 422),
    ({"content": {"name": "x", "zone": "DE-LU", "load": [1, 2]}}, 422),
    ({"content": {"name": "x", "zone": "DE-LU", "load": {"base_it_mw": "a"}}}, 422),
    ({"content": {"name": "x", "zone": "DE-LU", "jobs": {"a": 1}}}, 422),
    ("not an object", 422),
    (None, 422),
]


@pytest.mark.parametrize(("body", "status"), BAD_SITES)
def test_bad_sites_change_nothing(client: TestClient, desk: Desk, body: Any, status: int) -> None:
    before = row_counts(desk.engine)
    r = client.post("/sites", json=body, headers=desk.auth("trader"))
    assert_error(r, status)
    assert row_counts(desk.engine) == before


def test_bad_json_and_wrong_content_type(client: TestClient, desk: Desk) -> None:
    h = {**desk.auth("trader"), "content-type": "application/json"}
    before = row_counts(desk.engine)
    assert_error(client.post("/sites", content=b"{not json", headers=h), 422, "validation_error")
    assert_error(client.post("/bids", content=b"\xff\xfe", headers=h), 422)
    assert_error(
        client.post(
            "/bids",
            content=b"site=x",
            headers={**desk.auth("trader"), "content-type": "text/plain"},
        ),
        422,
    )
    assert row_counts(desk.engine) == before


def test_build_bid_and_submit(client: TestClient, desk: Desk) -> None:
    _site(client, desk)
    h = desk.auth("trader")
    r = client.post("/bids", json={"site": "example-dc", "day": DAY, "n_scenarios": 2}, headers=h)
    assert r.status_code == 201, r.text
    bid = r.json()
    assert bid["provenance"]["n_scenarios"] == 2
    assert len(bid["curves"]) == 24
    shown = client.get(f"/bids/{bid['id']}", headers=h).json()
    assert shown["submission"]["status"] == "built"
    # The fixture's bids are for 2025: their gate closure has passed.
    late = client.post(f"/bids/{bid['id']}/submit", headers=h)
    assert_error(late, 409, "conflict")
    gate = gate_closure_utc(date.fromisoformat(DAY), "DE-LU")
    client.app.dependency_overrides[utc_now] = lambda: gate.replace(hour=gate.hour - 2)  # type: ignore[attr-defined]
    try:
        ok = client.post(f"/bids/{bid['id']}/submit", headers=h)
        assert ok.status_code == 200, ok.text
        sub = ok.json()["submission"]
        assert sub["status"] == "submitted"
        assert len(sub["sha256"]) == 64
        outbox = desk.settings.home / "outbox" / "DE-LU" / DAY / f"bid-example-dc-{DAY}.json"
        doc = json.loads(outbox.read_text())
        assert doc["bid_id"] == bid["id"]
        assert len(doc["da_curves"]) == len(bid["curves"])
        for sent, shown in zip(doc["da_curves"], bid["curves"], strict=True):
            assert datetime.fromisoformat(sent["interval_start"]) == datetime.fromisoformat(
                shown["interval_start"]
            )
            assert sent["prices_per_mwh"] == shown["prices_per_mwh"]
            assert sent["quantities_mw"] == shown["quantities_mw"]
        # The detail shown before (and cached) follows the submission.
        assert client.get(f"/bids/{bid['id']}", headers=h).json()["submission"] == sub
        again = client.post(f"/bids/{bid['id']}/submit", headers=h)
        assert again.json()["submission"] == sub
        second = client.post(
            "/bids", json={"site": "example-dc", "day": DAY, "strategy": "deterministic"}, headers=h
        ).json()
        assert_error(client.post(f"/bids/{second['id']}/submit", headers=h), 409)
        hind = client.post(
            "/bids",
            json={"site": "example-dc", "day": DAY, "strategy": "perfect-foresight"},
            headers=h,
        ).json()
        assert hind["provenance"]["perfect_information"] is True
        assert_error(client.post(f"/bids/{hind['id']}/submit", headers=h), 409)
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    listed = client.get("/bids", params={"status": "submitted"}, headers=h).json()
    assert [b["id"] for b in listed["items"]] == [bid["id"]]


def test_strategies_and_as_of(client: TestClient, desk: Desk) -> None:
    _site(client, desk)
    h = desk.auth("trader")
    taker = client.post(
        "/bids", json={"site": "example-dc", "day": DAY, "strategy": "price-taker"}, headers=h
    )
    assert taker.status_code == 201, taker.text
    assert all(len(c["prices_per_mwh"]) == 1 for c in taker.json()["curves"])
    early = client.post(
        "/bids",
        json={"site": "example-dc", "day": DAY, "as_of": "2025-03-10T00:00:00+01:00"},
        headers=h,
    )
    assert early.status_code == 201
    assert early.json()["provenance"]["inputs_as_of"] == "2025-03-09T23:00:00Z"
    at_gate = client.post("/bids", json={"site": "example-dc", "day": DAY}, headers=h).json()
    # Less history gives other scenarios, hence another parameter hash.
    assert early.json()["provenance"]["parameter_hash"] != at_gate["provenance"]["parameter_hash"]


BAD_BIDS: list[tuple[dict[str, Any], int, str | None]] = [
    ({}, 422, "validation_error"),
    ({"site": "example-dc"}, 422, "validation_error"),
    ({"day": DAY}, 422, None),
    ({"site": "example-dc", "day": "20-03-2025"}, 422, None),
    ({"site": "example-dc", "day": DAY, "n_scenarios": "many"}, 422, None),
    ({"site": "example-dc", "day": DAY, "n_scenarios": 0}, 422, None),
    ({"site": "example-dc", "day": DAY, "strategy": "magic"}, 422, None),
    ({"site": "example-dc", "day": DAY, "model": "magic"}, 422, None),
    ({"site": "example-dc", "day": DAY, "as_of": "2025-03-19T10:00:00"}, 422, None),  # naive
    ({"site": "example-dc", "day": DAY, "as_of": "2025-03-19T13:00:00+00:00"}, 422, None),
    ({"site": "example-dc", "day": "1999-01-01"}, 422, None),
    ({"site": "example-dc", "day": DAY, "extra": True}, 422, None),
    ({"site": "nope", "day": DAY}, 404, "not_found"),
    ({"site": "example-dc", "day": "2025-03-01"}, 422, "no_price_scenarios"),  # no history
    ({"site": "example-dc", "day": "2025-05-01", "strategy": "perfect-foresight"}, 422, None),
    ({"site": "dk1-nope", "day": DAY, "strategy": "price-taker"}, 404, None),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BIDS)
def test_bad_bids_change_nothing(
    client: TestClient, desk: Desk, body: dict[str, Any], status: int, code: str | None
) -> None:
    _site(client, desk)
    before = row_counts(desk.engine)
    assert_error(client.post("/bids", json=body, headers=desk.auth("trader")), status, code)
    assert row_counts(desk.engine) == before


def test_roles_on_writes(client: TestClient, desk: Desk) -> None:
    _site(client, desk)
    before = row_counts(desk.engine)
    body = {"site": "example-dc", "day": DAY}
    assert_error(client.post("/bids", json=body), 401, "unauthorized")
    assert_error(client.post("/bids", json=body, headers=desk.auth("auditor")), 403, "forbidden")
    assert_error(
        client.post("/sites", json={"content": SITE_TOML}, headers=desk.auth("auditor")), 403
    )
    assert_error(client.post("/bids/1/submit", headers=desk.auth("auditor")), 403)
    assert_error(client.get("/admin/keys", headers=desk.auth("trader")), 403)
    assert_error(client.get("/admin/keys", headers=desk.auth("auditor")), 403)
    assert row_counts(desk.engine) == before
    assert client.post("/bids", json=body, headers=desk.auth("admin")).status_code == 201


def test_idempotency_key_replays_and_refuses_reuse(client: TestClient, desk: Desk) -> None:
    _site(client, desk)
    h = {**desk.auth("trader"), "Idempotency-Key": "bid-2025-03-20-a"}
    body = {"site": "example-dc", "day": DAY, "n_scenarios": 2}
    first = client.post("/bids", json=body, headers=h)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    after_first = row_counts(desk.engine)
    replay = client.post("/bids", json=body, headers=h)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert row_counts(desk.engine) == after_first
    err = assert_error(
        client.post("/bids", json={**body, "n_scenarios": 3}, headers=h),
        422,
        "idempotency_key_reused",
    )
    assert "bid-2025-03-20-a" in err["message"]
    assert_error(client.post("/sites", json={"content": SITE_TOML}, headers=h), 422)
    assert row_counts(desk.engine) == after_first
    # Keys are per API key: another key may use the same string.
    other = {**desk.auth("admin"), "Idempotency-Key": "bid-2025-03-20-a"}
    assert client.post("/bids", json=body, headers=other).status_code == 201
    # A failed request is not stored: its retry runs again.
    bad = {**desk.auth("trader"), "Idempotency-Key": "k2"}
    assert_error(client.post("/bids", json={"site": "nope", "day": DAY}, headers=bad), 404)
    assert_error(client.post("/bids", json={"site": "nope", "day": DAY}, headers=bad), 404)
    assert client.post("/bids", json=body, headers=bad).status_code == 201
    for key in ("", "a" * 201, "spaces are not allowed"):
        assert_error(
            client.post(
                "/bids", json=body, headers={**desk.auth("trader"), "Idempotency-Key": key}
            ),
            422,
        )


def test_oversized_bodies_are_refused(client: TestClient, desk: Desk) -> None:
    h = {**desk.auth("trader"), "content-type": "application/json"}
    before = row_counts(desk.engine)
    big = json.dumps({"content": SITE_TOML + "#" * MAX_BODY}).encode()
    assert_error(client.post("/sites", content=big, headers=h), 413, "request_too_large")

    def chunks() -> Any:  # no Content-Length: the limit applies to the streamed body
        for _ in range(10):
            yield b" " * (MAX_BODY // 4)

    assert_error(client.post("/sites", content=chunks(), headers=h), 413, "request_too_large")
    assert_error(client.post("/sites", content=b"{}", headers={**h, "content-length": "abc"}), 400)
    assert row_counts(desk.engine) == before


def test_admin_keys(client: TestClient, desk: Desk) -> None:
    h = desk.auth("admin")
    made = client.post("/admin/keys", json={"role": "auditor", "name": "ext audit"}, headers=h)
    assert made.status_code == 201
    token = made.json()["token"]
    auditor = {"Authorization": f"Bearer {token}"}
    assert client.get("/sites", headers=auditor).status_code == 200
    listed = client.get("/admin/keys", headers=h).json()
    assert listed["total"] == 4
    assert all("token" not in k for k in listed["items"])
    key_id = made.json()["key_id"]
    revoked = client.post(f"/admin/keys/{key_id}/revoke", headers=h).json()
    assert revoked["revoked_at"] is not None
    assert_error(client.get("/sites", headers=auditor), 401)
    assert_error(client.post("/admin/keys", json={"role": "god"}, headers=h), 422)
    assert_error(client.post("/admin/keys/0123456789abcdef/revoke", headers=h), 404)
    assert_error(client.post("/admin/keys/xyz/revoke", headers=h), 422)


def test_nul_characters_are_refused(client: TestClient, desk: Desk) -> None:
    h = desk.auth("admin")
    before = row_counts(desk.engine)
    assert_error(
        client.post("/admin/keys", json={"role": "admin", "name": "a\u0000b"}, headers=h), 422
    )
    nul_site = SITE_TOML.replace('name = "example-dc"', 'name = "x\\u0000y"')
    assert_error(client.post("/sites", json={"content": nul_site}, headers=h), 422)
    assert_error(client.get("/sites/a%00b", headers=h), 422)
    assert_error(client.get("/bids", params={"site": "a\x00b"}, headers=h), 422)
    assert row_counts(desk.engine) == before
    assert client.get("/sites/plain", headers=h).status_code == 404


def test_a_bid_with_a_price_model_uses_it_and_the_schema_lists_the_models(
    client: TestClient, desk: Desk
) -> None:
    from forecast.names import model_names

    _site(client, desk)
    h = desk.auth("trader")
    body = {"site": "example-dc", "day": DAY, "n_scenarios": 2, "strategy": "deterministic"}
    naive = client.post("/bids", json={**body, "model": "naive"}, headers=h)
    assert naive.status_code == 201, naive.text
    assert naive.json()["provenance"]["scenario_method"] == "naive"
    default = client.post("/bids", json=body, headers=h)
    assert default.status_code == 201, default.text
    assert default.json()["provenance"]["scenario_method"] != "naive"
    schema = client.app.openapi()["components"]["schemas"]["ModelName"]  # type: ignore[attr-defined]
    assert schema["enum"] == list(model_names())
