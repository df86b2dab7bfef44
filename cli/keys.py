"""``powerdesk keys``: the ledger's Ed25519 keys in POWERDESK_HOME."""

from __future__ import annotations

from typing import Annotated

import typer

keys_app = typer.Typer(help="Ed25519 keys in POWERDESK_HOME (ledger operator and party keys).")

NameOpt = Annotated[str, typer.Option("--name", help="Key name (default: the ledger's key).")]


@keys_app.command("create")
def create(
    name: NameOpt = "ledger",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
) -> None:
    """Create an Ed25519 key in POWERDESK_HOME/keys/NAME.pem and print its key id."""
    from engine.certificates.keyfiles import create_key, load_private_key
    from engine.core.settings import Settings
    from ledger.keys import key_id_of

    settings = Settings()
    path = create_key(settings.ensure_home(), name, force=force)
    key = load_private_key(settings.home, name)
    typer.echo(f"created {path} key_id={key_id_of(key.public_key())}")


@keys_app.command("show")
def show(
    name: NameOpt = "ledger",
    public: Annotated[
        bool, typer.Option("--public", help="Print only the SubjectPublicKeyInfo PEM.")
    ] = False,
) -> None:
    """Show a key: its path and key id, or with --public its public key as PEM."""
    from engine.certificates.keyfiles import key_path, load_private_key, public_pem
    from engine.core.settings import Settings
    from ledger.keys import key_id_of

    settings = Settings()
    key = load_private_key(settings.home, name)
    if public:
        typer.echo(public_pem(key), nl=False)
        return
    typer.echo(f"name: {name}\npath: {key_path(settings.home, name)}")
    typer.echo(f"key_id: {key_id_of(key.public_key())}")


@keys_app.command("rotate")
def rotate() -> None:
    """Replace the ledger operator's key: the log records the hand-over (the old key registers
    the new one, which revokes the old); checkpoints are signed with the new key from then on.
    The old key is kept in POWERDESK_HOME/keys/retired/. Re-run after an interruption to finish.
    """
    import json
    from datetime import UTC, datetime

    from engine.certificates.keyfiles import rotate_ledger_key
    from engine.certificates.store import LedgerStore
    from engine.core.db import open_database
    from engine.core.settings import Settings

    settings = Settings()
    store = LedgerStore(open_database(settings))
    at = datetime.now(UTC).replace(microsecond=0)
    old_id, new_id = rotate_ledger_key(settings.home, store, at)
    size, _, _ = store.head()
    retired = settings.home / "keys" / "retired" / f"ledger-{old_id}.pem"
    typer.echo(
        json.dumps(
            {
                "old_key_id": old_id,
                "new_key_id": new_id,
                "retired_key": str(retired),
                "log_size": size,
            }
        )
    )


from cli.apikeys import api_keys_app  # noqa: E402

keys_app.add_typer(api_keys_app, name="api")
