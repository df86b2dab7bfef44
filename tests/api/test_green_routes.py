"""Green-electricity contracts and unbundled GEC purchases through the API: the parties sign the
plan's events themselves; the server appends them only if they are the plan."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.certificates.history import register_key_event
from engine.certificates.keyfiles import create_key, load_private_key
from engine.certificates.ppa_delivery import ensure_device, issue_month
from engine.certificates.service import ledger_store
from ledger.events import event_from_json, format_time, sign_event
from ledger.green import month_interval
from ledger.keys import Role, key_id_of
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from tests.api.conftest import Desk, TestClient, assert_error, row_counts
from tests.api.test_ledger_routes import Clock, use_clock
from tests.engine.test_green_power import CONTRACT, PURCHASE, STATEMENT

AT = datetime(2024, 7, 15, 10, tzinfo=UTC)


class Parties:
    def __init__(self, desk: Desk, client: TestClient) -> None:
        home = desk.settings.home
        create_key(home)
        self.clock = Clock(AT)
        use_clock(client, self.clock)
        self.store = ledger_store(desk.engine, home, clock=lambda: self.clock.now)
        operator = load_private_key(home)
        op = EventSigner(operator, self.store.last_seq(key_id_of(operator.public_key())))
        self.keys = {
            p: Ed25519PrivateKey.generate()
            for p in ("gec-registry", "hexi-wind", "gansu-dc", "mallory")
        }
        for party, key in self.keys.items():
            role = Role.ISSUER if party == "gec-registry" else Role.OWNER
            self.store.append(register_key_event(op, key, party, frozenset({role}), AT))
        registry = self.keys["gec-registry"]
        ensure_device(self.store, registry, "GS-WIND-1", 200_000_000, "wind", "CN-GS", AT)
        start, end = month_interval("2024-06")
        issue_month(
            self.store, registry, "GS-WIND-1", Scheme.CHINA_GEC, start, end, 5_000_400_000,
            "hexi-wind", "GEC-202406", AT, "gec:2024-06",
        )  # fmt: skip

    def sign(
        self, planned: list[dict[str, Any]], party_of: dict[str, str] | None = None
    ) -> list[str]:
        """Sign each planned event with its party's key (or another party's, to forge)."""
        seqs: dict[str, int] = {}
        out = []
        for e in planned:
            party = (party_of or {}).get(e["party"], e["party"])
            key = self.keys[party]
            key_id = key_id_of(key.public_key())
            seqs[key_id] = seqs.get(key_id, self.store.last_seq(key_id)) + 1
            event = event_from_json(
                {
                    "v": 1,
                    "kind": e["kind"],
                    "at": format_time(AT),
                    "key_id": key_id,
                    "seq": seqs[key_id],
                    "idem": e["idem"],
                    "body": e["body"],
                }
            )
            out.append(base64.b64encode(sign_event(event, key).leaf).decode())
        return out


@pytest.fixture
def parties(desk: Desk, client: TestClient) -> Parties:
    return Parties(desk, client)


def test_a_statement_and_a_purchase_through_the_api(
    client: TestClient, desk: Desk, parties: Parties
) -> None:
    h = desk.auth("trader")
    made = client.post("/ledger/green-contracts", json={"contract_toml": CONTRACT}, headers=h)
    assert made.status_code == 201, made.text
    assert made.json()["plant"] == "GS-WIND-1"
    listed = client.get("/ledger/green-contracts", headers=desk.auth("auditor")).json()
    assert [c["id"] for c in listed] == ["GT-HEXI-2024-06"]
    url = "/ledger/green-contracts/GT-HEXI-2024-06/statements"
    plan = client.post(f"{url}/plan", json={"statement_toml": STATEMENT}, headers=h).json()
    assert plan["result"]["payment"] == "781500.00"
    kinds = [e["kind"] for e in plan["events"]]
    assert kinds == ["split", "transfer_bundled", "retire"]
    # Signed by someone else than the plant's owner: refused, nothing written.
    before = row_counts(desk.engine)
    forged = parties.sign(plan["events"], {"hexi-wind": "mallory"})
    body = {"statement_toml": STATEMENT, "leaves_b64": forged}
    assert_error(client.post(url, json=body, headers=h), 422, "invalid_request")
    assert row_counts(desk.engine) == before
    # Without signed events: refused.
    assert_error(client.post(url, json={"statement_toml": STATEMENT}, headers=h), 422)
    leaves = parties.sign(plan["events"])
    body = {"statement_toml": STATEMENT, "leaves_b64": leaves}
    done = client.post(url, json=body, headers=h)
    assert done.status_code == 201, done.text
    assert done.json()["replayed"] is False
    assert len(done.json()["ledger_indexes"]) == 3
    again = client.post(url, json=body, headers=h)
    assert again.json()["replayed"] is True
    # The bundled GECs are the buyer's, retired, bound to the contract.
    got = client.get(
        "/ledger/certificates", params={"owner": "gansu-dc"}, headers=desk.auth("auditor")
    ).json()["items"]
    assert {(c["status"], c["energy_wh"]) for c in got} == {("retired", 2500 * 10**6)}
    # An unbundled purchase the same way.
    p = client.post("/ledger/gec-purchases/plan", json={"purchase_toml": PURCHASE}, headers=h)
    events = p.json()["events"]
    assert [e["kind"] for e in events] == ["split", "transfer", "retire"]
    bought = client.post(
        "/ledger/gec-purchases",
        json={"purchase_toml": PURCHASE, "leaves_b64": parties.sign(events)},
        headers=h,
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["result"]["cost"] == "4200.00"


def test_green_writes_need_a_trader_key(client: TestClient, desk: Desk, parties: Parties) -> None:
    response = client.post(
        "/ledger/green-contracts", json={"contract_toml": CONTRACT}, headers=desk.auth("auditor")
    )
    assert_error(response, 403)
    bad = CONTRACT.replace("energy_mwh = 3000", "energy_mwh = -1")
    response = client.post(
        "/ledger/green-contracts", json={"contract_toml": bad}, headers=desk.auth("trader")
    )
    assert_error(response, 422, "invalid_input")
