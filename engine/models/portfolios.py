"""Portfolios: the portfolio file kept as submitted with the names of its registered sites, and
each co-optimised build of a delivery day (the site bids it stored and the migratable jobs'
allocation; Alembic branch ``api``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import ExactDecimal, UTCDateTime


class PortfolioRow(SQLModel, table=True):
    """A registered portfolio: its file's content and its sites (registered sites, file order)."""

    __tablename__ = "portfolio"

    name: str = Field(primary_key=True, max_length=200)
    content: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    sites_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=32)


class PortfolioBidRow(SQLModel, table=True):
    """One co-optimised build of a portfolio's delivery day: a bid per site (rows of ``bid``,
    by id) and the allocation of every migratable job per site and interval."""

    __tablename__ = "portfolio_bid"
    __table_args__ = (Index("ix_portfolio_bid_portfolio_day", "portfolio", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    portfolio: str = Field(max_length=200)
    portfolio_sha256: str = Field(max_length=64)
    day: date
    strategy: str = Field(max_length=32)
    inputs_as_of: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    currency: str = Field(max_length=3)
    expected_cost: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    bids_json: str = Field(sa_column=Column(Text, nullable=False))
    allocation_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=32)


__all__ = ["PortfolioBidRow", "PortfolioRow"]
