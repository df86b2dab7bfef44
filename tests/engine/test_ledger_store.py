"""Ledger persistence on SQLite: atomic appends, idempotent retries, state equals replay; audit
bundles export, verify, and catch every single-byte change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from engine.audit.bundle import AuditError, export_bundle, read_bundle, verify_files
from engine.certificates.history import HourlyScenario
from engine.certificates.store import T_BUNDLE, T_EVENT, LedgerRejectedError, LedgerStore
from engine.core.db import make_engine, migrate
from engine.core.errors import ConflictError
from ledger.errors import InvalidTransitionError, StaleSequenceError
from ledger.events import Retire, Transfer
from ledger.keys import raw_public_key
from ledger.state import Status, bundle_id_for, replay

pytestmark = pytest.mark.usefixtures("historical_ledger")

START = datetime(2026, 10, 25, tzinfo=UTC)  # DE-LU autumn DST day (25 local hours)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(e)
    return e


def _loaded(engine: Engine, sites: int = 2, hours: int = 3) -> tuple[LedgerStore, HourlyScenario]:
    store = LedgerStore(engine)
    s = HourlyScenario(sites, START, hours)
    setup = s.setup_events()
    assert store.initialise(s.operator.private_key, START)
    store.append_many(setup[1:])
    store.append_many(list(s.hourly_events()))
    return store, s


def test_database_state_equals_replay_of_the_log(engine: Engine) -> None:
    store, s = _loaded(engine)
    from ledger.events import decode_leaf

    state = replay(
        raw_public_key(s.operator.private_key.public_key()),
        [decode_leaf(x) for x in store.leaves()],
    )
    state.check_conservation()
    assert {b.bundle_id: b for b in store.bundles()} == state.bundles
    assert {(c.device, c.interval_start): c for c in store.cells()} == state.cells
    assert store.head()[0] == state.size == 3 + 2 + 2 * 2 * 3


def test_rejected_batch_writes_nothing(engine: Engine) -> None:
    store, s = _loaded(engine)
    bundle = bundle_id_for("DEV-0", START, 0, s.energy_wh)
    size = store.head()[0]
    ok = s.owner.sign(Transfer(bundle_id_for("DEV-1", START, 0, 1), "x"), START)
    bad = s.owner.sign(Transfer(bundle, "x"), START)  # retired already
    with pytest.raises(LedgerRejectedError) as info:
        store.append_many([ok, bad])
    assert isinstance(info.value.error, Exception)
    assert store.head()[0] == size
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T_EVENT)).scalar_one() == size
    assert store.bundle(bundle).status is Status.RETIRED


def test_idempotent_retry_applies_once(engine: Engine) -> None:
    store, s = _loaded(engine, hours=1)
    s.owner.last_seq = store.last_seq(s.owner.key_id)
    start = START + timedelta(hours=1)
    from ledger.events import Issue
    from ledger.schemes import Scheme

    issue = s.issuer.sign(
        Issue("DEV-0", Scheme.EECS_GO, start, start + timedelta(hours=1), 0, 10, 10, "buyer", None),
        START + timedelta(hours=3),
    )
    first = store.append(issue)
    again = store.append(issue.leaf)
    assert again.replayed
    assert (again.index, again.leaf_hash) == (first.index, first.leaf_hash)
    assert store.head()[0] == first.index + 1
    # Same idempotency key, different content: a conflict, not a replay.
    s.issuer.last_seq -= 1
    other = s.issuer.sign(
        Issue("DEV-1", Scheme.EECS_GO, start, start + timedelta(hours=1), 0, 10, 10, "buyer", None),
        START + timedelta(hours=3),
        issue.event.idempotency_key,
    )
    with pytest.raises(ConflictError, match="idempotency key"):
        store.append(other)
    # A fresh key re-using a spent sequence number is stale.
    s.issuer.last_seq -= 1
    stale = s.issuer.sign(Transfer("x", "y"), START + timedelta(hours=3), "fresh-key")
    with pytest.raises(LedgerRejectedError) as info:
        store.append(stale)
    assert isinstance(info.value.error, StaleSequenceError)


def test_double_retirement_is_rejected(engine: Engine) -> None:
    store, s = _loaded(engine, sites=1, hours=1)
    bundle = bundle_id_for("DEV-0", START, 0, s.energy_wh)
    retire = Retire(bundle, "b", "site-0", START, START + timedelta(hours=1), "DE-LU")
    with pytest.raises(LedgerRejectedError) as info:
        store.append(s.owner.sign(retire, START + timedelta(hours=2)))
    assert isinstance(info.value.error, InvalidTransitionError)
    with engine.connect() as conn:
        q = select(func.count()).select_from(T_BUNDLE).where(T_BUNDLE.c.status == "retired")
        assert conn.execute(q).scalar_one() == 1


def test_checkpoints_proofs_and_bundle_roundtrip(engine: Engine, tmp_path: Path) -> None:
    store, s = _loaded(engine)
    op = s.operator.private_key
    first = store.checkpoint(op)
    assert store.checkpoint(op) == first  # same size: the stored note
    s.owner.last_seq = store.last_seq(s.owner.key_id)
    s.issuer.last_seq = store.last_seq(s.issuer.key_id)
    store.append_many(list(s.hourly_events(range(3, 5))))
    files = export_bundle(store, op, tmp_path / "bundle")
    assert read_bundle(tmp_path / "bundle") == files
    ctx = verify_files(files, op.public_key())
    assert ctx.checkpoint is not None
    assert ctx.checkpoint.size == store.head()[0]
    assert b'"consistency":[{"from_checkpoint"' in files["proofs.json"]
    with pytest.raises(AuditError, match="public key"):
        verify_files(files, Ed25519PrivateKey.generate().public_key())


def test_every_single_byte_change_of_a_bundle_is_caught(engine: Engine) -> None:
    store, s = _loaded(engine, sites=1, hours=1)
    op = s.operator.private_key
    store.checkpoint(op)
    from engine.audit.bundle import ExportContext, build_bundle

    size = store.head()[0]
    ctx = ExportContext(store, op, store.snapshot(), store.checkpoint(op), store.leaves())
    files = build_bundle(ctx)
    verify_files(files, op.public_key())
    checked = 0
    for name, data in files.items():
        for i in range(len(data)):
            tampered = bytearray(data)
            tampered[i] = (tampered[i] + 1) % 256
            changed = {**files, name: bytes(tampered)}
            with pytest.raises(AuditError):
                verify_files(changed, op.public_key())
            if name != "manifest.json":
                # An attacker would also fix the manifest's hashes: the content checks catch it.
                with pytest.raises(AuditError):
                    verify_files(_with_manifest(changed), op.public_key())
            checked += 1
    assert size == 6
    assert checked == sum(len(d) for d in files.values())


def _with_manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    import hashlib
    import json

    from engine.audit.bundle import canonical_json

    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {
        n: hashlib.sha256(d).hexdigest() for n, d in files.items() if n != "manifest.json"
    }
    return {**files, "manifest.json": canonical_json(manifest)}


def test_parallel_verification_agrees_with_inline(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    import engine.audit.bundle as audit
    from engine.audit.bundle import ExportContext, build_bundle

    store, s = _loaded(engine, sites=3, hours=4)
    op = s.operator.private_key
    files = build_bundle(
        ExportContext(store, op, store.snapshot(), store.checkpoint(op), store.leaves())
    )
    monkeypatch.setattr(audit, "_CHUNK_BYTES", 3000)  # several chunks of a few lines
    entries = files["entries.jsonl"]
    forged = entries.replace(b'"site":"site-2"', b'"site":"site-9"', 1)
    with ProcessPoolExecutor(2) as pool:
        inline = verify_files(files, op.public_key())
        parallel = verify_files(files, op.public_key(), pool=pool)
        assert parallel.log is not None
        assert inline.log is not None
        assert parallel.log.root == inline.log.root
        assert parallel.log.state.bundles == inline.log.state.bundles
        with pytest.raises(AuditError, match=r"entries\.jsonl line"):
            verify_files(
                _with_manifest({**files, "entries.jsonl": forged}), op.public_key(), pool=pool
            )
