"""api: bids keep the settings they were decided with

The real-time stage re-plans a submitted bid's plan, which it rebuilds from the stored data; a
bid built with a seed, price model or reserve choice other than the defaults could not be
rebuilt without them. ``decision_json`` keeps them (NULL for older bids: the defaults).

Revision ID: api_0004
Revises: api_0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0004"
down_revision: str | Sequence[str] | None = "api_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.drop_column("decision_json")
