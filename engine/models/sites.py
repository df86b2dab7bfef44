"""Registered sites: the site file's content kept as submitted (Alembic branch ``api``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import UTCDateTime


class SiteRow(SQLModel, table=True):
    """A site registered through the API, kept as submitted (TOML or JSON text)."""

    __tablename__ = "site"

    name: str = Field(primary_key=True, max_length=200)
    zone: str = Field(max_length=32)
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_format: str = Field(max_length=8)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=32)


__all__ = ["SiteRow"]
