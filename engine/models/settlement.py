"""Tables of metered consumption and daily settlement runs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import ExactDecimal, UTCDateTime


class MeterReadingRow(SQLModel, table=True):
    """Metered consumption of a site in one interval [MWh], exact, as imported."""

    __tablename__ = "meter_reading"
    __table_args__ = (UniqueConstraint("site", "interval_start", "dataset_id"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True)
    site: str = Field(max_length=128, index=True)
    interval_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    interval_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    energy_mwh: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))


class SettlementRun(SQLModel, table=True):
    """One settlement of a site and delivery day; a correction supersedes, never overwrites."""

    __tablename__ = "settlement_run"
    __table_args__ = (UniqueConstraint("site", "day", "run"),)

    id: int | None = Field(default=None, primary_key=True)
    site: str = Field(max_length=128, index=True)
    zone: str = Field(max_length=32)
    day: date = Field(index=True)
    run: int
    supersedes_run: int | None = None
    reason: str = Field(default="", max_length=512)
    currency: str = Field(max_length=8)
    total_cost: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    totals_json: str = Field(sa_column=Column(Text(), nullable=False))
    lines_json: str = Field(sa_column=Column(Text(), nullable=False))
    provenance_json: str = Field(sa_column=Column(Text(), nullable=False))
    certificates_json: str = Field(sa_column=Column(Text(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
