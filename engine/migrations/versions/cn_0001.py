"""cn: China GEC remainders carried between months; certificates bundled with a contract

``ledger_cell.carried_in_wh`` holds the metered energy below one certificate carried into a
monthly period (China GEC); ``ledger_bundle.contract`` names the green-electricity trading
contract a bundle was transferred with (issue 14).

Revision ID: cn_0001
Revises: api_0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cn_0001"
down_revision: str | Sequence[str] | None = "api_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_cell", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carried_in_wh", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("ledger_bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_bundle", schema=None) as batch_op:
        batch_op.drop_column("contract")
    with op.batch_alter_table("ledger_cell", schema=None) as batch_op:
        batch_op.drop_column("carried_in_wh")
