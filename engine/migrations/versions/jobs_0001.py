"""jobs: job runs (run-once claims) and bid submissions

Revision ID: jobs_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.core.dbtypes

revision: str = "jobs_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("jobs",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", engine.core.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", engine.core.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "attempt", name="uq_job_run_key_attempt"),
    )
    with op.batch_alter_table("job_run") as batch:
        batch.create_index("ix_job_run_claimed_at", ["claimed_at"])
        batch.create_index("ix_job_run_job", ["job"])
        batch.create_index("ix_job_run_key", ["key"])
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("submitted_at", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "path", "sha256", name="uq_submission_key_path_sha256"),
    )
    with op.batch_alter_table("submission") as batch:
        batch.create_index("ix_submission_key", ["key"])


def downgrade() -> None:
    op.drop_table("submission")
    op.drop_table("job_run")
