"""``powerdesk desk``: sign-in links for the trading desk's web page (``/desk/``)."""

from __future__ import annotations

from typing import Annotated

import typer

desk_app = typer.Typer(help="The trading desk in a browser (served by `powerdesk serve`).")


@desk_app.command("url")
def url(
    role: Annotated[str, typer.Option("--role", help="trader | auditor | admin")],
    base: Annotated[
        str, typer.Option("--base", help="Where `powerdesk serve` is reached.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Print a one-time sign-in link (valid 15 minutes) bound to a new API key of ROLE; the
    browser that opens it gets a session of 8 hours."""
    from engine.core.db import open_database
    from engine.core.settings import Settings
    from web.session import create_signin_link

    settings = Settings()
    link = create_signin_link(open_database(settings), settings.ensure_home(), role, base)
    typer.echo(link.url)
