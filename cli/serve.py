"""``powerdesk serve``: run the trading-desk API (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Run the trading-desk API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from api.server import PROTOCOL  # refuses over-large request heads early (431)

    if workers > 1:
        # Several processes need the app by import string; each builds its own.
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            http=PROTOCOL,
        )
        return
    from api.app import create_app

    uvicorn.run(create_app(), host=host, port=port, access_log=access_log, http=PROTOCOL)
