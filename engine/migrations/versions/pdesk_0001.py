"""api: portfolios (the file and its sites) and their co-optimised day builds (issue 13)

Revision ID: pdesk_0001
Revises: api_0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.core.dbtypes

revision: str = "pdesk_0001"
down_revision: str | Sequence[str] | None = "api_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portfolio",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sites_json", sa.Text(), nullable=False),
        sa.Column("created_at", engine.core.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.core.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "portfolio_bid",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio", sa.String(length=200), nullable=False),
        sa.Column("portfolio_sha256", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("inputs_as_of", engine.core.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_cost", engine.core.dbtypes.ExactDecimal(length=64), nullable=False),
        sa.Column("bids_json", sa.Text(), nullable=False),
        sa.Column("allocation_json", sa.Text(), nullable=False),
        sa.Column("created_at", engine.core.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portfolio_bid", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portfolio_bid_portfolio_day", ["portfolio", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("portfolio_bid", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_bid_portfolio_day")
    op.drop_table("portfolio_bid")
    op.drop_table("portfolio")
