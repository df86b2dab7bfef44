"""Rotating the ledger operator's key: the log records the hand-over, certificates stay usable,
checkpoints before and after verify, an interrupted rotation finishes, and an auditor may trust
either the genesis key or the current one, never a revoked key's late signature."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.audit.bundle import (
    MANIFEST,
    AuditError,
    canonical_json,
    export_bundle,
    read_bundle,
    verify_files,
)
from engine.certificates.keyfiles import create_key, key_path, load_private_key, rotate_ledger_key
from engine.certificates.store import LedgerRejectedError, LedgerStore, sign_and_append
from engine.core.db import make_engine, migrate
from engine.core.errors import ConflictError
from ledger.events import Issue, Kind, RegisterDevice, Retire, decode_leaf
from ledger.keys import key_id_of
from ledger.note import Checkpoint, sign_checkpoint
from ledger.schemes import Scheme
from ledger.state import Status, bundle_id_for

pytestmark = pytest.mark.usefixtures("historical_ledger")

T0 = datetime(2026, 3, 29, 0, tzinfo=UTC)  # the spring DST day in DE-LU
HOUR = timedelta(hours=1)


def _ledger(home: Path) -> tuple[LedgerStore, Ed25519PrivateKey]:
    engine = make_engine(f"sqlite:///{home / 'ledger.db'}")
    migrate(engine)
    create_key(home)
    op1 = load_private_key(home)
    store = LedgerStore(engine)
    store.initialise(op1, T0)
    sign_and_append(store, op1, RegisterDevice("WIND-1", 50_000_000, "wind", "DE-LU", 3600), T0)
    issue = Issue("WIND-1", Scheme.ENERGYTAG_GC, T0, T0 + HOUR, 0, 1_000_000, 1_000_000,
                  "operator", None)  # fmt: skip
    sign_and_append(store, op1, issue, T0 + HOUR)
    store.checkpoint(op1)  # an earlier checkpoint, signed by the first key
    return store, op1


def test_rotation_hands_the_log_to_a_new_key(tmp_path: Path) -> None:
    store, op1 = _ledger(tmp_path)
    size = store.head()[0]
    old_id, new_id = rotate_ledger_key(tmp_path, store, T0 + 2 * HOUR)
    op2 = load_private_key(tmp_path)
    assert old_id == key_id_of(op1.public_key())
    assert new_id == key_id_of(op2.public_key()) != old_id
    assert store.head()[0] == size + 2
    assert store.head()[2] == new_id
    kinds = [decode_leaf(x).event.body.KIND for x in store.leaves(size, size + 2)]
    assert kinds == [Kind.REGISTER_KEY, Kind.REVOKE_KEY]
    retired = tmp_path / "keys" / "retired" / f"ledger-{old_id}.pem"
    assert retired.stat().st_mode & 0o777 == 0o600
    assert not key_path(tmp_path, "ledger.next").exists()
    # Only the new key signs checkpoints and events now.
    with pytest.raises(ConflictError, match="operator key"):
        store.checkpoint(op1)
    store.checkpoint(op2)
    bundle = bundle_id_for("WIND-1", T0, 0, 1_000_000)
    retire = Retire(bundle, "operator", "example-dc", T0, T0 + HOUR, "DE-LU")
    with pytest.raises(LedgerRejectedError, match="not valid"):
        sign_and_append(store, op1, retire, T0 + 3 * HOUR)
    # The certificate issued under the old key belongs to the party: the new key retires it.
    sign_and_append(store, op2, retire, T0 + 3 * HOUR)
    assert store.bundle(bundle).status is Status.RETIRED
    # The store opens with the new key as before (initialise is a no-op for it).
    assert store.initialise(op2, T0 + 4 * HOUR) is False
    with pytest.raises(ConflictError):
        store.initialise(op1, T0 + 4 * HOUR)


def test_bundle_verifies_with_the_genesis_or_the_current_key(tmp_path: Path) -> None:
    store, op1 = _ledger(tmp_path)
    rotate_ledger_key(tmp_path, store, T0 + 2 * HOUR)
    op2 = load_private_key(tmp_path)
    files = export_bundle(store, op2, tmp_path / "bundle")
    proofs = json.loads(files["proofs.json"])
    assert [c["from_size"] for c in proofs["consistency"]] == [3]  # signed by the old key
    for trusted in (op1, op2):
        ctx = verify_files(read_bundle(tmp_path / "bundle"), trusted.public_key())
        assert ctx.checkpoint is not None
        assert ctx.checkpoint.size == store.head()[0]
    stranger = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(AuditError, match="not the ledger's genesis key"):
        verify_files(files, stranger)


def _with_checkpoint(files: dict[str, bytes], note: str) -> dict[str, bytes]:
    """The bundle with another checkpoint and a manifest rebuilt over it, as a forger would."""
    changed = {k: v for k, v in files.items() if k != MANIFEST}
    changed["checkpoint"] = note.encode()
    manifest = json.loads(files[MANIFEST])
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(changed.items())}
    changed[MANIFEST] = canonical_json(manifest)
    return changed


def test_a_revoked_key_cannot_sign_a_later_checkpoint(tmp_path: Path) -> None:
    store, op1 = _ledger(tmp_path)
    rotate_ledger_key(tmp_path, store, T0 + 2 * HOUR)
    op2 = load_private_key(tmp_path)
    files = export_bundle(store, op2, tmp_path / "bundle")
    size, origin, _ = store.head()
    late = sign_checkpoint(Checkpoint(origin, size, store.snapshot(size).root()), origin, op1)
    forged = _with_checkpoint(files, late)
    # Trusting the genesis key: its late signature is not from an operator key of that size.
    with pytest.raises(AuditError, match="not signed by an operator key of the log at its size"):
        verify_files(forged, op1.public_key())
    # Trusting the current key: it did not sign this checkpoint.
    with pytest.raises(AuditError, match="no signature verifies with the given public key"):
        verify_files(forged, op2.public_key())
    assert verify_files(files, op1.public_key()).checkpoint is not None


def test_an_interrupted_rotation_finishes_when_run_again(tmp_path: Path) -> None:
    store, op1 = _ledger(tmp_path)
    # The new key was written and the log committed, then the process stopped before the files
    # were swapped.
    create_key(tmp_path, "ledger.next")
    op2 = load_private_key(tmp_path, "ledger.next")
    assert store.rotate_operator(op1, op2, T0 + 2 * HOUR) is not None
    size = store.head()[0]
    assert load_private_key(tmp_path).public_key() == op1.public_key()
    old_id, new_id = rotate_ledger_key(tmp_path, store, T0 + 3 * HOUR)
    assert (old_id, new_id) == (key_id_of(op1.public_key()), key_id_of(op2.public_key()))
    assert store.head()[0] == size  # nothing appended twice
    assert load_private_key(tmp_path).public_key() == op2.public_key()
    # A second rotation is a new one.
    _, third = rotate_ledger_key(tmp_path, store, T0 + 4 * HOUR)
    assert third not in {old_id, new_id}
    assert store.head()[0] == size + 2
    files = export_bundle(store, load_private_key(tmp_path), tmp_path / "bundle")
    assert verify_files(files, op1.public_key()).checkpoint is not None


def test_rotation_refuses_a_foreign_key(tmp_path: Path) -> None:
    store, op1 = _ledger(tmp_path)
    size = store.head()[0]
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(ConflictError, match="operator key is"):
        store.rotate_operator(stranger, Ed25519PrivateKey.generate(), T0 + 2 * HOUR)
    with pytest.raises(ConflictError, match="current one"):
        store.rotate_operator(op1, op1, T0 + 2 * HOUR)
    assert store.head()[0] == size


def test_keys_rotate_cli_and_audit_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import main
    from engine.certificates.keyfiles import public_pem

    home = tmp_path / "home"
    monkeypatch.setenv("POWERDESK_HOME", str(home))
    monkeypatch.delenv("POWERDESK_DATABASE_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        out = capsys.readouterr()
        return int(done.value.code or 0), out.out, out.err.strip()

    code, _, err = run("keys", "rotate")
    assert code == 1
    assert "\n" not in err
    assert "no key ledger" in err
    assert run("keys", "create")[0] == 0
    code, _, err = run("keys", "rotate")  # no ledger yet: nothing written
    assert code == 1
    assert "not initialised" in err or "no events yet" in err
    assert not key_path(home, "ledger.next").exists()
    assert run("ledger", "init")[0] == 0
    first = load_private_key(home)
    code, out, err = run("keys", "rotate")
    assert code == 0, err
    result = json.loads(out)
    assert result["old_key_id"] == key_id_of(first.public_key())
    assert result["log_size"] == 3
    assert Path(result["retired_key"]).is_file()
    assert run("audit", "export", "--out", str(tmp_path / "bundle"))[0] == 0
    for key in (first, load_private_key(home)):
        pem = tmp_path / f"{key_id_of(key.public_key())}.pem"
        pem.write_text(public_pem(key))
        code, out, err = run("audit", "verify", str(tmp_path / "bundle"), "--public-key", str(pem))
        assert code == 0, err
        assert json.loads(out)["tree_size"] == 3


def test_trusting_a_later_key_that_was_rotated_out_too(tmp_path: Path) -> None:
    store, op1 = _ledger(tmp_path)
    rotate_ledger_key(tmp_path, store, T0 + 2 * HOUR)
    op2 = load_private_key(tmp_path)
    rotate_ledger_key(tmp_path, store, T0 + 3 * HOUR)
    op3 = load_private_key(tmp_path)
    files = export_bundle(store, op3, tmp_path / "bundle")
    for trusted in (op1, op3):
        assert verify_files(files, trusted.public_key()).checkpoint is not None
    # op2 signed nothing of this size: it is no key to trust for it ...
    with pytest.raises(AuditError, match="no signature verifies with the given public key"):
        verify_files(files, op2.public_key())
    # ... and its own late signature names it, but it was rotated out before that size.
    size, origin, _ = store.head()
    late = sign_checkpoint(Checkpoint(origin, size, store.snapshot(size).root()), origin, op2)
    with pytest.raises(AuditError, match="given public key is not an operator key"):
        verify_files(_with_checkpoint(files, late), op2.public_key())
