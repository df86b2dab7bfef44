"""api: tables named for their domain (site, bid, backtest); one submitted bid per site and day

Revision ID: api_0002
Revises: api_0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0002"
down_revision: str | Sequence[str] | None = "api_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBMITTED = sa.text("submission_status = 'submitted'")


def upgrade() -> None:
    op.rename_table("api_site", "site")
    op.rename_table("api_backtest", "backtest")
    with op.batch_alter_table("backtest", schema=None) as batch_op:
        batch_op.drop_index("ix_api_backtest_status")
        batch_op.create_index(batch_op.f("ix_backtest_status"), ["status"], unique=False)
    op.rename_table("api_bid", "bid")
    # Two rows submitted for one site and day (possible before this revision) keep the newest.
    op.execute(
        "UPDATE bid SET submission_status = 'superseded' WHERE submission_status = 'submitted' "
        "AND id NOT IN (SELECT MAX(id) FROM bid WHERE submission_status = 'submitted' "
        "GROUP BY site, day)"
    )
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.drop_index("ix_api_bid_site_day")
        batch_op.create_index("ix_bid_site_day", ["site", "day"], unique=False)
        batch_op.create_index(
            "uq_bid_submitted_site_day",
            ["site", "day"],
            unique=True,
            sqlite_where=SUBMITTED,
            postgresql_where=SUBMITTED,
        )


def downgrade() -> None:
    with op.batch_alter_table("bid", schema=None) as batch_op:
        batch_op.drop_index("uq_bid_submitted_site_day")
        batch_op.drop_index("ix_bid_site_day")
        batch_op.create_index("ix_api_bid_site_day", ["site", "day"], unique=False)
    op.rename_table("bid", "api_bid")
    with op.batch_alter_table("backtest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backtest_status"))
        batch_op.create_index("ix_api_backtest_status", ["status"], unique=False)
    op.rename_table("backtest", "api_backtest")
    op.rename_table("site", "api_site")
