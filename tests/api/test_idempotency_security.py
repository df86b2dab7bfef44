"""Idempotent POSTs are no back door (issue 11, defects 3, 4, 6, 8): a replay needs a valid key
and is scoped by its id, secrets are never stored, and a crashed claim's lease expires."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from api.app import create_app
from api.settings import ApiSettings
from engine.access.idempotency import (
    T_IDEM,
    ClaimState,
    IdempotencyInProgressError,
    claim,
    complete,
    renew,
)
from engine.access.keys import authenticate, create_api_key, list_api_keys
from tests.api.conftest import Desk, TestClient, assert_error

KEY_BODY = b'{"role": "trader", "name": "carol"}'
JSON = {"Content-Type": "application/json"}


def _stored(desk: Desk) -> list[bytes]:
    with desk.engine.connect() as conn:
        return [bytes(r.response_body or b"") for r in conn.execute(select(T_IDEM)).all()]


def test_revoked_key_gets_no_replay(client: TestClient, desk: Desk) -> None:
    # Defect 3: admin A onboards carol with an Idempotency-Key, A is revoked, A's identical
    # retry must be a 401, not carol's secret again.
    a_record, a_token = create_api_key(desk.engine, "admin", "A")
    a = {"Authorization": f"Bearer {a_token}", "Idempotency-Key": "onboard-carol", **JSON}
    first = client.post("/admin/keys", content=KEY_BODY, headers=a)
    assert first.status_code == 201, first.text
    revoked = client.post(f"/admin/keys/{a_record.key_id}/revoke", headers=desk.auth("admin"))
    assert revoked.status_code == 200
    n_keys = len(list_api_keys(desk.engine))
    retry = client.post("/admin/keys", content=KEY_BODY, headers=a)
    assert_error(retry, 401, "unauthorized")
    assert "idempotent-replayed" not in retry.headers
    assert "token" not in retry.text
    assert len(list_api_keys(desk.engine)) == n_keys


def test_no_secret_is_stored_and_its_replay_is_refused(client: TestClient, desk: Desk) -> None:
    # Defect 4: the new key's token is nowhere in api_idempotency; a retry is a clear 409.
    h = {**desk.auth("admin"), "Idempotency-Key": "onboard-carol", **JSON}
    first = client.post("/admin/keys", content=KEY_BODY, headers=h)
    assert first.status_code == 201
    assert first.headers["cache-control"] == "no-store"
    token = first.json()["token"]
    assert authenticate(desk.engine, token) is not None
    stored = _stored(desk)
    assert stored == [b""]
    assert all(token.encode() not in body for body in stored)
    n_keys = len(list_api_keys(desk.engine))
    err = assert_error(
        client.post("/admin/keys", content=KEY_BODY, headers=h), 409, "idempotent_response_withheld"
    )
    assert "secret" in err["message"]
    assert len(list_api_keys(desk.engine)) == n_keys


def test_scope_is_the_key_id_not_the_header_text(client: TestClient, desk: Desk) -> None:
    # Defect 8: one key spelled three ways with one Idempotency-Key creates one key.
    token = desk.tokens["admin"]
    n_keys = len(list_api_keys(desk.engine))
    statuses = []
    for auth in (f"Bearer {token}", f"bearer {token}", f"Bearer  {token}"):
        h = {"Authorization": auth, "Idempotency-Key": "once", **JSON}
        statuses.append(client.post("/admin/keys", content=KEY_BODY, headers=h).status_code)
    assert statuses == [201, 409, 409]
    assert len(list_api_keys(desk.engine)) == n_keys + 1
    site = {"content": "x"}
    for auth in (f"Bearer {token}", f"bearer {token}"):
        h = {"Authorization": auth, "Idempotency-Key": "site-once"}
        r = client.post("/sites", json=site, headers=h)
        assert r.status_code == 422  # a failed request is not stored: it runs again
    with desk.engine.connect() as conn:
        scopes = {r.scope for r in conn.execute(select(T_IDEM)).all()}
    admin_id = token.split("_")[1]
    assert scopes == {admin_id}


def _digest(path: str, body: bytes) -> str:
    return hashlib.sha256(b"POST\n" + path.encode() + b"\n" + body).hexdigest()


def test_a_crashed_claim_is_taken_over_after_its_lease(desk: Desk) -> None:
    # Defect 6: the API was killed mid-request, leaving a pending claim; retries are refused
    # while its lease is live and run once it has expired.
    app = create_app(
        desk.settings,
        ApiSettings(
            auth_cache_seconds=5.0,
            backtest_executor="inline",
            bid_processes=0,
            gc_freeze=False,
            idempotency_lease_seconds=30.0,
        ),
    )
    admin_id = desk.tokens["admin"].split("_")[1]
    now = datetime.now(UTC)
    crashed = claim(
        desk.engine, admin_id, "k", "POST", "/admin/keys", _digest("/admin/keys", KEY_BODY), now=now
    )
    assert crashed.state is ClaimState.NEW
    h = {**desk.auth("admin"), "Idempotency-Key": "k", **JSON}
    with TestClient(app) as client:
        assert_error(
            client.post("/admin/keys", content=KEY_BODY, headers=h),
            409,
            "idempotency_key_in_progress",
        )
        with desk.engine.begin() as conn:  # the lease runs out (no heartbeat since the crash)
            conn.execute(T_IDEM.update().values(heartbeat_at=now - timedelta(seconds=31)))
        taken = client.post("/admin/keys", content=KEY_BODY, headers=h)
        assert taken.status_code == 201, taken.text
    # The dead claimant, were it to come back, can neither renew nor store its response.
    assert not renew(desk.engine, crashed.row_id, crashed.token)
    assert not complete(desk.engine, crashed.row_id, crashed.token, 201, None, b"x")
    assert _stored(desk) == [b""]


def test_two_retries_take_over_a_dead_claim_once(desk: Desk) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    dead = claim(desk.engine, "s", "k", "POST", "/p", "d", now=old)
    now = datetime.now(UTC)
    first = claim(desk.engine, "s", "k", "POST", "/p", "d", now=now)
    assert first.state is ClaimState.NEW
    assert first.row_id == dead.row_id
    assert first.token != dead.token
    with pytest.raises(IdempotencyInProgressError):
        claim(desk.engine, "s", "k", "POST", "/p", "d", now=now)
