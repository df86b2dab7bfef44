"""Tables of access to the trading-desk API: API keys and the stored responses of idempotent
POSTs (Alembic branch ``api``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import UTCDateTime


class ApiKey(SQLModel, table=True):
    """An API key: its public id, the SHA-256 of the whole secret token, and its role."""

    __tablename__ = "api_key"

    key_id: str = Field(primary_key=True, max_length=32)
    secret_sha256: str = Field(max_length=64)
    role: str = Field(max_length=16)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ApiIdempotency(SQLModel, table=True):
    """The stored response of a POST made with an ``Idempotency-Key`` (per API key id).

    A pending row holds its claimant's ``claim_token`` and ``heartbeat_at`` (its lease); a done
    row whose response held a secret is ``withheld`` (no body stored)."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_api_idempotency_scope_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=64)
    key: str = Field(max_length=200)
    method: str = Field(max_length=8)
    path: str = Field(max_length=500)
    request_sha256: str = Field(max_length=64)
    state: str = Field(max_length=16)
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claim_token: str | None = Field(default=None, max_length=32)
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    withheld: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )


__all__ = ["ApiIdempotency", "ApiKey"]
