"""Tables for imported market data: datasets (pinned by SHA-256) and their values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import UTCDateTime


class Dataset(SQLModel, table=True):
    """One imported file or generated series, pinned by the SHA-256 of its canonical bytes."""

    __tablename__ = "dataset"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)  # price | reserve_price | emission_factor | meter
    zone: str = Field(max_length=32, index=True)
    series: str = Field(max_length=64)  # DA, IMBALANCE, FCR, ef_grid, ...
    unit: str = Field(max_length=32)
    sha256: str = Field(max_length=64, unique=True)
    source: str = Field(max_length=512)
    rows: int
    imported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PricePoint(SQLModel, table=True):
    """A value of a series for one interval, as published at one instant (knowledge time)."""

    __tablename__ = "price_point"
    __table_args__ = (
        UniqueConstraint("dataset_id", "series", "interval_start", "published_at"),
        Index("ix_price_point_lookup", "zone", "series", "interval_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="dataset.id", index=True)
    zone: str = Field(max_length=32)
    series: str = Field(max_length=64)
    interval_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    interval_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    value: float
