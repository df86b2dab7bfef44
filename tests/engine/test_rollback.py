"""``audit verify --after CHECKPOINT``: a bundle whose log does not extend a checkpoint the auditor
kept (rolled back to an earlier size, or forked) fails (issue 11, "also close": rollback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cli import main
from engine.audit.bundle import AuditError, export_bundle, verify_after, verify_bundle
from engine.certificates.history import HourlyScenario
from engine.certificates.store import LedgerStore
from engine.core.db import make_engine, migrate
from ledger.events import RegisterDevice
from ledger.signer import EventSigner
from tests.engine.test_ledger_store import START

pytestmark = pytest.mark.usefixtures("historical_ledger")


def _store(path: Path, hours: int) -> tuple[LedgerStore, HourlyScenario]:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = LedgerStore(engine)
    s = HourlyScenario(1, START, hours)
    store.initialise(s.operator.private_key, START)
    store.append_many(s.setup_events()[1:])
    return store, s


def test_a_rolled_back_or_forked_bundle_fails_after_the_kept_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, s = _store(tmp_path / "a.db", 4)
    setup = store.leaves(1, store.head()[0])
    events = list(s.hourly_events())
    store.append_many(events[:4])
    old = export_bundle(store, s.operator.private_key, tmp_path / "old")
    store.append_many(events[4:])
    new = export_bundle(store, s.operator.private_key, tmp_path / "new")
    public = s.operator.private_key.public_key()
    kept_old, kept_new = old["checkpoint"].decode(), new["checkpoint"].decode()
    # The log grew: the new bundle extends the checkpoint kept from the old one.
    ctx = verify_bundle(tmp_path / "new", public, workers=1)
    assert verify_after(ctx, kept_old).size < ctx.log.size  # type: ignore[union-attr]
    assert verify_after(ctx, kept_new).size == ctx.log.size  # type: ignore[union-attr]
    # Rolled back: the old bundle verifies on its own, but not after the newer checkpoint.
    old_ctx = verify_bundle(tmp_path / "old", public, workers=1)
    with pytest.raises(AuditError, match="rolled back"):
        verify_after(old_ctx, kept_new)
    # Forked: another log of the same operator, at least as long, with other leaves.
    other = LedgerStore(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))
    migrate(other.engine)
    other.initialise(s.operator.private_key, START)
    other.append_many(setup)
    issuer = EventSigner(s.issuer.private_key, other.last_seq(s.issuer.key_id))
    other.append(issuer.sign(RegisterDevice("FORK-1", 1_000_000, "pv", "DE-LU", 3600), START))
    owner = EventSigner(s.owner.private_key, other.last_seq(s.owner.key_id))
    for e in events:
        body, at = e.event.body, e.event.at
        signer = issuer if e.event.key_id == s.issuer.key_id else owner
        other.append(signer.sign(body, at))
    export_bundle(other, s.operator.private_key, tmp_path / "fork")
    fork_ctx = verify_bundle(tmp_path / "fork", public, workers=1)
    with pytest.raises(AuditError, match="forked"):
        verify_after(fork_ctx, kept_old)
    # The CLI: one line, exit 1.
    key = tmp_path / "ledger.pub.pem"
    key.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    kept = tmp_path / "kept-checkpoint"
    kept.write_text(kept_new, encoding="utf-8")
    argv = ["audit", "verify", str(tmp_path / "old"), "--public-key", str(key), "--workers", "1"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--after", str(kept)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "rolled back" in err
    with pytest.raises(SystemExit) as info:
        main([*argv[:2], str(tmp_path / "new"), *argv[3:], "--after", str(kept)])
    assert info.value.code == 0
    assert json.loads(capsys.readouterr().out)["after"]["size"] == ctx.log.size  # type: ignore[union-attr]
