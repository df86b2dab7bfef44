"""Ledger: PPAs, certificates, client-signed events, checkpoints, proofs and log entries."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as FPath
from fastapi.responses import PlainTextResponse

from api.deps import (
    AuditorKey,
    CachedAuditorKey,
    ClockDep,
    EngineDep,
    SettingsDep,
    TraderKey,
)
from api.errors import ApiError
from api.routes.sites import IdempotencyKey
from api.schemas import (
    CertificateOut,
    ConsistencyOut,
    EntriesOut,
    EntryOut,
    EventBatchIn,
    EventBatchItemOut,
    EventBatchOut,
    EventIn,
    EventOut,
    InclusionOut,
    Instant,
    LedgerKeyOut,
    Page,
    PpaIn,
    PpaOut,
    next_offset,
)
from engine.certificates import service as svc
from engine.certificates.ppa_contracts import get_ppa
from engine.certificates.store import LedgerStore, bundle_json
from ledger.ppa import PPA, ppa_to_mapping
from ledger.state import Bundle, Status

router = APIRouter(prefix="/ledger", tags=["ledger"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Index = Annotated[int, Query(ge=0, le=2**53)]
Size = Annotated[int, Query(ge=1, le=2**53)]
StatusName = Annotated[
    Literal["active", "split", "retired", "withdrawn", "expired"] | None, Query()
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ppa_out(ppa: PPA) -> PpaOut:
    """A PPA as its response body."""
    return PpaOut(**ppa_to_mapping(ppa))


def certificate_out(b: Bundle) -> CertificateOut:
    """A certificate bundle as its response body."""
    return CertificateOut(**bundle_json(b))


def _store(engine: Any, home: Path, now: datetime | None = None) -> LedgerStore:
    # Appends are judged against the server's clock (``now`` of the request), never the
    # signer's (docs/security.md).
    return svc.ledger_store(engine, home, clock=None if now is None else lambda: now)


@router.get("/ppas", response_model=Page[PpaOut])
async def ppas(
    engine: EngineDep,
    _: CachedAuditorKey,
    zone: Annotated[str | None, Query(max_length=32)] = None,
    buyer: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[PpaOut]:
    """Stored PPAs by id."""
    items, total = svc.list_ppa_page(engine, zone=zone, buyer=buyer, limit=limit, offset=offset)
    return Page[PpaOut](
        items=[ppa_out(p) for p in items],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.get("/ppas/{ppa_id}", response_model=PpaOut)
async def ppa(ppa_id: str, engine: EngineDep, _: CachedAuditorKey) -> PpaOut:
    """One PPA."""
    return ppa_out(get_ppa(engine, ppa_id))


@router.post("/ppas", response_model=PpaOut, status_code=201)
def create_ppa(
    body: PpaIn, engine: EngineDep, _: TraderKey, idempotency_key: IdempotencyKey = None
) -> PpaOut:
    """Import a PPA contract (TOML text); its id must be new."""
    return ppa_out(svc.add_ppa_text(engine, body.contract_toml))


@router.get("/certificates", response_model=Page[CertificateOut])
async def certificates(
    engine: EngineDep,
    _: CachedAuditorKey,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    device: Annotated[str | None, Query(max_length=200)] = None,
    state: StatusName = None,
    zone: Annotated[str | None, Query(max_length=200)] = None,
    start: Annotated[
        Instant | None, Query(alias="from", description="Production intervals starting at/after.")
    ] = None,
    end: Annotated[
        Instant | None, Query(alias="to", description="Production intervals starting before.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CertificateOut]:
    """Certificate bundles filtered by owner, device, state, zone and production interval."""
    status = None if state is None else Status(state)
    items, total = svc.certificate_page(
        engine,
        owner=owner,
        device=device,
        status=status,
        zone=zone,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    return Page[CertificateOut](
        items=[certificate_out(b) for b in items],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.post("/events", response_model=EventOut, status_code=201)
def post_event(
    body: EventIn,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> EventOut:
    """Append a client-signed event (issue, split, transfer, retire, withdraw, correct, expire).

    The Ed25519 signature must verify against the key registered for the certificate's owner
    (transfer, retire, split) or issuer (issue, withdraw, correct): the API key only lets the
    request in. A retry of the same event (same idempotency key in the event) returns the
    original index with ``replayed`` true."""
    if body.leaf_b64 is not None and body.event is None and body.signature_b64 is None:
        leaf = svc.decode_leaf_b64(body.leaf_b64)
    elif body.leaf_b64 is None and body.event is not None and body.signature_b64 is not None:
        leaf = svc.leaf_from_parts(body.event, body.signature_b64)
    else:
        raise ApiError(422, "validation_error", "give either leaf_b64, or event and signature_b64")
    result = svc.submit_event(_store(engine, Path(settings.home), now), leaf)
    changes = result.changes
    return EventOut(
        index=result.index,
        replayed=result.replayed,
        leaf_hash_hex=result.leaf_hash.hex(),
        kind=None if changes is None else str(changes.event.kind),
        certificates=[] if changes is None else [certificate_out(b) for b in changes.bundles],
    )


def ledger_key_out(r: svc.LedgerKeyRecord) -> LedgerKeyOut:
    """A ledger key as its response body."""
    k = r.key
    return LedgerKeyOut(
        key_id=k.key_id,
        party=k.party,
        roles=sorted(k.roles),
        valid_from=k.valid_from,
        valid_until=k.valid_until,
        public_key_b64=_b64(k.public_key),
        last_seq=r.last_seq,
        next_seq=r.last_seq + 1,
    )


@router.get("/keys", response_model=Page[LedgerKeyOut])
async def ledger_keys(
    engine: EngineDep,
    _: CachedAuditorKey,
    party: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[LedgerKeyOut]:
    """Keys registered in the ledger by key id: party, roles, validity, and the sequence number
    each signs next (a client that lost count asks here before signing)."""
    items, total = svc.key_page(engine, party=party, limit=limit, offset=offset)
    return Page[LedgerKeyOut](
        items=[ledger_key_out(r) for r in items],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, total),
    )


@router.get("/keys/{key_id}", response_model=LedgerKeyOut)
async def ledger_key(
    key_id: Annotated[str, FPath(min_length=1, max_length=64)],
    engine: EngineDep,
    _: CachedAuditorKey,
) -> LedgerKeyOut:
    """One ledger key and its next sequence number."""
    return ledger_key_out(svc.get_ledger_key(engine, key_id))


@router.post("/events/batch", response_model=EventBatchOut, status_code=201)
def post_events(
    body: EventBatchIn,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> EventBatchOut:
    """Append up to 2,000 client-signed events in one transaction: all, or none.

    Each is checked as in ``POST /ledger/events`` (signature of the owner's or issuer's key,
    state machine); an error names the first event that fails (``event N of the batch``).
    Events already logged with the same bytes (a retried batch) come back with ``replayed``."""
    leaves = [svc.decode_leaf_b64(x) for x in body.leaves_b64]
    results = svc.submit_events(_store(engine, Path(settings.home), now), leaves)
    return EventBatchOut(
        events=[
            EventBatchItemOut(index=r.index, replayed=r.replayed, leaf_hash_hex=r.leaf_hash.hex())
            for r in results
        ]
    )


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def checkpoint(engine: EngineDep, settings: SettingsDep, _: AuditorKey) -> PlainTextResponse:
    """The signed checkpoint of the log (C2SP signed note: origin, size, base64 root, blank
    line, signature lines)."""
    note = svc.checkpoint(_store(engine, Path(settings.home)), Path(settings.home))
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.get("/proofs/inclusion", response_model=InclusionOut)
def inclusion_proof(
    engine: EngineDep, settings: SettingsDep, _: AuditorKey, index: Index, tree_size: Size
) -> InclusionOut:
    """RFC 6962 inclusion proof of leaf ``index`` in the tree of ``tree_size`` leaves."""
    leaf_hash, root, proof = svc.inclusion(_store(engine, Path(settings.home)), index, tree_size)
    return InclusionOut(
        leaf_index=index,
        tree_size=tree_size,
        leaf_hash_b64=_b64(leaf_hash),
        root_b64=_b64(root),
        inclusion_proof_b64=[_b64(p) for p in proof],
    )


@router.get("/proofs/consistency", response_model=ConsistencyOut)
def consistency_proof(
    engine: EngineDep, settings: SettingsDep, _: AuditorKey, first: Size, second: Size
) -> ConsistencyOut:
    """RFC 6962 consistency proof from tree size ``first`` to ``second``."""
    if first > second:
        raise ApiError(422, "validation_error", "first must not exceed second")
    r1, r2, proof = svc.consistency(_store(engine, Path(settings.home)), first, second)
    return ConsistencyOut(
        first=first,
        second=second,
        first_root_b64=_b64(r1),
        second_root_b64=_b64(r2),
        consistency_proof_b64=[_b64(p) for p in proof],
    )


@router.get("/entries", response_model=EntriesOut)
async def log_entries(
    engine: EngineDep,
    _: CachedAuditorKey,
    start: Annotated[int, Query(alias="from", ge=0, le=2**53)] = 0,
    limit: Limit = 100,
) -> EntriesOut:
    """Log leaves from index ``from`` on: exact bytes (base64) and the signed event in them."""
    items, size = svc.entries(engine, start, limit)
    last = items[-1].index + 1 if items else None
    return EntriesOut(
        items=[EntryOut(index=e.index, leaf_b64=_b64(e.leaf), event=e.event) for e in items],
        tree_size=size,
        next=last if last is not None and last < size else None,
    )
