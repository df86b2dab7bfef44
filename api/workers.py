"""Bid builds in worker processes: the API keeps its event loop for reads while solves run.

Each worker holds one database engine per URL; a domain error comes back as the API's status,
code and one-line message (:func:`api.error_map.classify`).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.error_map import classify
from api.errors import ApiError
from engine.bids.portfolio import PortfolioBidRequest, build_portfolio_bid
from engine.bids.service import BidRequest, build_bid
from engine.core.db import make_engine
from engine.io.portfolio_file import use_zones_file

_WORKER_ENGINES: dict[str, Engine] = {}
WORKER_NICENESS = 10


def lower_worker_priority(workers: int = 1) -> None:
    """Initializer of bid worker processes: solves yield the CPU to the API's reads (a read
    waits for no solve; a bid build takes a little longer when reads are busy), and the
    ``workers`` processes share the cores for a portfolio solve's threads (unless
    ``POWERDESK_SOLVER_THREADS`` is set)."""
    from engine.core.settings import SOLVER_THREADS_ENV

    os.nice(WORKER_NICENESS)
    share = max(1, (os.cpu_count() or 1) // max(1, workers))
    os.environ.setdefault(SOLVER_THREADS_ENV, str(share))


def build_bid_in_worker(
    url: str, request: BidRequest | PortfolioBidRequest, created_by: str, now: datetime
) -> tuple[str, Any]:
    """:func:`build_bid` (or :func:`build_portfolio_bid` for a portfolio's request) in a worker
    process (picklable in and out).

    Returns ``("ok", bid_id)``, ``("error", (status, code, message))`` for a domain error
    (mapped by :func:`api.error_map.classify`) or ``("bug", message)``.
    """
    engine = _WORKER_ENGINES.get(url)
    if engine is None:
        use_zones_file(None)  # a spawned worker registers $POWERDESK_ZONES as the API did
        engine = _WORKER_ENGINES[url] = make_engine(url)
    try:
        if isinstance(request, PortfolioBidRequest):
            return "ok", build_portfolio_bid(engine, request, created_by=created_by, now=now).id
        return "ok", build_bid(engine, request, created_by=created_by, now=now).id
    except Exception as exc:
        mapped = classify(exc)
        if mapped is None:
            return "bug", f"{type(exc).__name__}: {exc}"
        return "error", (mapped[0], mapped[1], " ".join(str(exc).split()))


async def build_in_background(
    pool: Executor | None,
    engine: Engine,
    url: str,
    request: BidRequest | PortfolioBidRequest,
    created_by: str,
    now: datetime,
) -> int:
    """Build a site's or a portfolio's bid off the event loop and return the stored id: in a
    worker process of ``pool`` (:func:`build_bid_in_worker`), or in a thread without one.

    Raises
    ------
    ApiError
        A domain error, mapped by :func:`api.error_map.classify` in the worker.
    """
    if pool is None:
        if isinstance(request, PortfolioBidRequest):
            built = await run_in_threadpool(
                build_portfolio_bid, engine, request, created_by=created_by, now=now
            )
            return built.id
        return (
            await run_in_threadpool(build_bid, engine, request, created_by=created_by, now=now)
        ).id
    outcome, value = await asyncio.get_running_loop().run_in_executor(
        pool, build_bid_in_worker, url, request, created_by, now
    )
    if outcome == "error":
        status, code, message = value
        raise ApiError(status, code, message)
    if outcome != "ok":
        raise RuntimeError(f"bid build failed in its worker: {value}")
    return int(value)
