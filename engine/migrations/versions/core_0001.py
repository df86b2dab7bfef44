"""core: datasets and price points

Revision ID: core_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.core.dbtypes

revision: str = "core_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("core",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("dataset") as batch:
        batch.create_index("ix_dataset_kind", ["kind"])
        batch.create_index("ix_dataset_zone", ["zone"])
    op.create_table(
        "price_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=64), nullable=False),
        sa.Column("interval_start", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("interval_end", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("published_at", engine.core.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "series", "interval_start", "published_at"),
    )
    with op.batch_alter_table("price_point") as batch:
        batch.create_index("ix_price_point_dataset_id", ["dataset_id"])
        batch.create_index("ix_price_point_lookup", ["zone", "series", "interval_start"])


def downgrade() -> None:
    op.drop_table("price_point")
    op.drop_table("dataset")
