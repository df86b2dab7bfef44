"""cn: China GEC remainders carried between months; certificates bundled with a contract

``ledger_cell.carried_in_wh`` holds the metered energy below one certificate carried into a
monthly period (China GEC); ``ledger_bundle.contract`` names the green-electricity trading
contract a bundle was transferred with; ``ledger_green_record`` keeps green-electricity
contracts, settled monthly statements and unbundled GEC purchases (issue 14).

Revision ID: cn_0001
Revises: ledger_0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cn_0001"
down_revision: str | Sequence[str] | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_cell", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carried_in_wh", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("ledger_bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract", sa.String(length=200), nullable=True))
    op.create_table(
        "ledger_green_record",
        sa.Column("record_id", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("ledger_green_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_green_record_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_green_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_green_record_kind"))
    op.drop_table("ledger_green_record")
    with op.batch_alter_table("ledger_bundle", schema=None) as batch_op:
        batch_op.drop_column("contract")
    with op.batch_alter_table("ledger_cell", schema=None) as batch_op:
        batch_op.drop_column("carried_in_wh")
