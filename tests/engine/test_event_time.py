"""The log assigns the time (issue 11, defects 1 and 2): an event's ``at`` lies within the
stated skew of the ledger's clock and never before the log head's time, so a signer cannot
backdate into a revoked key's validity or a certificate's life, nor issue for the future; the
offline verifier applies the same rules in log order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.audit.bundle import AuditError, ExportContext, build_bundle, verify_files
from engine.certificates.history import register_key_event
from engine.certificates.keyfiles import create_key, load_private_key, rotate_ledger_key
from engine.certificates.store import (
    DEFAULT_ORIGIN,
    LedgerRejectedError,
    LedgerStore,
    sign_and_append,
)
from engine.core.db import make_engine, migrate
from ledger.errors import EventTimeError, ExpiryError, KeyNotValidError
from ledger.events import Issue, RegisterDevice, RegisterKey, Retire, RevokeKey, Transfer
from ledger.keys import Role, key_id_of
from ledger.merkle import MerkleTree
from ledger.note import Checkpoint, sign_checkpoint
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import MAX_SKEW, LedgerState, bundle_id_for

HOUR = timedelta(hours=1)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # the ledger's clock at the start


@dataclass
class Clock:
    now: datetime = NOW


@dataclass
class Desk:
    store: LedgerStore
    clock: Clock
    op: Ed25519PrivateKey
    home: Path


def _desk(home: Path) -> Desk:
    engine = make_engine(f"sqlite:///{home / 'ledger.db'}")
    migrate(engine)
    create_key(home)
    op = load_private_key(home)
    clock = Clock()
    store = LedgerStore(engine, clock=lambda: clock.now)
    store.initialise(op, NOW)
    sign_and_append(store, op, RegisterDevice("WIND-1", 50_000_000, "wind", "DE-LU", 3600), NOW)
    return Desk(store, clock, op, home)


def _issue(desk: Desk, start: datetime, owner: str, at: datetime) -> str:
    body = Issue("WIND-1", Scheme.ENERGYTAG_GC, start, start + HOUR, 0, 1_000_000, 1_000_000,
                 owner, None)  # fmt: skip
    sign_and_append(desk.store, desk.op, body, at)
    return bundle_id_for("WIND-1", start, 0, 1_000_000)


def _rejected(desk: Desk, key: Ed25519PrivateKey, body: Any, at: datetime) -> Exception:
    size = desk.store.head()[0]
    with pytest.raises(LedgerRejectedError) as info:
        sign_and_append(desk.store, key, body, at)
    assert desk.store.head()[0] == size
    return info.value.error


def test_a_revoked_key_cannot_backdate_into_its_validity(tmp_path: Path) -> None:
    desk = _desk(tmp_path)
    alice2 = Ed25519PrivateKey.generate()
    operator = EventSigner(desk.op, desk.store.last_seq(key_id_of(desk.op.public_key())))
    desk.store.append(register_key_event(operator, alice2, "alice", frozenset({Role.OWNER}), NOW))
    bundle = _issue(desk, NOW - 3 * HOUR, "alice", NOW)
    desk.clock.now = NOW + 2 * HOUR
    revoke = RevokeKey(key_id_of(alice2.public_key()), NOW + HOUR)  # an hour ago
    sign_and_append(desk.store, desk.op, revoke, desk.clock.now)
    assert isinstance(
        _rejected(desk, alice2, Transfer(bundle, "mallory"), desk.clock.now), KeyNotValidError
    )
    # The same with an ``at`` before the revocation, or before the bundle was even issued.
    for at in (NOW + 30 * timedelta(minutes=1), NOW - HOUR):
        error = _rejected(desk, alice2, Transfer(bundle, "mallory"), at)
        assert isinstance(error, EventTimeError), error
    assert desk.store.bundle(bundle).owner == "alice"


def test_no_backdated_retirement_of_an_expired_certificate(tmp_path: Path) -> None:
    desk = _desk(tmp_path)
    desk.clock.now = NOW
    # Produced 13 months ago: its EnergyTag GC expired a month ago.
    old = (NOW - timedelta(days=396)).replace(minute=0)
    bundle = _issue(desk, old, "operator", NOW)
    retire = Retire(bundle, "acme", "dc1", old, old + HOUR, "DE-LU")
    assert isinstance(_rejected(desk, desk.op, retire, NOW), ExpiryError)
    backdated = _rejected(desk, desk.op, retire, old + 2 * HOUR)
    assert isinstance(backdated, EventTimeError)


def test_no_issuance_for_the_future(tmp_path: Path) -> None:
    desk = _desk(tmp_path)
    future = NOW.replace(year=NOW.year + 5)
    body = Issue("WIND-1", Scheme.ENERGYTAG_GC, future, future + HOUR, 0, 1_000_000, 1_000_000,
                 "operator", None)  # fmt: skip
    assert isinstance(_rejected(desk, desk.op, body, future + 2 * HOUR), EventTimeError)
    # Within the skew, but the production interval has not ended.
    soon = NOW.replace(minute=0)
    body = Issue("WIND-1", Scheme.ENERGYTAG_GC, soon, soon + HOUR, 0, 1_000_000, 1_000_000,
                 "operator", None)  # fmt: skip
    assert "after the production interval" in str(_rejected(desk, desk.op, body, NOW))
    # A clock a little off either way is fine.
    _issue(desk, NOW - 2 * HOUR, "operator", NOW + MAX_SKEW - timedelta(seconds=1))
    assert isinstance(
        _rejected(desk, desk.op, body, NOW - MAX_SKEW - timedelta(seconds=1)), EventTimeError
    )


def test_the_retired_operator_key_cannot_backdate_after_rotation(tmp_path: Path) -> None:
    desk = _desk(tmp_path)
    bundle = _issue(desk, NOW - 3 * HOUR, "operator", NOW)
    desk.clock.now = NOW + HOUR
    rotate_ledger_key(desk.home, desk.store, desk.clock.now)
    error = _rejected(desk, desk.op, Transfer(bundle, "mallory"), NOW + 10 * timedelta(minutes=1))
    assert isinstance(error, EventTimeError)
    assert desk.store.bundle(bundle).owner == "operator"


def test_audit_verify_rejects_a_chain_started_by_a_revoked_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 2: after rotation, the retired operator key registers a rogue operator key with a
    backdated ``at``; the rogue key registers a device, issues 900 MWh and signs the checkpoint.
    Trusting the genesis key, the bundle must not verify."""
    desk = _desk(tmp_path)
    op1 = desk.op
    desk.clock.now = NOW + HOUR
    rotate_ledger_key(desk.home, desk.store, desk.clock.now)
    leaves = desk.store.leaves()
    rogue = Ed25519PrivateKey.generate()
    old = EventSigner(op1, desk.store.last_seq(key_id_of(op1.public_key())))
    forged = [
        old.sign(
            RegisterKey(
                key_id_of(rogue.public_key()),
                rogue.public_key().public_bytes_raw(),
                "operator",
                frozenset({Role.OPERATOR, Role.ISSUER, Role.OWNER}),
                NOW,
                None,
            ),
            NOW + 30 * timedelta(minutes=1),  # before the revocation at NOW + 1 h
        )
    ]
    r = EventSigner(rogue)
    forged.append(r.sign(RegisterDevice("FAKE-1", 10**12, "wind", "DE-LU", 3600), NOW + 2 * HOUR))
    start = NOW.replace(minute=0) - HOUR
    forged.append(
        r.sign(
            Issue(
                "FAKE-1",
                Scheme.ENERGYTAG_GC,
                start,
                start + HOUR,
                0,
                900_000_000_000,
                900_000_000_000,
                "operator",
                None,
            ),
            NOW + 2 * HOUR,
        )
    )
    all_leaves = [*leaves, *(s.leaf for s in forged)]
    tree = MerkleTree([hashlib.sha256(b"\x00" + x).digest() for x in all_leaves])
    note = sign_checkpoint(
        Checkpoint(DEFAULT_ORIGIN, tree.size, tree.root()), DEFAULT_ORIGIN, rogue
    )

    class NoCheckpoints:
        def checkpoints(self) -> list[tuple[int, str]]:
            return []

    def bundle_files() -> dict[str, bytes]:
        return build_bundle(ExportContext(NoCheckpoints(), rogue, tree, note, all_leaves))

    # Under the old rules (the signer's time trusted) the forgery verifies...
    with monkeypatch.context() as m:
        original = LedgerState.apply

        def trusting(self: LedgerState, *args: Any, **kwargs: Any) -> Any:
            self.head_time = None
            return original(self, *args, **kwargs)

        m.setattr(LedgerState, "apply", trusting)
        files = bundle_files()
        assert verify_files(files, op1.public_key()).checkpoint is not None
    # ...under the log's time it does not.
    with pytest.raises(AuditError, match="before the log head's time"):
        verify_files(files, op1.public_key())
