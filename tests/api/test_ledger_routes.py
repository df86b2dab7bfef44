"""Ledger routes through the real app: client-signed events (a stolen API key alone cannot move
certificates), PPAs, certificate queries, checkpoint, proofs and entries."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.deps import utc_now
from engine.certificates.history import register_key_event
from engine.certificates.keyfiles import create_key, load_private_key
from engine.certificates.service import ledger_store
from engine.certificates.store import LedgerStore
from ledger.events import Issue, RegisterDevice, Retire, SignedEvent, Transfer
from ledger.keys import Role, key_id_of, raw_public_key
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.note import verify_checkpoint
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from tests.api.conftest import Desk, TestClient, assert_error, row_counts

T0 = datetime(2025, 3, 20, 10, 0, tzinfo=UTC)
HOUR_START = datetime(2025, 3, 20, 8, 0, tzinfo=UTC)

PPA_TOML = """
id = "ppa-wind-1"
settlement = "physical"
volume = "as-produced"
buyer = "example-dc"
counterparty = "windco"
zone = "DE-LU"
currency = "EUR"
devices = ["WIND-1"]
strike_per_mwh = "61.50"
start = 2025-01-01T00:00:00+01:00
end = 2030-01-01T00:00:00+01:00
"""


@dataclass
class Clock:
    """The ledger's clock in these tests (the API's ``utc_now`` and the test's own store)."""

    now: datetime = T0


def use_clock(client: TestClient, clock: Clock) -> None:
    """Make ``client``'s app judge ledger appends against ``clock``."""
    client.app.dependency_overrides[utc_now] = lambda: clock.now  # type: ignore[attr-defined]


@pytest.fixture
def ledger_clock(client: TestClient) -> Clock:
    clock = Clock()
    use_clock(client, clock)
    return clock


class Parties:
    """The operator (ledger key in the home), an issuer and three owners with their signers."""

    def __init__(self, desk: Desk, clock: Clock | None = None) -> None:
        home = desk.settings.home
        create_key(home)
        clock = clock or Clock()
        self.clock = clock
        self.store: LedgerStore = ledger_store(desk.engine, home, clock=lambda: clock.now)
        operator = load_private_key(home)
        op = EventSigner(operator, self.store.last_seq(key_id_of(operator.public_key())))
        self.keys = {
            name: Ed25519PrivateKey.generate() for name in ("issuer", "alice", "bob", "mallory")
        }
        roles = {"issuer": frozenset({Role.ISSUER})}
        for name, key in self.keys.items():
            self.store.append(
                register_key_event(op, key, name, roles.get(name, frozenset({Role.OWNER})), T0)
            )
        self.signers = {name: EventSigner(key) for name, key in self.keys.items()}
        self.store.append(
            self.signers["issuer"].sign(
                RegisterDevice("WIND-1", 5_000_000, "wind", "DE-LU", 3600), T0
            )
        )


def _leaf(s: SignedEvent) -> dict[str, str]:
    return {"leaf_b64": base64.b64encode(s.leaf).decode()}


def _parts(s: SignedEvent) -> dict[str, Any]:
    return {
        "event": json.loads(s.message),
        "signature_b64": base64.b64encode(s.signature).decode(),
    }


def _issue(p: Parties, energy_wh: int = 1_000_000) -> SignedEvent:
    body = Issue(
        "WIND-1",
        Scheme.ENERGYTAG_GC,
        HOUR_START,
        HOUR_START + timedelta(hours=1),
        0,
        energy_wh,
        energy_wh,
        "alice",
        None,
    )
    return p.signers["issuer"].sign(body, T0)


@pytest.fixture
def parties(desk: Desk, ledger_clock: Clock) -> Parties:
    return Parties(desk, ledger_clock)


def test_signed_lifecycle_through_the_api(client: TestClient, desk: Desk, parties: Parties) -> None:
    h = desk.auth("trader")
    issued = client.post("/ledger/events", json=_leaf(_issue(parties)), headers=h)
    assert issued.status_code == 201, issued.text
    (cert,) = issued.json()["certificates"]
    assert cert["owner"] == "alice"
    assert cert["energy_wh"] == 1_000_000
    bundle = cert["bundle_id"]
    transfer = parties.signers["alice"].sign(Transfer(bundle, "bob"), T0)
    moved = client.post("/ledger/events", json=_parts(transfer), headers=h)
    assert moved.status_code == 201, moved.text
    assert moved.json()["certificates"][0]["owner"] == "bob"
    again = client.post("/ledger/events", json=_parts(transfer), headers=h)
    assert again.status_code == 201
    assert again.json()["replayed"] is True
    assert again.json()["index"] == moved.json()["index"]
    retire = Retire(
        bundle, "example-dc", "example-dc", HOUR_START, HOUR_START + timedelta(hours=1), "DE-LU"
    )
    done = client.post(
        "/ledger/events", json=_leaf(parties.signers["bob"].sign(retire, T0)), headers=h
    )
    assert done.status_code == 201, done.text
    assert done.json()["certificates"][0]["status"] == "retired"
    certs = client.get(
        "/ledger/certificates", params={"owner": "bob"}, headers=desk.auth("auditor")
    )
    assert certs.json()["total"] == 1
    assert certs.json()["items"][0]["beneficiary"] == "example-dc"
    for params, total in [
        ({"state": "retired"}, 1),
        ({"state": "active"}, 0),
        ({"device": "WIND-1", "zone": "DE-LU"}, 1),
        ({"from": "2025-03-20T08:00:00Z", "to": "2025-03-20T09:00:00Z"}, 1),
        ({"from": "2025-03-20T09:00:00+01:00", "to": "2025-03-20T09:30:00+01:00"}, 1),
        ({"from": "2025-03-20T09:30:00+01:00", "to": "2025-03-20T11:00:00+01:00"}, 0),
    ]:
        got = client.get("/ledger/certificates", params=params, headers=desk.auth("auditor"))
        assert got.json()["total"] == total, params


def test_a_stolen_api_key_cannot_move_certificates(
    client: TestClient, desk: Desk, parties: Parties
) -> None:
    h = desk.auth("trader")
    bundle = client.post("/ledger/events", json=_leaf(_issue(parties)), headers=h).json()[
        "certificates"
    ][0]["bundle_id"]
    before = row_counts(desk.engine)
    # Mallory has a valid API key and a registered key of her own, but alice owns the bundle.
    theft = parties.signers["mallory"].sign(Transfer(bundle, "mallory"), T0)
    assert_error(client.post("/ledger/events", json=_parts(theft), headers=h), 403)
    # A key the ledger never registered.
    stranger = EventSigner(Ed25519PrivateKey.generate()).sign(Transfer(bundle, "mallory"), T0)
    assert_error(client.post("/ledger/events", json=_leaf(stranger), headers=h), 403)
    # Alice's event with its body changed after signing.
    genuine = EventSigner(parties.keys["alice"], 0).sign(Transfer(bundle, "bob"), T0)
    event = json.loads(genuine.message)
    event["body"]["to"] = "mallory"
    forged = {"event": event, "signature_b64": base64.b64encode(genuine.signature).decode()}
    assert_error(
        client.post("/ledger/events", json=forged, headers=h), 403, "ledger_signature_rejected"
    )
    assert row_counts(desk.engine) == before


BAD_EVENTS: list[tuple[Any, int]] = [
    ({}, 422),
    ({"leaf_b64": "%%%"}, 422),
    ({"leaf_b64": base64.b64encode(b"\x01short").decode()}, 422),
    ({"leaf_b64": base64.b64encode(b"\x01" + b"\x00" * 64 + b"{}").decode()}, 422),
    ({"event": {"v": 1}}, 422),
    ({"event": {"v": 1}, "signature_b64": "AAAA"}, 422),
    ({"event": {"v": 1.5}, "signature_b64": base64.b64encode(b"\x00" * 64).decode()}, 422),
    ({"leaf_b64": "AAAA", "event": {}, "signature_b64": "AAAA"}, 422),
    ({"leaf_b64": 7}, 422),
]


@pytest.mark.parametrize(("body", "status"), BAD_EVENTS)
def test_malformed_events_change_nothing(
    client: TestClient, desk: Desk, parties: Parties, body: Any, status: int
) -> None:
    before = row_counts(desk.engine)
    assert_error(client.post("/ledger/events", json=body, headers=desk.auth("trader")), status)
    assert row_counts(desk.engine) == before


def test_operator_events_and_roles(client: TestClient, desk: Desk, parties: Parties) -> None:
    before = row_counts(desk.engine)
    side = EventSigner(parties.keys["issuer"], parties.signers["issuer"].last_seq)
    device = side.sign(RegisterDevice("PV-9", 1000, "pv", "DE-LU", 3600), T0)
    assert_error(
        client.post("/ledger/events", json=_leaf(device), headers=desk.auth("trader")), 422
    )
    issue = _leaf(_issue(parties))
    assert_error(client.post("/ledger/events", json=issue, headers=desk.auth("auditor")), 403)
    assert_error(client.post("/ledger/events", json=issue), 401)
    assert row_counts(desk.engine) == before
    # A second issue of the same hour beyond the metered energy is a ledger rule: 409.
    assert client.post("/ledger/events", json=issue, headers=desk.auth("trader")).status_code == 201
    more = parties.signers["issuer"].sign(
        Issue(
            "WIND-1",
            Scheme.ENERGYTAG_GC,
            HOUR_START,
            HOUR_START + timedelta(hours=1),
            1_000_000,
            1_000_000,
            1_000_000,
            "alice",
            None,
        ),
        T0,
    )
    after_issue = row_counts(desk.engine)
    assert_error(client.post("/ledger/events", json=_leaf(more), headers=desk.auth("trader")), 409)
    assert row_counts(desk.engine) == after_issue


def test_checkpoint_proofs_and_entries(client: TestClient, desk: Desk, parties: Parties) -> None:
    h = desk.auth("auditor")
    client.post("/ledger/events", json=_leaf(_issue(parties)), headers=desk.auth("trader"))
    size = parties.store.head()[0]
    note = client.get("/ledger/checkpoint", headers=h)
    assert note.status_code == 200
    assert note.headers["content-type"].startswith("text/plain")
    operator = load_private_key(desk.settings.home)
    origin = parties.store.head()[1]
    checkpoint = verify_checkpoint(note.text, origin, operator.public_key())
    assert checkpoint.size == size
    entries = client.get("/ledger/entries", params={"limit": 2}, headers=h).json()
    assert [e["index"] for e in entries["items"]] == [0, 1]
    assert entries["next"] == 2
    assert entries["tree_size"] == size
    rest = client.get("/ledger/entries", params={"from": 2, "limit": 500}, headers=h).json()
    assert rest["next"] is None
    assert rest["items"][-1]["event"]["kind"] == "issue"
    leaves = [base64.b64decode(e["leaf_b64"]) for e in entries["items"] + rest["items"]]
    assert leaves == parties.store.leaves()
    for index in (0, size - 1):
        proof = client.get(
            "/ledger/proofs/inclusion", params={"index": index, "tree_size": size}, headers=h
        ).json()
        assert base64.b64decode(proof["root_b64"]) == checkpoint.root
        verify_inclusion(
            index,
            size,
            base64.b64decode(proof["leaf_hash_b64"]),
            [base64.b64decode(x) for x in proof["inclusion_proof_b64"]],
            checkpoint.root,
        )
    cons = client.get("/ledger/proofs/consistency", params={"first": 2, "second": size}, headers=h)
    c = cons.json()
    verify_consistency(
        2,
        size,
        [base64.b64decode(x) for x in c["consistency_proof_b64"]],
        base64.b64decode(c["first_root_b64"]),
        base64.b64decode(c["second_root_b64"]),
    )
    for path, params in [
        ("/ledger/proofs/inclusion", {"index": size, "tree_size": size}),
        ("/ledger/proofs/inclusion", {"index": 0, "tree_size": size + 1}),
        ("/ledger/proofs/consistency", {"first": 3, "second": 2}),
        ("/ledger/proofs/consistency", {"first": 1, "second": size + 5}),
    ]:
        assert 400 <= client.get(path, params=params, headers=h).status_code < 500
    assert_error(
        client.get("/ledger/proofs/inclusion", params={"index": -1, "tree_size": 1}, headers=h), 422
    )
    assert_error(client.get("/ledger/proofs/inclusion", params={"index": 0}, headers=h), 422)


def test_ppas(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    made = client.post("/ledger/ppas", json={"contract_toml": PPA_TOML}, headers=h)
    assert made.status_code == 201, made.text
    assert made.json()["strike_per_mwh"] == "61.50"
    assert made.json()["kind"] == "physical-as-produced"
    before = row_counts(desk.engine)
    assert_error(client.post("/ledger/ppas", json={"contract_toml": PPA_TOML}, headers=h), 409)
    for bad in ("id = ", PPA_TOML.replace('"EUR"', '"euro"'), PPA_TOML.replace("+01:00", "")):
        assert_error(client.post("/ledger/ppas", json={"contract_toml": bad}, headers=h), 422)
    assert_error(client.post("/ledger/ppas", json={}, headers=h), 422)
    assert_error(
        client.post("/ledger/ppas", json={"contract_toml": PPA_TOML}, headers=desk.auth("auditor")),
        403,
    )
    assert row_counts(desk.engine) == before
    listed = client.get("/ledger/ppas", headers=desk.auth("auditor")).json()
    assert [p["id"] for p in listed["items"]] == ["ppa-wind-1"]
    assert client.get("/ledger/ppas", params={"zone": "DK1"}, headers=h).json()["total"] == 0
    one = client.get("/ledger/ppas/ppa-wind-1", headers=desk.auth("auditor")).json()
    assert one["devices"] == ["WIND-1"]
    assert_error(client.get("/ledger/ppas/none", headers=h), 404)


def _hourly_issues(p: Parties, hours: int) -> list[SignedEvent]:
    signer = p.signers["issuer"]
    p.clock.now = HOUR_START + timedelta(hours=hours + 1)  # the ledger's time when sent
    return [
        signer.sign(
            Issue(
                "WIND-1",
                Scheme.ENERGYTAG_GC,
                HOUR_START + timedelta(hours=h),
                HOUR_START + timedelta(hours=h + 1),
                0,
                500_000,
                500_000,
                "alice",
                None,
            ),
            HOUR_START + timedelta(hours=hours + 1),  # issued once every hour has passed
        )
        for h in range(hours)
    ]


def test_a_batch_of_events_is_appended_whole(
    client: TestClient, desk: Desk, parties: Parties
) -> None:
    h = desk.auth("trader")
    events = _hourly_issues(parties, 24)
    body = {"leaves_b64": [base64.b64encode(e.leaf).decode() for e in events]}
    size = parties.store.head()[0]
    r = client.post("/ledger/events/batch", json=body, headers=h)
    assert r.status_code == 201, r.text
    got = r.json()["events"]
    assert [e["index"] for e in got] == list(range(size, size + 24))
    assert [e["leaf_hash_hex"] for e in got] == [e.leaf_hash.hex() for e in events]
    assert not any(e["replayed"] for e in got)
    assert parties.store.head()[0] == size + 24
    certs = client.get("/ledger/certificates?owner=alice&limit=100", headers=h).json()
    assert certs["total"] == 24
    # The same batch again is a retry: nothing is appended.
    again = client.post("/ledger/events/batch", json=body, headers=h)
    assert again.status_code == 201
    assert all(e["replayed"] for e in again.json()["events"])
    assert parties.store.head()[0] == size + 24


def test_a_batch_with_one_bad_event_writes_nothing(
    client: TestClient, desk: Desk, parties: Parties
) -> None:
    h = desk.auth("trader")
    events = _hourly_issues(parties, 5)
    forged = parties.signers["mallory"].sign(events[3].event.body, events[3].event.at)
    leaves = [base64.b64encode(e.leaf).decode() for e in [*events[:3], forged, *events[4:]]]
    before = row_counts(desk.engine)
    err = assert_error(
        client.post("/ledger/events/batch", json={"leaves_b64": leaves}, headers=h), 403
    )
    assert "event 3 of the batch" in err["message"]
    assert row_counts(desk.engine) == before
    for body, status in (
        ({"leaves_b64": []}, 422),
        ({"leaves_b64": ["not base64!"]}, 422),
        ({"leaves_b64": [base64.b64encode(b"\x02junk").decode()]}, 422),
        ({"leaves": leaves}, 422),
    ):
        assert_error(client.post("/ledger/events/batch", json=body, headers=h), status)
    assert_error(
        client.post(
            "/ledger/events/batch", json={"leaves_b64": leaves}, headers=desk.auth("auditor")
        ),
        403,
    )
    assert row_counts(desk.engine) == before


def test_ledger_keys_tell_a_client_its_next_sequence(
    client: TestClient, desk: Desk, parties: Parties
) -> None:
    h = desk.auth("trader")
    listed = client.get("/ledger/keys?limit=100", headers=h).json()
    assert listed["total"] == 5  # operator, issuer, alice, bob, mallory
    by_party = {k["party"]: k for k in listed["items"]}
    assert by_party["issuer"]["roles"] == ["issuer"]
    assert by_party["issuer"]["last_seq"] == 1  # it registered the device
    alice_id = key_id_of(parties.keys["alice"].public_key())
    alice = client.get(f"/ledger/keys/{alice_id}", headers=h).json()
    assert (alice["party"], alice["last_seq"], alice["next_seq"]) == ("alice", 0, 1)
    assert base64.b64decode(alice["public_key_b64"]) == raw_public_key(
        parties.keys["alice"].public_key()
    )
    assert client.get("/ledger/keys?party=alice", headers=h).json()["total"] == 1
    # A client that kept no count signs with the sequence the ledger reports.
    issued = client.post("/ledger/events", json=_leaf(_issue(parties)), headers=h).json()
    bundle = issued["certificates"][0]["bundle_id"]
    signer = EventSigner(parties.keys["alice"], alice["last_seq"])
    moved = client.post(
        "/ledger/events", json=_leaf(signer.sign(Transfer(bundle, "bob"), T0)), headers=h
    )
    assert moved.status_code == 201, moved.text
    assert client.get(f"/ledger/keys/{alice_id}", headers=h).json()["next_seq"] == 2
    assert_error(client.get("/ledger/keys/0000", headers=h), 404, "not_found")
    assert_error(client.get("/ledger/keys"), 401)
