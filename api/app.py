"""The trading-desk API: ``create_app()`` builds the FastAPI app over :mod:`engine`.

Run it with ``powerdesk serve`` (uvicorn). The lifespan opens (and migrates) the database; the
scheduler is a process of its own. Every route but ``GET /health`` needs an API key
(``Authorization: Bearer ...``); errors are JSON ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.deps import AuthCache
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.middleware import GuardMiddleware
from api.read_cache import ReadCache, ReadCacheMiddleware
from api.routes import (
    admin,
    backtests,
    bids,
    green,
    jobs,
    ledger,
    market,
    reports,
    settlements,
    sites,
)
from api.routes import portfolios as portfolio_routes
from api.schemas import Health
from api.settings import ApiSettings
from api.workers import lower_worker_priority
from engine.core.dataversion import data_version_probe
from engine.core.db import open_database
from engine.core.settings import Settings
from engine.io.portfolio_file import use_zones_file


def _version() -> str:
    try:
        return version("powerdesk")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def create_app(
    settings: Settings | None = None, api_settings: ApiSettings | None = None
) -> FastAPI:
    """The FastAPI app.

    Parameters
    ----------
    settings
        Engine settings (home, database URL); default from the environment.
    api_settings
        Body limit and auth cache; default from the environment.
    """
    settings = settings or Settings()
    api_settings = api_settings or ApiSettings()
    use_zones_file(None)  # $POWERDESK_ZONES: zones without a built-in entry (docs/portfolio.md)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = await run_in_threadpool(open_database, settings)
        probe = await run_in_threadpool(data_version_probe, engine)
        # One backtest at a time per API process; its day problems go to their own executor.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="powerdesk-backtest")
        bid_pool = (
            ProcessPoolExecutor(
                api_settings.bid_processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=lower_worker_priority,
                initargs=(api_settings.bid_processes,),
            )
            if api_settings.bid_processes
            else None
        )
        # The app imports the numeric stack (pandas, cvxpy): move those long-lived objects out of
        # the collector's reach, or each full collection stalls every request for ~0.5 s.
        if api_settings.gc_freeze:
            gc.collect()
            gc.freeze()
        app.state.engine = engine
        app.state.data_version = probe
        app.state.backtest_pool = pool
        app.state.bid_pool = bid_pool
        try:
            yield
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if bid_pool is not None:
                bid_pool.shutdown(wait=True, cancel_futures=True)
            app.state.engine = None
            app.state.data_version = None
            if probe is not None:
                probe.close()
            engine.dispose()

    app = FastAPI(
        title="powerdesk trading desk",
        version=_version(),
        description=(
            "Bids, market data, sites, backtests and the green-certificate ledger of powerdesk. "
            "Every route but /health needs `Authorization: Bearer <api key>`; roles: trader "
            "(build and submit bids, ledger actions), auditor (read-only), admin (everything "
            'and key management). Errors are `{"error": {"code", "message"}}`. POSTs '
            "accept an `Idempotency-Key` header."
        ),
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.api_settings = api_settings
    app.state.engine = None
    app.state.bid_pool = None
    app.state.data_version = None
    app.state.read_cache = ReadCache(max_bytes=int(api_settings.read_cache_mb * 1024 * 1024))
    app.state.bid_cache = bids.BidCache()
    app.state.auth_cache = AuthCache(api_settings.auth_cache_seconds)
    install_error_handlers(app)
    # Added last, so outermost: the guard refuses bad requests before the cache looks at them.
    app.add_middleware(ReadCacheMiddleware)
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=api_settings.max_body_bytes,
        idempotency_lease_s=api_settings.idempotency_lease_seconds,
        max_header_bytes=api_settings.max_header_bytes,
    )

    health_body = Health(status="ok", version=_version())

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:
        """Liveness; needs no key."""
        return health_body

    for module in (
        market,
        sites,
        bids,
        backtests,
        settlements,
        reports,
        ledger,
        green,
        jobs,
        admin,
    ):
        app.include_router(module.router)
    app.include_router(portfolio_routes.router)
    _errors_are_json(app)
    return app


def _errors_are_json(app: FastAPI) -> None:
    """Document error responses as JSON on every route (FastAPI gives a text route's error
    responses its own media type, but errors are always JSON)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[:1] in "45" and "application/json" not in content:
                            response["content"] = {"application/json": next(iter(content.values()))}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
