"""Bid builds in worker processes: the API keeps its event loop for reads while solves run.

Each worker holds one database engine per URL; a domain error comes back as the API's status,
code and one-line message (:func:`api.error_map.classify`).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from api.error_map import classify
from engine.bids.portfolio import PortfolioBidRequest, build_portfolio_bid
from engine.bids.service import BidRequest, build_bid
from engine.core.db import make_engine
from engine.io.portfolio_file import use_zones_file

_WORKER_ENGINES: dict[str, Engine] = {}
WORKER_NICENESS = 10


def lower_worker_priority() -> None:
    """Initializer of bid worker processes: solves yield the CPU to the API's reads (a read
    waits for no solve; a bid build takes a little longer when reads are busy)."""
    os.nice(WORKER_NICENESS)


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
