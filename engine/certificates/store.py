"""Persistence of the ledger: append signed events and their derived state in one transaction.

Every write transaction first takes the ledger's single write lock – ``BEGIN IMMEDIATE`` on SQLite
(WAL, one writer), ``SELECT ... FOR UPDATE`` of the ``ledger_head`` row on PostgreSQL – so log
appends are serial and conflicting actions on the same certificates see each other's committed
results: exactly one of two racing retirements of a bundle succeeds. The event row (the log
leaf) and the state rows it changes are written in the same transaction, so a crash can never
leave one without the other. The state machine itself is :class:`ledger.state.LedgerState`,
run on the part of the state the events touch.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, Table, and_, bindparam, select, tuple_
from sqlalchemy.exc import IntegrityError

from engine.certificates.history import genesis_event
from engine.core.errors import ConflictError, NotFoundError
from engine.models.ledger import (
    LedgerBundle,
    LedgerCell,
    LedgerCheckpoint,
    LedgerDevice,
    LedgerEvent,
    LedgerHead,
    LedgerKey,
)
from ledger.errors import LedgerError
from ledger.events import (
    Correct,
    Expire,
    Issue,
    RegisterDevice,
    RegisterKey,
    Retire,
    RevokeKey,
    SignedEvent,
    Split,
    Transfer,
    TransferBundled,
    Withdraw,
    decode_leaf,
)
from ledger.keys import KeyRecord, Role, key_id_of, raw_public_key
from ledger.merkle import MerkleTree
from ledger.note import Checkpoint, sign_checkpoint
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import (
    Bundle,
    Cell,
    Changes,
    Device,
    LedgerState,
    Retirement,
    Status,
    carried_from,
)

DEFAULT_ORIGIN = "powerdesk-ledger"
_CHUNK = 500  # ids per IN (...) query

T_HEAD: Table = LedgerHead.__table__  # type: ignore[attr-defined]
T_EVENT: Table = LedgerEvent.__table__  # type: ignore[attr-defined]
T_KEY: Table = LedgerKey.__table__  # type: ignore[attr-defined]
T_DEVICE: Table = LedgerDevice.__table__  # type: ignore[attr-defined]
T_CELL: Table = LedgerCell.__table__  # type: ignore[attr-defined]
T_BUNDLE: Table = LedgerBundle.__table__  # type: ignore[attr-defined]
T_CHECKPOINT: Table = LedgerCheckpoint.__table__  # type: ignore[attr-defined]


class LedgerRejectedError(ConflictError):
    """The ledger rejected an event; ``error`` is the typed :class:`ledger.LedgerError`."""

    def __init__(self, error: LedgerError, position: int | None = None) -> None:
        where = "" if position is None else f"event {position} of the batch: "
        super().__init__(f"{where}{error}")
        self.error = error
        self.position = position


@dataclass(frozen=True)
class AppendResult:
    """Outcome of appending one event.

    Attributes
    ----------
    index
        Its leaf index in the log.
    leaf_hash
        RFC 6962 leaf hash [32 bytes] (the event hash).
    replayed
        True when the idempotency key was already logged with the very same leaf: nothing
        was applied again and the original index is returned.
    changes
        What it changed (None for a replay).
    """

    index: int
    leaf_hash: bytes
    replayed: bool
    changes: Changes | None


# -- row mappers ----------------------------------------------------------------------------------


def _key_row(k: KeyRecord, last_seq: int) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "public_key": k.public_key,
        "party": k.party,
        "roles": ",".join(sorted(k.roles)),
        "valid_from": k.valid_from,
        "valid_until": k.valid_until,
        "last_seq": last_seq,
    }


def key_from_row(r: Any) -> KeyRecord:
    """A ``ledger_key`` row as a :class:`KeyRecord`."""
    roles = frozenset(Role(x) for x in r.roles.split(","))
    return KeyRecord(r.key_id, bytes(r.public_key), r.party, roles, r.valid_from, r.valid_until)


def _device_row(d: Device) -> dict[str, Any]:
    return {
        "device": d.device,
        "capacity_w": d.capacity_w,
        "technology": d.technology,
        "zone": d.zone,
        "resolution_s": d.resolution_s,
        "issuer": d.issuer,
    }


def _device_from_row(r: Any) -> Device:
    return Device(r.device, r.capacity_w, r.technology, r.zone, r.resolution_s, r.issuer)


_CELL_FIELDS = (
    "device",
    "interval_start",
    "interval_end",
    "next_id",
    "issued_wh",
    "active_wh",
    "retired_wh",
    "expired_wh",
    "withdrawn_wh",
    "metered_wh",
    "carried_in_wh",
)


def _cell_row(c: Cell) -> dict[str, Any]:
    return {f: getattr(c, f) for f in _CELL_FIELDS}


def _cell_from_row(r: Any) -> Cell:
    return Cell(**{f: getattr(r, f) for f in _CELL_FIELDS})


def bundle_row(b: Bundle) -> dict[str, Any]:
    """Database row of a bundle."""
    ret = b.retirement
    return {
        "bundle_id": b.bundle_id,
        "scheme": str(b.scheme),
        "device": b.device,
        "technology": b.technology,
        "zone": b.zone,
        "interval_start": b.interval_start,
        "interval_end": b.interval_end,
        "id_start": b.id_start,
        "id_end": b.id_end,
        "energy_wh": b.energy_wh,
        "owner": b.owner,
        "issuer": b.issuer,
        "status": str(b.status),
        "expires_at": b.expires_at,
        "external_code": b.external_code,
        "parent": b.parent,
        "created_index": b.created_index,
        "updated_index": b.updated_index,
        "beneficiary": ret.beneficiary if ret else None,
        "site": ret.site if ret else None,
        "consumption_start": ret.consumption_start if ret else None,
        "consumption_end": ret.consumption_end if ret else None,
        "consumption_zone": ret.zone if ret else None,
        "retired_at": ret.retired_at if ret else None,
        "contract": b.contract,
    }


def bundle_from_row(r: Any) -> Bundle:
    """Bundle of a database row."""
    retirement = None
    if r.beneficiary is not None:
        retirement = Retirement(
            r.beneficiary,
            r.site,
            r.consumption_start,
            r.consumption_end,
            r.consumption_zone,
            r.retired_at,
        )
    return Bundle(
        bundle_id=r.bundle_id,
        scheme=Scheme(r.scheme),
        device=r.device,
        technology=r.technology,
        zone=r.zone,
        interval_start=r.interval_start,
        interval_end=r.interval_end,
        id_start=r.id_start,
        id_end=r.id_end,
        owner=r.owner,
        issuer=r.issuer,
        status=Status(r.status),
        expires_at=r.expires_at,
        external_code=r.external_code,
        parent=r.parent,
        created_index=r.created_index,
        updated_index=r.updated_index,
        retirement=retirement,
        contract=r.contract,
    )


def bundle_json(b: Bundle) -> dict[str, Any]:
    """JSON-ready view of a bundle (units in field names)."""
    row = bundle_row(b)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _update_rows(
    conn: Connection, table: Table, pk: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    cols = [c for c in rows[0] if c not in pk]
    stmt = (
        table.update()
        .where(and_(*[table.c[c] == bindparam(f"pk_{c}") for c in pk]))
        .values({c: bindparam(c) for c in cols})
    )
    conn.execute(stmt, [{**r, **{f"pk_{c}": r[c] for c in pk}} for r in rows])


# -- the store ------------------------------------------------------------------------------------


class LedgerStore:
    """The ledger on a database (SQLite or PostgreSQL).

    Parameters
    ----------
    engine
        SQLAlchemy engine of a migrated database.
    clock
        The ledger's clock (default: the system clock in UTC). Every append judges the events'
        times against it: within :data:`ledger.state.MAX_SKEW`, and never before the log head's
        time (:class:`ledger.state.LedgerState`). Tests pass a fixed clock.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.clock = clock

    def now(self) -> datetime | None:
        """The time appends are judged against now (``None``: each event at its own time)."""
        return self.clock() if self.clock is not None else ledger_now()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.sqlite:
                # Take the write lock now, not at the first write: reads see the final state.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _head(self, conn: Connection) -> Any:
        stmt = select(T_HEAD).where(T_HEAD.c.id == 1)
        if not self.sqlite:
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first()

    # -- set-up -----------------------------------------------------------------------------------

    def initialise(
        self,
        operator: Ed25519PrivateKey,
        at: datetime,
        *,
        party: str = "operator",
        origin: str = DEFAULT_ORIGIN,
    ) -> bool:
        """Start the log with the operator registering its own key (leaf 0), if not yet done.

        Returns True when it created the log; raises :class:`ConflictError` if the log belongs
        to another operator key.
        """
        key_id = key_id_of(operator.public_key())
        try:
            with self._write() as conn:
                head = self._head(conn)
                if head is not None:
                    if head.operator_key_id != key_id:
                        raise ConflictError(
                            f"the ledger belongs to operator key {head.operator_key_id}, "
                            f"not {key_id}"
                        )
                    return False
                conn.execute(
                    T_HEAD.insert().values(id=1, size=0, origin=origin, operator_key_id=key_id)
                )
                head = self._head(conn)
                genesis = genesis_event(EventSigner(operator), party, at)
                self._append_locked(conn, head, [genesis])
                return True
        except IntegrityError:
            # Another process initialised it at the same moment.
            return self.initialise(operator, at, party=party, origin=origin)

    def rotate_operator(
        self, old: Ed25519PrivateKey, new: Ed25519PrivateKey, at: datetime
    ) -> tuple[int, int] | None:
        """Hand the log over from operator key ``old`` to ``new`` at ``at``, in one transaction.

        ``old`` registers ``new`` for its own party with its own roles (leaf *r*), ``new`` ends
        ``old``'s validity at ``at`` (leaf *r* + 1), and the head names ``new`` as the operator:
        checkpoints from then on are signed with ``new``; those up to size *r* + 1 stay verifiable
        with ``old``. Returns (r, r + 1), or None when ``new`` is the operator already (a resumed
        rotation).

        Raises
        ------
        ConflictError
            ``old`` is not the log's operator key (or ``new`` equals ``old``).
        """
        from engine.certificates.history import register_key_event

        old_id, new_id = key_id_of(old.public_key()), key_id_of(new.public_key())
        if old_id == new_id:
            raise ConflictError("the new operator key is the current one")
        with self._write() as conn:
            head = self._head(conn)
            if head is None:
                raise NotFoundError("the ledger is not initialised (run `powerdesk ledger init`)")
            if head.operator_key_id == new_id:
                return None
            if head.operator_key_id != old_id:
                raise ConflictError(
                    f"the ledger's operator key is {head.operator_key_id}, not {old_id}"
                )
            row = conn.execute(select(T_KEY).where(T_KEY.c.key_id == old_id)).one()
            record = key_from_row(row)
            register = register_key_event(
                EventSigner(old, int(row.last_seq)), new, record.party, record.roles, at
            )
            revoke = EventSigner(new).sign(RevokeKey(old_id, at), at)
            done = self._append_locked(conn, head, [register, revoke])
            conn.execute(T_HEAD.update().where(T_HEAD.c.id == 1).values(operator_key_id=new_id))
        return done[0].index, done[1].index

    def head(self) -> tuple[int, str, str]:
        """(log size, origin, operator key id); raises NotFoundError before initialise."""
        with self.engine.connect() as conn:
            row = conn.execute(select(T_HEAD).where(T_HEAD.c.id == 1)).first()
        if row is None:
            raise NotFoundError("the ledger has no events yet (run `powerdesk ledger init`)")
        return int(row.size), str(row.origin), str(row.operator_key_id)

    def operator_public_key(self) -> bytes:
        """Raw operator public key [32 bytes] (from leaf 0)."""
        _, _, key_id = self.head()
        return self.key(key_id).public_key

    # -- appending --------------------------------------------------------------------------------

    def append(self, leaf: bytes | SignedEvent) -> AppendResult:
        """Verify and append one signed event (see :meth:`append_many`)."""
        return self.append_many([leaf])[0]

    def append_many(self, leaves: Sequence[bytes | SignedEvent]) -> list[AppendResult]:
        """Verify and append events in one transaction: all are applied, or none.

        An event whose idempotency key is already logged with the identical leaf is a retry:
        it returns the original index and applies nothing. The same key with different bytes
        is a :class:`ConflictError`.

        Raises
        ------
        LedgerRejectedError
            The typed reason an event was rejected (nothing of the batch is written).
        """
        signed: list[SignedEvent] = []
        for i, leaf in enumerate(leaves):
            try:
                signed.append(leaf if isinstance(leaf, SignedEvent) else decode_leaf(leaf))
            except LedgerError as exc:
                raise LedgerRejectedError(exc, i if len(leaves) > 1 else None) from exc
        with self._write() as conn:
            head = self._head(conn)
            if head is None:
                raise NotFoundError("the ledger is not initialised (run `powerdesk ledger init`)")
            return self._append_locked(conn, head, signed)

    def _append_locked(
        self, conn: Connection, head: Any, signed: list[SignedEvent]
    ) -> list[AppendResult]:
        results: list[AppendResult | None] = [None] * len(signed)
        idem = [s.event.idempotency_key for s in signed]
        earlier: dict[str, tuple[int, bytes]] = {}
        for part in _chunks(idem):
            q = select(T_EVENT.c.idempotency_key, T_EVENT.c.index, T_EVENT.c.leaf)
            for r in conn.execute(q.where(T_EVENT.c.idempotency_key.in_(part))):
                earlier[r[0]] = (int(r[1]), bytes(r[2]))
        todo: list[tuple[int, SignedEvent]] = []
        for i, s in enumerate(signed):
            prior = earlier.get(s.event.idempotency_key)
            if prior is None:
                todo.append((i, s))
            elif prior[1] == s.leaf:
                results[i] = AppendResult(prior[0], s.leaf_hash, True, None)
            else:
                raise ConflictError(
                    f"idempotency key {s.event.idempotency_key!r} was used for another event "
                    f"(leaf {prior[0]})"
                )
        if todo:
            operator = self._operator_key(conn, head, todo[0][1])
            state, loaded = self._load_state(conn, int(head.size), operator, [s for _, s in todo])
            now = self.now()
            all_changes: list[Changes] = []
            for i, s in todo:
                try:
                    changes = state.apply(s, now=now)
                except LedgerError as exc:
                    raise LedgerRejectedError(exc, i if len(signed) > 1 else None) from exc
                all_changes.append(changes)
                results[i] = AppendResult(changes.index, s.leaf_hash, False, changes)
            self._write_changes(conn, state, loaded, all_changes)
        return [r for r in results if r is not None]

    def _operator_key(self, conn: Connection, head: Any, first: SignedEvent) -> bytes:
        if int(head.size) == 0:
            body = first.event.body
            # Leaf 0 carries the operator key; LedgerState checks it is the head's operator.
            if isinstance(body, RegisterKey) and key_id_of(body.public_key) == head.operator_key_id:
                return body.public_key
            raise LedgerRejectedError(
                LedgerError("leaf 0 must be the operator registering its own key")
            )
        row = conn.execute(select(T_KEY.c.public_key).where(T_KEY.c.key_id == head.operator_key_id))
        return bytes(row.scalar_one())

    def _load_state(
        self, conn: Connection, size: int, operator: bytes, signed: list[SignedEvent]
    ) -> tuple[LedgerState, dict[str, set[Any]]]:
        key_ids: set[str] = set()
        bundle_ids: set[str] = set()
        device_ids: set[str] = set()
        cell_keys: set[tuple[str, datetime]] = set()
        for s in signed:
            key_ids.add(s.event.key_id)
            body = s.event.body
            if isinstance(body, RegisterKey | RevokeKey):
                key_ids.add(body.key_id)
            elif isinstance(body, RegisterDevice):
                device_ids.add(body.device)
            elif isinstance(body, Issue):
                device_ids.add(body.device)
                cell_keys.add((body.device, body.interval_start))
                before = carried_from(body.scheme, body.interval_start)
                if before is not None:  # a monthly remainder carries from the previous month
                    cell_keys.add((body.device, before))
            elif isinstance(
                body, Split | Transfer | Retire | Withdraw | Correct | Expire | TransferBundled
            ):
                bundle_ids.add(body.bundle)
        keys: list[KeyRecord] = []
        seqs: dict[str, int] = {}
        for part in _chunks(sorted(key_ids)):
            for r in conn.execute(select(T_KEY).where(T_KEY.c.key_id.in_(part))):
                keys.append(key_from_row(r))
                seqs[r.key_id] = int(r.last_seq)
        bundles: list[Bundle] = []
        for part in _chunks(sorted(bundle_ids)):
            for r in conn.execute(select(T_BUNDLE).where(T_BUNDLE.c.bundle_id.in_(part))):
                b = bundle_from_row(r)
                bundles.append(b)
                device_ids.add(b.device)
                cell_keys.add((b.device, b.interval_start))
        devices: list[Device] = []
        for part in _chunks(sorted(device_ids)):
            for r in conn.execute(select(T_DEVICE).where(T_DEVICE.c.device.in_(part))):
                devices.append(_device_from_row(r))
        cells: list[Cell] = []
        for part in _chunks(sorted(cell_keys)):
            cond = tuple_(T_CELL.c.device, T_CELL.c.interval_start).in_(part)
            for r in conn.execute(select(T_CELL).where(cond)):
                cells.append(_cell_from_row(r))
        head_time = None
        if size > 0:
            last = conn.execute(select(T_EVENT.c.at).where(T_EVENT.c.index == size - 1))
            head_time = last.scalar_one()
        state = LedgerState(
            operator,
            size=size,
            head_time=head_time,
            keys=keys,
            seqs=seqs,
            devices=devices,
            cells=cells,
            bundles=bundles,
        )
        loaded: dict[str, set[Any]] = {
            "keys": {k.key_id for k in keys},
            "bundles": {b.bundle_id for b in bundles},
            "cells": {(c.device, c.interval_start) for c in cells},
        }
        return state, loaded

    def _write_changes(
        self,
        conn: Connection,
        state: LedgerState,
        loaded: dict[str, set[Any]],
        all_changes: list[Changes],
    ) -> None:
        events = []
        keys: dict[str, KeyRecord] = {}
        seqs: dict[str, int] = {}
        devices: list[Device] = []
        cells: dict[tuple[str, datetime], Cell] = {}
        bundles: dict[str, Bundle] = {}
        for ch in all_changes:
            ev = ch.signed.event
            events.append(
                {
                    "index": ch.index,
                    "kind": str(ev.kind),
                    "at": ev.at,
                    "key_id": ev.key_id,
                    "seq": ev.seq,
                    "idempotency_key": ev.idempotency_key,
                    "leaf": ch.signed.leaf,
                    "leaf_hash": ch.signed.leaf_hash,
                }
            )
            for k in ch.keys:
                keys[k.key_id] = k
            if ch.seq is not None:
                seqs[ch.seq[0]] = ch.seq[1]
            devices.extend(ch.devices)
            for c in ch.cells:
                cells[c.device, c.interval_start] = c
            for b in ch.bundles:
                bundles[b.bundle_id] = b
        conn.execute(T_EVENT.insert(), events)
        # Keys: new registrations, changed validity, and every signer's new last sequence.
        key_rows_new: list[dict[str, Any]] = []
        key_rows_old: list[dict[str, Any]] = []
        for key_id in keys.keys() | seqs.keys():
            record = keys.get(key_id) or state.keys[key_id]
            row = _key_row(record, seqs.get(key_id, state.seqs.get(key_id, 0)))
            (key_rows_old if key_id in loaded["keys"] else key_rows_new).append(row)
        if key_rows_new:
            conn.execute(T_KEY.insert(), key_rows_new)
        _update_rows(conn, T_KEY, ["key_id"], key_rows_old)
        if devices:
            conn.execute(T_DEVICE.insert(), [_device_row(d) for d in devices])
        new_cells = [_cell_row(c) for k, c in cells.items() if k not in loaded["cells"]]
        old_cells = [_cell_row(c) for k, c in cells.items() if k in loaded["cells"]]
        if new_cells:
            conn.execute(T_CELL.insert(), new_cells)
        _update_rows(conn, T_CELL, ["device", "interval_start"], old_cells)
        new_b = [bundle_row(b) for k, b in bundles.items() if k not in loaded["bundles"]]
        old_b = [bundle_row(b) for k, b in bundles.items() if k in loaded["bundles"]]
        if new_b:
            conn.execute(T_BUNDLE.insert(), new_b)
        _update_rows(conn, T_BUNDLE, ["bundle_id"], old_b)
        conn.execute(T_HEAD.update().where(T_HEAD.c.id == 1).values(size=state.size))

    # -- queries ----------------------------------------------------------------------------------

    def key(self, key_id: str) -> KeyRecord:
        """A registered key."""
        with self.engine.connect() as conn:
            row = conn.execute(select(T_KEY).where(T_KEY.c.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no ledger key {key_id}")
        return key_from_row(row)

    def keys(self) -> list[KeyRecord]:
        """Every registered key."""
        with self.engine.connect() as conn:
            return [key_from_row(r) for r in conn.execute(select(T_KEY).order_by(T_KEY.c.key_id))]

    def last_seq(self, key_id: str) -> int:
        """Last sequence number ``key_id`` used (0 if none)."""
        with self.engine.connect() as conn:
            q = select(T_KEY.c.last_seq).where(T_KEY.c.key_id == key_id)
            value = conn.execute(q).scalar_one_or_none()
        return 0 if value is None else int(value)

    def bundle(self, bundle_id: str) -> Bundle:
        """A certificate bundle's current state."""
        with self.engine.connect() as conn:
            row = conn.execute(select(T_BUNDLE).where(T_BUNDLE.c.bundle_id == bundle_id)).first()
        if row is None:
            raise NotFoundError(f"no certificate bundle {bundle_id}")
        return bundle_from_row(row)

    def bundles(
        self,
        *,
        owner: str | None = None,
        status: Status | None = None,
        device: str | None = None,
        limit: int | None = None,
    ) -> list[Bundle]:
        """Bundles filtered by owner, status and device, in id order."""
        q = select(T_BUNDLE).order_by(T_BUNDLE.c.bundle_id)
        if owner is not None:
            q = q.where(T_BUNDLE.c.owner == owner)
        if status is not None:
            q = q.where(T_BUNDLE.c.status == str(status))
        if device is not None:
            q = q.where(T_BUNDLE.c.device == device)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [bundle_from_row(r) for r in conn.execute(q)]

    def cell(self, device: str, interval_start: datetime) -> Cell | None:
        """Tallies of one (device, interval), if anything was issued for it."""
        with self.engine.connect() as conn:
            q = select(T_CELL).where(
                T_CELL.c.device == device, T_CELL.c.interval_start == interval_start
            )
            row = conn.execute(q).first()
        return None if row is None else _cell_from_row(row)

    def cells(self) -> list[Cell]:
        """Every (device, interval) tally."""
        with self.engine.connect() as conn:
            return [_cell_from_row(r) for r in conn.execute(select(T_CELL))]

    def leaves(self, start: int = 0, end: int | None = None) -> list[bytes]:
        """Leaf bytes of indexes [start, end)."""
        q = select(T_EVENT.c.leaf).where(T_EVENT.c.index >= start).order_by(T_EVENT.c.index)
        if end is not None:
            q = q.where(T_EVENT.c.index < end)
        with self.engine.connect() as conn:
            return [bytes(x) for x in conn.execute(q).scalars()]

    def event_by_idempotency_key(self, idempotency_key: str) -> tuple[int, bytes] | None:
        """(leaf index, leaf hash) of the event logged under ``idempotency_key``, if any."""
        with self.engine.connect() as conn:
            q = select(T_EVENT.c.index, T_EVENT.c.leaf_hash)
            row = conn.execute(q.where(T_EVENT.c.idempotency_key == idempotency_key)).first()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def events_by_key_prefix(self, prefix: str) -> list[tuple[int, bytes]]:
        """(leaf index, leaf bytes) of every event whose idempotency key starts with ``prefix``,
        in log order (``prefix`` is matched literally, ``%`` and ``_`` included)."""
        with self.engine.connect() as conn:
            q = select(T_EVENT.c.index, T_EVENT.c.leaf).where(
                T_EVENT.c.idempotency_key.startswith(prefix, autoescape=True)
            )
            return [(int(r[0]), bytes(r[1])) for r in conn.execute(q.order_by(T_EVENT.c.index))]

    def event_index(self, idempotency_key: str) -> int:
        """Leaf index of the event with this idempotency key."""
        with self.engine.connect() as conn:
            q = select(T_EVENT.c.index).where(T_EVENT.c.idempotency_key == idempotency_key)
            value = conn.execute(q).scalar_one_or_none()
        if value is None:
            raise NotFoundError(f"no event with idempotency key {idempotency_key!r}")
        return int(value)

    def snapshot(self, size: int | None = None) -> MerkleTree:
        """The Merkle tree of the first ``size`` leaves (default: all), read in one query, so
        inclusion and consistency proofs all come from this one snapshot."""
        with self.engine.connect() as conn:
            q = select(T_EVENT.c.leaf_hash).order_by(T_EVENT.c.index)
            if size is not None:
                q = q.where(T_EVENT.c.index < size)
            hashes = [bytes(x) for x in conn.execute(q).scalars()]
        if size is not None and len(hashes) != size:
            raise NotFoundError(f"the log has only {len(hashes)} leaves, not {size}")
        return MerkleTree(hashes)

    # -- checkpoints ------------------------------------------------------------------------------

    def checkpoint(self, operator: Ed25519PrivateKey, *, name: str | None = None) -> str:
        """Sign (or return the stored) checkpoint of the log at its current size."""
        size, origin, key_id = self.head()
        if key_id != key_id_of(operator.public_key()):
            raise ConflictError("only the ledger's operator key signs its checkpoints")
        existing = self.checkpoint_at(size)
        if existing is not None:
            return existing
        tree = self.snapshot(size)
        note = sign_checkpoint(Checkpoint(origin, size, tree.root()), name or origin, operator)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    T_CHECKPOINT.insert().values(tree_size=size, root=tree.root(), note=note)
                )
        except IntegrityError:
            pass  # signed concurrently: Ed25519 is deterministic, the note is the same
        return note

    def checkpoint_at(self, size: int) -> str | None:
        """The stored signed checkpoint at ``size``, if any."""
        with self.engine.connect() as conn:
            q = select(T_CHECKPOINT.c.note).where(T_CHECKPOINT.c.tree_size == size)
            value = conn.execute(q).scalar_one_or_none()
        return None if value is None else str(value)

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored checkpoint as (tree size, note), oldest first."""
        with self.engine.connect() as conn:
            q = select(T_CHECKPOINT.c.tree_size, T_CHECKPOINT.c.note).order_by(
                T_CHECKPOINT.c.tree_size
            )
            return [(int(r.tree_size), str(r.note)) for r in conn.execute(q)]


_HISTORICAL = object()
_SIMULATED: ContextVar[object] = ContextVar("powerdesk_simulated_ledger_clock", default=None)


def ledger_now() -> datetime | None:
    """The ledger's clock in this context: the system clock in UTC, a simulated clock, or
    ``None`` inside :func:`historical_time` (events are then judged at their own times)."""
    simulated = _SIMULATED.get()
    if simulated is None:
        return datetime.now(UTC)
    if simulated is _HISTORICAL:
        return None
    return cast("Callable[[], datetime]", simulated)()


@contextmanager
def simulated_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Run ledger appends in this context against ``clock`` instead of the system clock.

    For simulations of past days (``powerdesk demo``) and tests only: a server, the scheduler
    and the CLI never set it, so a signer cannot choose the time the log judges events by.
    """
    token = _SIMULATED.set(clock)
    try:
        yield
    finally:
        _SIMULATED.reset(token)


@contextmanager
def historical_time() -> Iterator[None]:
    """Append a recorded history in this context: no clock, so each event is judged at its own
    time (log order, key validity, expiry; like the offline verifier). Tests and simulations
    only, like :func:`simulated_clock`."""
    token = _SIMULATED.set(_HISTORICAL)
    try:
        yield
    finally:
        _SIMULATED.reset(token)


def proof_json(proof: Iterable[bytes]) -> list[str]:
    """A proof as a list of base64 hashes."""
    return [base64.b64encode(p).decode() for p in proof]


def operator_raw_key(private_key: Ed25519PrivateKey) -> bytes:
    """Raw public key [32 bytes] of a private key."""
    return raw_public_key(private_key.public_key())


def sign_and_append(
    store: LedgerStore,
    private_key: Ed25519PrivateKey,
    body: Any,
    at: datetime,
    idempotency_key: str | None = None,
) -> AppendResult:
    """Sign ``body`` as the next event of ``private_key`` (sequence from the log) and append it.

    A client that re-runs a command after a failure signs a *new* event (new time, new sequence),
    so an idempotency key already in the log is taken as that retry: the original event's result
    is returned (``replayed``) and nothing is signed or applied.
    """
    if idempotency_key is not None:
        original = store.event_by_idempotency_key(idempotency_key)
        if original is not None:
            return AppendResult(original[0], original[1], True, None)
    signer = EventSigner(private_key, store.last_seq(key_id_of(private_key.public_key())))
    return store.append(signer.sign(body, at, idempotency_key))
