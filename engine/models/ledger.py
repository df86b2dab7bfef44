"""Ledger tables: the append-only event log and the state derived from it in the same transaction.

``ledger_event`` is the log (index = Merkle leaf index, exact leaf bytes); the other tables are the
current state for queries, written by :mod:`engine.certificates.store` together with each event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import ExactDecimal, UTCDateTime


class LedgerHead(SQLModel, table=True):
    """The single row every ledger write locks first: log size and origin."""

    __tablename__ = "ledger_head"

    id: int = Field(primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    origin: str = Field(max_length=200)
    operator_key_id: str = Field(max_length=32)


class LedgerEvent(SQLModel, table=True):
    """One signed event; ``index`` is its leaf index in the transparency log."""

    __tablename__ = "ledger_event"
    __table_args__ = (UniqueConstraint("key_id", "seq", name="uq_ledger_event_key_seq"),)

    index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    key_id: str = Field(max_length=32)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    idempotency_key: str = Field(max_length=200, unique=True)
    leaf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class LedgerKey(SQLModel, table=True):
    """A registered signing key and the last sequence number it used."""

    __tablename__ = "ledger_key"

    key_id: str = Field(primary_key=True, max_length=32)
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    party: str = Field(max_length=200, index=True)
    roles: str = Field(max_length=64)
    valid_from: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    valid_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerDevice(SQLModel, table=True):
    """A registered production device."""

    __tablename__ = "ledger_device"

    device: str = Field(primary_key=True, max_length=200)
    capacity_w: int = Field(sa_column=Column(BigInteger, nullable=False))
    technology: str = Field(max_length=200)
    zone: str = Field(max_length=200)
    resolution_s: int
    issuer: str = Field(max_length=200)


class LedgerCell(SQLModel, table=True):
    """Tallies [Wh] of one (device, production interval)."""

    __tablename__ = "ledger_cell"

    device: str = Field(primary_key=True, max_length=200)
    interval_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    interval_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    next_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    issued_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    active_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    retired_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    expired_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    withdrawn_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    metered_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    carried_in_wh: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class LedgerBundle(SQLModel, table=True):
    """Current state of a certificate bundle (ids [id_start, id_end), one per Wh)."""

    __tablename__ = "ledger_bundle"
    __table_args__ = (Index("ix_ledger_bundle_cell", "device", "interval_start"),)

    bundle_id: str = Field(primary_key=True, max_length=300)
    scheme: str = Field(max_length=32)
    device: str = Field(max_length=200)
    technology: str = Field(max_length=200)
    zone: str = Field(max_length=200)
    interval_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    interval_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    id_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    id_end: int = Field(sa_column=Column(BigInteger, nullable=False))
    energy_wh: int = Field(sa_column=Column(BigInteger, nullable=False))
    owner: str = Field(max_length=200, index=True)
    issuer: str = Field(max_length=200)
    status: str = Field(max_length=16, index=True)
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    external_code: str | None = Field(default=None, max_length=200)
    parent: str | None = Field(default=None, max_length=300)
    created_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    beneficiary: str | None = Field(default=None, max_length=200)
    site: str | None = Field(default=None, max_length=200)
    consumption_start: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    consumption_end: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    consumption_zone: str | None = Field(default=None, max_length=200)
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    contract: str | None = Field(default=None, max_length=200)


class LedgerCheckpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP signed note) of the log at ``tree_size``."""

    __tablename__ = "ledger_checkpoint"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))


class LedgerPPA(SQLModel, table=True):
    """An imported PPA contract (the TOML text is kept as imported)."""

    __tablename__ = "ledger_ppa"

    ppa_id: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=64)
    buyer: str = Field(max_length=200)
    counterparty: str = Field(max_length=200)
    zone: str = Field(max_length=32)
    currency: str = Field(max_length=3)
    strike_per_mwh: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    contract_toml: str = Field(sa_column=Column(Text, nullable=False))


class LedgerGreenRecord(SQLModel, table=True):
    """A green-electricity trading contract (its TOML as imported), a settled monthly statement
    or an unbundled GEC purchase (canonical JSON of the outcome and its ledger indexes)."""

    __tablename__ = "ledger_green_record"

    record_id: str = Field(primary_key=True, max_length=300)
    kind: str = Field(max_length=16, index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))


__all__ = [
    "LedgerBundle",
    "LedgerCell",
    "LedgerCheckpoint",
    "LedgerDevice",
    "LedgerEvent",
    "LedgerGreenRecord",
    "LedgerHead",
    "LedgerKey",
    "LedgerPPA",
]
