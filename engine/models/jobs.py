"""Tables of the scheduler: job runs (run-once claims by business key) and bid submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.core.dbtypes import UTCDateTime


class JobRun(SQLModel, table=True):
    """One attempt at running a job identified by its business key.

    Rows are appended, never deleted: attempt ``n + 1`` of a key is a new row, so the table is the
    full history of every key. The unique ``(key, attempt)`` pair is what makes a claim atomic
    across processes and hosts: two claimants inserting the same next attempt collide on it.
    """

    __tablename__ = "job_run"
    __table_args__ = (
        UniqueConstraint("key", "attempt", name="uq_job_run_key_attempt"),
        Index("ix_job_run_claimed_at", "claimed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32, index=True)  # the kind: bid | settle | report | ...
    key: str = Field(max_length=200, index=True)  # business key, e.g. settle:example-dc:2025-03-30
    attempt: int  # 1, 2, ... per key
    status: str = Field(max_length=16)  # claimed | running | succeeded | failed | abandoned
    claimed_by: str = Field(max_length=200)  # host:pid:uuid of the claimant
    claimed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    forced: bool = False
    result: str | None = Field(default=None, sa_column=Column(Text()))  # JSON text
    error: str | None = Field(default=None, sa_column=Column(Text()))


class Submission(SQLModel, table=True):
    """One exchange file handed to the outbox for a bid's business key, pinned by SHA-256."""

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("key", "path", "sha256", name="uq_submission_key_path_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, index=True)
    zone: str = Field(max_length=32)
    path: str = Field(max_length=512)  # relative to POWERDESK_HOME, '/' separated
    sha256: str = Field(max_length=64)
    size_bytes: int
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
