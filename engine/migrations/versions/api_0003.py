"""api: idempotency claims get a lease and keep no secret (issue 11)

Stored responses were scoped by the SHA-256 of the raw ``Authorization`` header and kept every
body, API key tokens included. Scopes are now API key ids, so the old rows can never be replayed
again; they are deleted, and with them every secret they held.

Revision ID: api_0003
Revises: api_0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.core.dbtypes

revision: str = "api_0003"
down_revision: str | Sequence[str] | None = "api_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM api_idempotency")
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "heartbeat_at", engine.core.dbtypes.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("withheld", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.drop_column("withheld")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("claim_token")
