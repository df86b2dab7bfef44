"""Generate a migration revision by comparing the models with a freshly migrated database.

Usage: ``python -m engine.migrations.autogen "message" --branch AREA [--new-branch]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command

from engine.core.db import alembic_config, make_engine, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("message")
    parser.add_argument("--branch", required=True, help="branch label, e.g. ledger")
    parser.add_argument("--rev-id", required=True, help="revision id, e.g. ledger_0002")
    parser.add_argument("--new-branch", action="store_true", help="start a new branch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'autogen.db'}"
        migrate(make_engine(url))
        cfg = alembic_config(url)
        if args.new_branch:
            command.revision(
                cfg,
                args.message,
                autogenerate=True,
                head="base",
                branch_label=args.branch,
                depends_on="core_0001",
                rev_id=args.rev_id,
            )
        else:
            command.revision(
                cfg, args.message, autogenerate=True, head=f"{args.branch}@head", rev_id=args.rev_id
            )


if __name__ == "__main__":
    main()
