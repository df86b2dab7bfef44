"""Ledger use cases of the trading-desk API: PPAs from contract text, certificate queries,
signed events from clients, checkpoints, proofs and log entries.

The API never signs certificate events for a client: ``submit_event`` takes an event already
signed with the client's Ed25519 key, and the ledger's state machine checks that signature
against the key registered for the certificate's owner (or issuer). An API key alone cannot
move certificates.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from sqlalchemy import Engine, bindparam, func, select

from engine.certificates.keyfiles import key_path, load_private_key
from engine.certificates.ppa_contracts import T_PPA, parse_ppa, store_ppa
from engine.certificates.store import (
    T_BUNDLE,
    T_EVENT,
    T_HEAD,
    T_KEY,
    AppendResult,
    LedgerStore,
    bundle_from_row,
    key_from_row,
)
from engine.core.errors import NotFoundError, PowerdeskError
from ledger.errors import EventFormatError, LedgerError, ProofError
from ledger.events import (
    LEAF_VERSION,
    SIGNATURE_SIZE,
    Kind,
    SignedEvent,
    decode_leaf,
    split_leaf,
)
from ledger.keys import KeyRecord
from ledger.merkle import MerkleTree
from ledger.ppa import PPA
from ledger.state import Bundle, Status

# What a client may sign through the API; key and device registration stay with the operator.
CLIENT_KINDS = frozenset(
    {Kind.ISSUE, Kind.SPLIT, Kind.TRANSFER, Kind.RETIRE, Kind.WITHDRAW, Kind.CORRECT, Kind.EXPIRE}
)
MAX_TEXT = 200


def ledger_store(
    engine: Engine, home: Path, *, clock: Callable[[], datetime] | None = None
) -> LedgerStore:
    """The ledger on ``engine``, started with the operator key in ``home`` if it exists and the
    log is empty (as the CLI does); ``clock`` is the ledger's clock (default: the system's)."""
    store = LedgerStore(engine, clock=clock)
    try:
        store.head()
    except NotFoundError:
        if key_path(home).exists():
            at = store.now() or datetime.now(UTC)
            store.initialise(load_private_key(home), at.replace(microsecond=0))
    return store


# -- PPAs -----------------------------------------------------------------------------------------


def add_ppa_text(engine: Engine, text: str) -> PPA:
    """Import a PPA contract from its TOML text; its id must be new.

    Raises
    ------
    InputFileError
        Not valid TOML or not a valid contract.
    ConflictError
        A PPA with this id exists.
    """
    ppa = parse_ppa(text, "contract_toml")
    for name, value in (
        ("id", ppa.ppa_id),
        ("buyer", ppa.buyer),
        ("counterparty", ppa.counterparty),
    ):
        if len(value) > MAX_TEXT:
            raise PowerdeskError(f"contract_toml: {name} is longer than {MAX_TEXT} characters")
    return store_ppa(engine, ppa, text)


def list_ppa_page(
    engine: Engine,
    *,
    zone: str | None = None,
    buyer: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PPA], int]:
    """A page of stored PPAs by id, and how many match."""
    cond = []
    if zone is not None:
        cond.append(T_PPA.c.zone == zone)
    if buyer is not None:
        cond.append(T_PPA.c.buyer == buyer)
    q = select(T_PPA.c.ppa_id, T_PPA.c.contract_toml).where(*cond).order_by(T_PPA.c.ppa_id)
    with engine.connect() as conn:
        rows = conn.execute(q.limit(limit).offset(offset)).all()
        total = int(conn.execute(select(func.count()).select_from(T_PPA).where(*cond)).scalar_one())
    return [parse_ppa(r.contract_toml, r.ppa_id) for r in rows], total


# -- certificates ---------------------------------------------------------------------------------


def certificate_page(
    engine: Engine,
    *,
    owner: str | None = None,
    device: str | None = None,
    status: Status | None = None,
    zone: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Bundle], int]:
    """Certificate bundles whose production interval starts in ``[start, end)``, filtered by
    owner, device, status and zone, in id order; and how many match."""
    cond = []
    if owner is not None:
        cond.append(T_BUNDLE.c.owner == owner)
    if device is not None:
        cond.append(T_BUNDLE.c.device == device)
    if status is not None:
        cond.append(T_BUNDLE.c.status == str(status))
    if zone is not None:
        cond.append(T_BUNDLE.c.zone == zone)
    if start is not None:
        cond.append(T_BUNDLE.c.interval_start >= start)
    if end is not None:
        cond.append(T_BUNDLE.c.interval_start < end)
    q = select(T_BUNDLE).where(*cond).order_by(T_BUNDLE.c.bundle_id)
    with engine.connect() as conn:
        rows = conn.execute(q.limit(limit).offset(offset)).all()
        count = select(func.count()).select_from(T_BUNDLE).where(*cond)
        total = int(conn.execute(count).scalar_one())
    return [bundle_from_row(r) for r in rows], total


# -- signed events --------------------------------------------------------------------------------


def leaf_from_parts(event: Any, signature_b64: str) -> bytes:
    """The log leaf of a JSON event and its detached Ed25519 signature (base64).

    The event is canonicalised with RFC 8785, exactly what the signer signed.
    """
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise EventFormatError("signature_b64 is not base64") from None
    if len(signature) != SIGNATURE_SIZE:
        raise EventFormatError(f"the signature must be {SIGNATURE_SIZE} bytes")
    try:
        message = bytes(rfc8785.dumps(event))
    except Exception as exc:  # rfc8785 raises its own types for floats, big ints, bad keys
        raise EventFormatError(f"event cannot be canonicalised: {exc}") from None
    return bytes([LEAF_VERSION]) + signature + message


def decode_leaf_b64(leaf_b64: str) -> bytes:
    """Leaf bytes from base64."""
    try:
        return base64.b64decode(leaf_b64, validate=True)
    except (binascii.Error, ValueError):
        raise EventFormatError("leaf_b64 is not base64") from None


def submit_event(store: LedgerStore, leaf: bytes) -> AppendResult:
    """Append one client-signed event (issue, split, transfer, retire, withdraw, correct,
    expire); the ledger checks its signature against the registered key of the owner/issuer.

    Raises
    ------
    ledger.errors.LedgerError
        Malformed event or a kind clients may not submit.
    engine.certificates.store.LedgerRejectedError
        Rejected by the ledger (signature, ownership, state, sequence).
    """
    return store.append(_client_event(leaf))


def _client_event(leaf: bytes) -> SignedEvent:
    signed = decode_leaf(leaf)
    if signed.event.kind not in CLIENT_KINDS:
        raise EventFormatError(
            f"{signed.event.kind} events are for the ledger operator, not API clients"
        )
    return signed


def submit_events(store: LedgerStore, leaves: Sequence[bytes]) -> list[AppendResult]:
    """Append client-signed events in one transaction: all of them, or none (a year of hourly
    issues in a few requests instead of thousands). Each is checked as :func:`submit_event`.

    Raises
    ------
    ledger.errors.LedgerError
        A malformed event or a kind clients may not submit (its position is in the message).
    engine.certificates.store.LedgerRejectedError
        Rejected by the ledger; ``position`` names the event.
    """
    signed = []
    for i, leaf in enumerate(leaves):
        try:
            signed.append(_client_event(leaf))
        except LedgerError as exc:  # a leaf that does not decode is malformed, whatever the part
            raise EventFormatError(f"event {i} of the batch: {exc}") from None
    return store.append_many(signed)


# -- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerKeyRecord:
    """A registered ledger key and the last sequence number it signed (clients sign the next)."""

    key: KeyRecord
    last_seq: int


def key_page(
    engine: Engine, *, party: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[LedgerKeyRecord], int]:
    """A page of registered ledger keys by key id (optionally of one party), and the total."""
    cond = [] if party is None else [T_KEY.c.party == party]
    q = select(T_KEY).where(*cond).order_by(T_KEY.c.key_id).limit(limit).offset(offset)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
        total = int(conn.execute(select(func.count()).select_from(T_KEY).where(*cond)).scalar_one())
    return [LedgerKeyRecord(key_from_row(r), int(r.last_seq)) for r in rows], total


def get_ledger_key(engine: Engine, key_id: str) -> LedgerKeyRecord:
    """One registered ledger key; :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(T_KEY).where(T_KEY.c.key_id == key_id)).first()
    if row is None:
        raise NotFoundError(f"no ledger key {key_id!r}")
    return LedgerKeyRecord(key_from_row(row), int(row.last_seq))


# -- log ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One log leaf: its index, exact bytes and parsed event."""

    index: int
    leaf: bytes
    event: dict[str, Any]


_ENTRIES = (
    select(T_EVENT.c.index, T_EVENT.c.leaf)
    .where(T_EVENT.c.index >= bindparam("start"))
    .order_by(T_EVENT.c.index)
    .limit(bindparam("limit"))
)
# The head row holds the log size (every append updates it in the same transaction): no count
# over a log of millions of leaves per page.
_LOG_SIZE = select(T_HEAD.c.size).where(T_HEAD.c.id == 1)


def entries(engine: Engine, start: int, limit: int) -> tuple[list[Entry], int]:
    """Leaves ``[start, start + limit)`` and the current log size."""
    with engine.connect() as conn:
        rows = conn.execute(_ENTRIES, {"start": start, "limit": limit}).all()
        head = conn.execute(_LOG_SIZE).first()
    size = 0 if head is None else int(head[0])
    out = []
    for index, raw in rows:
        leaf = bytes(raw)
        _, message = split_leaf(leaf)
        out.append(Entry(int(index), leaf, json.loads(message)))
    return out, size


def _snapshot(store: LedgerStore, size: int) -> MerkleTree:
    current, _, _ = store.head()
    if not 0 < size <= current:
        raise ProofError(f"tree size {size} is outside the log (1..{current})")
    return store.snapshot(size)


def inclusion(store: LedgerStore, index: int, tree_size: int) -> tuple[bytes, bytes, list[bytes]]:
    """(leaf hash, root, audit path) of leaf ``index`` in the tree of ``tree_size`` leaves."""
    tree = _snapshot(store, tree_size)
    proof = tree.inclusion_proof(index, tree_size)
    return tree.leaf_hash(index), tree.root(tree_size), proof


def consistency(store: LedgerStore, first: int, second: int) -> tuple[bytes, bytes, list[bytes]]:
    """(first root, second root, proof) between tree sizes ``first`` <= ``second``."""
    tree = _snapshot(store, second)
    proof = tree.consistency_proof(first, second)
    return tree.root(first), tree.root(second), proof


def checkpoint(store: LedgerStore, home: Path) -> str:
    """The signed checkpoint of the log at its size now: signed with the operator key when this
    host holds it, otherwise the newest stored one."""
    store.head()  # NotFoundError before the log exists
    if key_path(home).exists():
        return store.checkpoint(load_private_key(home))
    stored = store.checkpoints()
    if not stored:
        raise NotFoundError("no signed checkpoint is stored and this host has no ledger key")
    # An older checkpoint still signs a prefix of the log; clients compare its size.
    return stored[-1][1]


__all__ = [
    "CLIENT_KINDS",
    "Entry",
    "add_ppa_text",
    "certificate_page",
    "checkpoint",
    "consistency",
    "decode_leaf_b64",
    "entries",
    "inclusion",
    "leaf_from_parts",
    "ledger_store",
    "list_ppa_page",
    "submit_event",
]
