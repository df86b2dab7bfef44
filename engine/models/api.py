"""Tables of the trading-desk API: API keys, registered sites, built bids, backtest runs and
stored responses of idempotent POSTs (Alembic branch ``api``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import ExactDecimal, UTCDateTime


class ApiKey(SQLModel, table=True):
    """An API key: its public id, the SHA-256 of the whole secret token, and its role."""

    __tablename__ = "api_key"

    key_id: str = Field(primary_key=True, max_length=32)
    secret_sha256: str = Field(max_length=64)
    role: str = Field(max_length=16)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ApiSite(SQLModel, table=True):
    """A site registered through the API, kept as submitted (TOML or JSON text)."""

    __tablename__ = "api_site"

    name: str = Field(primary_key=True, max_length=200)
    zone: str = Field(max_length=32)
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_format: str = Field(max_length=8)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=32)


class ApiBid(SQLModel, table=True):
    """A bid set built for one site and delivery day, with its provenance."""

    __tablename__ = "api_bid"
    __table_args__ = (Index("ix_api_bid_site_day", "site", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    site: str = Field(max_length=200)
    site_sha256: str = Field(max_length=64)
    zone: str = Field(max_length=32)
    day: date
    strategy: str = Field(max_length=32)
    perfect_information: bool
    inputs_as_of: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    gate_closure: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    price_sources: str = Field(sa_column=Column(Text, nullable=False))
    code_version: str = Field(max_length=64)
    solver: str = Field(max_length=32)
    solver_version: str = Field(max_length=64)
    solver_status: str = Field(max_length=32)
    parameter_hash: str = Field(max_length=64)
    scenario_method: str = Field(max_length=64)
    n_scenarios: int
    currency: str = Field(max_length=3)
    expected_cost: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    objective_json: str = Field(sa_column=Column(Text, nullable=False))
    curves_json: str = Field(sa_column=Column(Text, nullable=False))
    reserve_bids_json: str = Field(sa_column=Column(Text, nullable=False))
    block_bids_json: str = Field(sa_column=Column(Text, nullable=False))
    schedule_json: str = Field(sa_column=Column(Text, nullable=False))
    breaches_json: str = Field(sa_column=Column(Text, nullable=False))
    submission_status: str = Field(max_length=16)
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    submission_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=32)


class ApiBacktest(SQLModel, table=True):
    """A backtest started through the API: its request, status and results."""

    __tablename__ = "api_backtest"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(max_length=16, index=True)
    request_json: str = Field(sa_column=Column(Text, nullable=False))
    summary_json: str | None = Field(default=None, sa_column=Column(Text))
    days_json: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_by: str = Field(max_length=32)


class ApiIdempotency(SQLModel, table=True):
    """The stored response of a POST made with an ``Idempotency-Key`` (per API key)."""

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


__all__ = ["ApiBacktest", "ApiBid", "ApiIdempotency", "ApiKey", "ApiSite"]
