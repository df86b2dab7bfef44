"""``powerdesk serve``: run the trading-desk API (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Run the trading-desk API (OpenAPI at /openapi.json, docs at /docs) and the desk's web
    page at /desk/ (sign in with `powerdesk desk url --role ...`)."""
    import uvicorn

    from api.server import PROTOCOL  # refuses over-large request heads early (431)

    if workers > 1:
        # Several processes need the app by import string; each builds its own.
        uvicorn.run(
            "cli.serve:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            http=PROTOCOL,
        )
        return
    uvicorn.run(create_served_app(), host=host, port=port, access_log=access_log, http=PROTOCOL)


def create_served_app() -> FastAPI:
    """The app `powerdesk serve` runs: the API with the desk's pages under /desk/."""
    from api.app import create_app
    from web.app import install_desk

    return install_desk(create_app())
