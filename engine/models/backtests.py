"""Backtests run through the API: request, status and results (Alembic branch ``api``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import UTCDateTime


class BacktestRow(SQLModel, table=True):
    """A backtest started through the API: its request, status and results."""

    __tablename__ = "backtest"

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


__all__ = ["BacktestRow"]
