"""``powerdesk bench ledger``: ingestion rate on SQLite and offline audit verification time.

Signing is the clients' job, so events are signed before the clock starts (on a process pool).
Ingestion includes decoding, canonical-form and signature verification, the state machine and the
SQLite transaction. Audit verification runs on an exported bundle held in memory.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from engine.certificates.history import HourlyScenario
from ledger.signer import EventSigner

START = datetime(2025, 1, 1, tzinfo=UTC)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _load(pem: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(pem, None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _sign_hours(args: tuple[int, int, int, int, list[bytes], int, bool]) -> list[bytes]:
    """Worker: sign hours [h0, h1) of a scenario (sequence numbers follow from the hour)."""
    sites, hours, h0, h1, pems, setup_issuer_seq, batch = args
    operator, issuer, owner = (_load(p) for p in pems)
    scenario = HourlyScenario(
        sites,
        START,
        hours,
        operator=EventSigner(operator),
        issuer=EventSigner(issuer, setup_issuer_seq + h0 * sites),
        owner=EventSigner(owner, h0 * sites),
        batch=batch,
    )
    return [e.leaf for e in scenario.hourly_events(range(h0, h1))]


def signed_scenario(
    sites: int, hours: int, workers: int = 2, *, batch: bool = False
) -> tuple[HourlyScenario, list[bytes]]:
    """Leaves of a whole scenario (setup + hourly), signed on ``workers`` processes."""
    scenario = HourlyScenario(sites, START, hours, batch=batch)
    setup = [e.leaf for e in scenario.setup_events()]
    pems = [_pem(s.private_key) for s in (scenario.operator, scenario.issuer, scenario.owner)]
    step = max(1, -(-hours // (workers * 8)))
    jobs = [
        (sites, hours, h0, min(hours, h0 + step), pems, scenario.issuer.last_seq, batch)
        for h0 in range(0, hours, step)
    ]
    leaves = list(setup)
    with ProcessPoolExecutor(workers) as pool:
        for part in pool.map(_sign_hours, jobs):
            leaves.extend(part)
    return scenario, leaves


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_ingest(
    events: int = 20_000, batch: int = 1_000, *, signed_batches: bool = False
) -> dict[str, Any]:
    """Events/s appended to a fresh SQLite ledger (verification + state + log, batched)."""
    from engine.certificates.store import LedgerStore, historical_time
    from engine.core.db import make_engine, migrate

    sites = 10
    scenario, leaves = signed_scenario(sites, max(1, events // (2 * sites)), batch=signed_batches)
    # A recorded history is ingested: each event is judged at its own time (no clock).
    with tempfile.TemporaryDirectory() as tmp, historical_time():
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate(engine)
        store = LedgerStore(engine)
        store.initialise(scenario.operator.private_key, START)  # the same leaf 0
        store.append_many(leaves[1 : 3 + sites])  # keys, devices
        body = leaves[3 + sites :]
        t0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(0, len(body), batch):
            store.append_many(body[i : i + batch])
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        size = store.head()[0]
        engine.dispose()
    return {
        "ingest_signing": "hourly-batch" if signed_batches else "per-event",
        "ingest_events": len(body),
        "ingest_batch": batch,
        "ingest_s": round(elapsed, 3),
        "ingest_events_per_s": round(len(body) / elapsed),
        "ingest_events_per_cpu_s": round(len(body) / cpu),
        "log_size": size,
    }


def bench_verify(
    sites: int = 50, hours: int = 8760, workers: int = 2, *, signed_batches: bool = True
) -> dict[str, Any]:
    """Seconds to verify an in-memory audit bundle of ``sites`` × ``hours`` issue+retire."""
    from engine.audit.bundle import ExportContext, build_bundle, verify_files
    from ledger.merkle import MerkleTree, leaf_hash
    from ledger.note import Checkpoint, sign_checkpoint

    t0 = time.perf_counter()
    scenario, leaves = signed_scenario(sites, hours, workers, batch=signed_batches)
    sign_s = time.perf_counter() - t0
    operator = scenario.operator.private_key
    tree = MerkleTree([leaf_hash(x) for x in leaves])
    note = sign_checkpoint(Checkpoint("bench", tree.size, tree.root()), "bench", operator)

    class _NoCheckpoints:
        def checkpoints(self) -> list[tuple[int, str]]:
            return []

    ctx = ExportContext(_NoCheckpoints(), operator, tree, note, leaves, {"inclusion_every": 439})
    files = build_bundle(ctx)
    del tree, ctx
    t0 = time.perf_counter()
    cpu0, children0 = time.process_time(), _children_cpu()
    with ProcessPoolExecutor(workers) as pool:
        result = verify_files(files, operator.public_key(), pool=pool)
    verify_s = time.perf_counter() - t0
    cpu_main = time.process_time() - cpu0
    cpu_workers = _children_cpu() - children0
    assert result.log is not None
    return {
        "verify_signing": "hourly-batch" if signed_batches else "per-event",
        "verify_sites": sites,
        "verify_hours": hours,
        "verify_leaves": len(leaves),
        "verify_bundle_mb": round(sum(len(v) for v in files.values()) / 1e6, 1),
        "verify_workers": workers,
        "verify_s": round(verify_s, 2),
        "verify_cpu_main_s": round(cpu_main, 2),
        "verify_cpu_workers_s": round(cpu_workers, 2),
        # What the wall time would be with the machine to itself: the replay is serial, the
        # rest spreads over the cores.
        "verify_idle_machine_estimate_s": round(
            max(cpu_main, (cpu_main + cpu_workers) / max(1, os.cpu_count() or 1)), 2
        ),
        "sign_setup_s": round(sign_s, 2),
    }
