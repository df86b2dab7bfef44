"""PostgreSQL: 32 workers racing conflicting transfers and retirements of the same certificates."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.certificates.history import HourlyScenario, register_key_event
from engine.certificates.store import LedgerRejectedError, LedgerStore
from engine.core.db import make_engine, migrate
from ledger.events import Issue, Retire, SignedEvent, Transfer, decode_leaf
from ledger.keys import Role, raw_public_key
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import Status, bundle_id_for, replay

pytestmark = pytest.mark.usefixtures("historical_ledger")

START = datetime(2026, 3, 29, tzinfo=UTC)
WORKERS = 32
UNITS = 8


@pytest.mark.postgres
def test_racing_workers_give_one_success_per_unit(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=WORKERS, max_overflow=4)
    migrate(engine)
    store = LedgerStore(engine)
    s = HourlyScenario(1, START, 0)
    setup = s.setup_events()
    store.initialise(s.operator.private_key, START)
    store.append_many(setup[1:])
    # Every worker has its own key for the owning party "buyer".
    signers = [EventSigner(Ed25519PrivateKey.generate()) for _ in range(WORKERS)]
    store.append_many(
        [
            register_key_event(s.operator, w.private_key, "buyer", frozenset({Role.OWNER}), START)
            for w in signers
        ]
    )
    bundles = []
    for h in range(UNITS):
        start = START + timedelta(hours=h)
        end = start + timedelta(hours=1)
        issue = Issue("DEV-0", Scheme.ENERGYTAG_GC, start, end, 0, 1000, 1000, "buyer", None)
        store.append(s.issuer.sign(issue, START + timedelta(days=1)))
        bundles.append(bundle_id_for("DEV-0", start, 0, 1000))
    at = START + timedelta(days=1)
    # Each worker tries, for every unit, a transfer or a retirement (pre-signed, in its key's
    # sequence order; a rejected event leaves a gap, so each worker re-signs on rejection).
    wins: dict[str, list[int]] = {b: [] for b in bundles}
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    # Threads do not inherit the historical context: the workers' ledger clock is ``at``.
    racing = LedgerStore(engine, clock=lambda: at)

    def work(n: int) -> None:
        signer = signers[n]
        try:
            barrier.wait()
            for u, bundle in enumerate(bundles):
                body = (
                    Transfer(bundle, f"other-{n}")
                    if (n + u) % 2
                    else Retire(bundle, "buyer", "dc", at, at + timedelta(hours=1), "DE-LU")
                )
                signed: SignedEvent = signer.sign(body, at, f"w{n}-u{u}")
                try:
                    result = racing.append(signed)
                except LedgerRejectedError:
                    signer.last_seq -= 1
                    continue
                wins[bundle].append(n)
                # Idempotent retry: same event again returns the original index.
                again = racing.append(signed.leaf)
                assert again.replayed
                assert again.index == result.index
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(w) == 1 for w in wins.values()), wins
    for bundle in bundles:
        assert store.bundle(bundle).status in {Status.RETIRED, Status.ACTIVE}
    state = replay(
        raw_public_key(s.operator.private_key.public_key()),
        [decode_leaf(x) for x in store.leaves()],
    )
    state.check_conservation()
    assert {b.bundle_id: b for b in store.bundles()} == state.bundles
    assert store.head()[0] == state.size == 3 + 1 + WORKERS + UNITS + UNITS
    engine.dispose()
