"""``powerdesk keys api``: API keys of the trading-desk API (stored hashed in the database)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

api_keys_app = typer.Typer(help="API keys of the trading-desk API (roles trader, auditor, admin).")


@api_keys_app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", help="trader | auditor | admin")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")] = "",
) -> None:
    """Create an API key; prints its id and role, and the key itself on the LAST line (shown
    only once: only its SHA-256 is stored)."""
    from engine.access.keys import create_api_key, parse_role
    from engine.core.db import open_database

    role_ = parse_role(role)
    record, token = create_api_key(open_database(), role_, name)
    typer.echo(f"key_id: {record.key_id}\nrole: {record.role.value}")
    typer.echo(token)


@api_keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List API keys (ids, roles, names, creation and revocation times; never secrets)."""
    from engine.access.keys import list_api_keys
    from engine.core.db import open_database

    rows = [
        {
            "key_id": r.key_id,
            "role": r.role.value,
            "name": r.name,
            "created_at": r.created_at.isoformat(),
            "revoked_at": None if r.revoked_at is None else r.revoked_at.isoformat(),
        }
        for r in list_api_keys(open_database())
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        typer.echo(f"{r['key_id']}  {r['role']:<8} {state:<10} {r['name']}")


@api_keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="Key id (16 hex characters).")]) -> None:
    """Revoke an API key."""
    from engine.access.keys import revoke_api_key
    from engine.core.db import open_database

    record = revoke_api_key(open_database(), key_id)
    assert record.revoked_at is not None
    typer.echo(f"revoked {record.key_id} at {record.revoked_at.isoformat()}")
