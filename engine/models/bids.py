"""Bids: a site's bid set for one delivery day with its provenance and submission status
(``built``, ``submitted`` or ``superseded``; Alembic branch ``api``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import ExactDecimal, UTCDateTime


class BidRow(SQLModel, table=True):
    """A bid set built for one site and delivery day, with its provenance."""

    __tablename__ = "bid"
    __table_args__ = (
        Index("ix_bid_site_day", "site", "day"),
        # The one submission path's guard: at most one submitted bid per site and day.
        Index(
            "uq_bid_submitted_site_day",
            "site",
            "day",
            unique=True,
            sqlite_where=text("submission_status = 'submitted'"),
            postgresql_where=text("submission_status = 'submitted'"),
        ),
    )

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
    # The request settings the plan was decided with (seed, price model, reserves, breaches),
    # so the plan can be rebuilt for the real-time stage; NULL for bids stored before api_0004.
    decision_json: str | None = Field(default=None, sa_column=Column(Text))


__all__ = ["BidRow"]
