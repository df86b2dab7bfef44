"""Load test of the trading-desk API on loopback: ``powerdesk bench api``.

A throw-away home (a SQLite file, or a throw-away database on a PostgreSQL server) gets synthetic
DE-LU day-ahead prices for March 2025, one site, one trader key and a few bids. The API runs
under uvicorn on 127.0.0.1 in a subprocess of its own session that stops by itself after
``lifetime_s`` (and is stopped as soon as the run ends). A minimal asyncio HTTP/1.1 client keeps
``concurrency`` keep-alive connections busy until ``requests`` are done: reads (zone, sites, bid
list, one bid with its curves, log entries) mixed with bid builds (``POST /bids``), either on the
same connections (``bid_share``) or on ``bid_streams`` connections of their own. Latencies are
measured per request on the client, so they include queueing at the server.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from engine.access.keys import create_api_key
from engine.bids.service import BidRequest, build_bid
from engine.core.db import create_scratch_database, drop_database, open_database, session_scope
from engine.core.settings import Settings
from engine.marketdata.store import load_price_file
from engine.sites.registry import register_site
from market import delivery_intervals

ZONE = "DE-LU"
FIRST_DAY = date(2025, 3, 1)
DAYS = 31
SITE_TOML = """
name = "bench-dc"
zone = "DE-LU"

[load]
base_it_mw = 40.0
pue = 1.2
grid_import_max_mw = 120.0

[[jobs]]
name = "training"
energy_mwh = 300.0
max_power_mw = 30.0
window_start = "00:00"
window_end = "24:00"
preemptible = true

[battery]
energy_mwh = 40.0
power_mw = 20.0
charge_efficiency = 0.95
discharge_efficiency = 0.95
soc_initial_mwh = 20.0
soc_min_mwh = 4.0
soc_max_mwh = 40.0
"""

_SERVER = """
import os, signal, sys, threading
host, port, workers, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop = threading.Timer(lifetime, lambda: os.killpg(os.getpgid(0), signal.SIGTERM))
stop.daemon = True
stop.start()
import uvicorn
uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
            log_level="warning", access_log=False)
"""


def synthetic_prices_csv(path: Path, seed: int = 0) -> None:
    """A canonical DA price file for March 2025 in DE-LU: a daily shape, weekday level and noise
    [EUR/MWh] (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    lines = ["interval_start,price"]
    for k in range(DAYS):
        day = FIRST_DAY + timedelta(days=k)
        starts = delivery_intervals(day, ZONE)
        local_hour = starts.tz_convert("Europe/Berlin").hour.to_numpy()
        level = 90.0 if day.weekday() < 5 else 70.0
        shape = 25.0 * np.sin((local_hour - 7) / 24.0 * 2.0 * math.pi)
        prices = level + shape + rng.normal(0.0, 8.0, len(starts))
        lines += [f"{t.isoformat()},{p:.2f}" for t, p in zip(starts, prices, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile_ms(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)) * 1000.0, 2)


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50_ms": _percentile_ms(values, 50),
        "p99_ms": _percentile_ms(values, 99),
        "max_ms": None if not values else round(max(values) * 1000.0, 2),
    }


class _Connection:
    """One keep-alive HTTP/1.1 connection (a minimal client: requests with a body of JSON,
    responses with Content-Length; it costs the load generator far less CPU per request than a
    general-purpose client, so the server, not the client, is measured)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes | None) -> int:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
        self.reader = self.writer = None


async def _drive(
    port: int,
    token: str,
    plan: list[tuple[str, str, dict[str, Any] | None]],
    concurrency: int,
    rate_rps: float | None = None,
    bid_streams: int = 0,
    bid_days: list[str] | None = None,
) -> tuple[dict[str, list[float]], dict[str, int], float, float]:
    import json

    latencies: dict[str, list[float]] = {"read": [], "bid": []}
    statuses: dict[str, int] = {}
    items = iter(enumerate(plan))
    connections = [_Connection("127.0.0.1", port, token) for _ in range(concurrency)]
    streams = [_Connection("127.0.0.1", port, token) for _ in range(bid_streams)]
    await asyncio.gather(*(c.open() for c in connections + streams))
    plan_done = asyncio.Event()
    start = time.perf_counter()

    async def bid_stream(conn: _Connection, k: int) -> None:
        # Bid builds back to back on a connection of their own, while the plan runs.
        days = bid_days or [FIRST_DAY.isoformat()]
        n = k
        while not plan_done.is_set():
            body = {"site": "bench-dc", "day": days[n % len(days)], "n_scenarios": 3}
            n += bid_streams
            t0 = time.perf_counter()
            status = await conn.request("POST", "/bids", json.dumps(body).encode())
            latencies["bid"].append(time.perf_counter() - t0)
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    async def worker(conn: _Connection) -> None:
        for i, (kind, path, body) in items:
            data = None if body is None else json.dumps(body).encode()
            t0 = time.perf_counter()
            if rate_rps is not None:
                # Open loop: request i is due at i / rate; latency counts from when it was due,
                # so a server that falls behind is charged for the wait (no coordinated omission).
                due = start + i / rate_rps
                if due > t0:
                    await asyncio.sleep(due - t0)
                t0 = due
            try:
                status = await conn.request("GET" if data is None else "POST", path, data)
            except (ConnectionError, asyncio.IncompleteReadError):
                await conn.close()
                status = await conn.request("GET" if data is None else "POST", path, data)
            latencies[kind].append(time.perf_counter() - t0)
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    async def plan_workers() -> float:
        await asyncio.gather(*(worker(c) for c in connections))
        plan_done.set()
        return time.perf_counter() - start

    timed = asyncio.ensure_future(plan_workers())
    await asyncio.gather(timed, *(bid_stream(c, k) for k, c in enumerate(streams)))
    plan_wall = timed.result()
    wall = time.perf_counter() - start
    await asyncio.gather(*(c.close() for c in connections + streams))
    return latencies, statuses, plan_wall, wall


def _plan(
    n: int, bid_share: float, bid_ids: list[int], seed: int
) -> list[tuple[str, str, dict[str, Any] | None]]:
    rng = np.random.default_rng(seed)
    reads = [
        f"/zones/{ZONE}",
        "/sites",
        "/bids?limit=10",
        "/ledger/entries?limit=10",
        *[f"/bids/{i}" for i in bid_ids],
    ]
    plan: list[tuple[str, str, dict[str, Any] | None]] = []
    for i in range(n):
        if rng.random() < bid_share:
            day = FIRST_DAY + timedelta(days=8 + int(rng.integers(0, 20)))
            body = {"site": "bench-dc", "day": day.isoformat(), "n_scenarios": 3}
            plan.append(("bid", "/bids", body))
        else:
            plan.append(("read", reads[i % len(reads)], None))
    return plan


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    import httpx

    from engine.core.errors import PowerdeskError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PowerdeskError(f"the API server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise PowerdeskError(f"the API server did not answer within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def bench_api(
    *,
    requests: int = 3000,
    concurrency: int = 100,
    bid_share: float = 0.01,
    workers: int = 1,
    seed: int = 0,
    lifetime_s: float = 600.0,
    rate_rps: float | None = None,
    read_cache: bool = True,
    bid_streams: int = 0,
    postgres_url: str | None = None,
) -> dict[str, Any]:
    """Run the load test; returns throughput and p50/p99 latency of reads and bid builds.

    Parameters
    ----------
    requests
        Requests of the measured run (after a warm-up of ``concurrency`` reads and 2 bids).
    concurrency
        Requests in flight at once.
    bid_share
        Share of the requests that build a bid [-].
    workers
        uvicorn worker processes.
    seed
        Seed of the synthetic prices and the request mix.
    rate_rps
        Open loop: requests are due at this aggregate rate [1/s] over the ``concurrency``
        connections and latency counts from when each was due; None (closed loop): every
        connection sends its next request as soon as the last one is answered.
    lifetime_s
        The server stops by itself after this long at the latest [s].
    bid_streams
        Connections besides ``concurrency`` that build bids back to back for as long as the
        measured requests run (so that ``concurrency`` reads stay in flight while bids build).
    postgres_url
        A PostgreSQL server (``postgresql+psycopg://...``) on which a throw-away database is
        created for the run and dropped after it; None: a SQLite file in the throw-away home.
    read_cache
        Let the server replay unchanged reads (``api.read_cache``, its default); False computes
        every read afresh (``POWERDESK_API_READ_CACHE_MB=0``).
    """
    home = Path(tempfile.mkdtemp(prefix="powerdesk-bench-api-"))
    proc: subprocess.Popen[bytes] | None = None
    database_url = (
        None if postgres_url is None else create_scratch_database(postgres_url, "powerdesk_bench")
    )
    try:
        settings = Settings(home=home, database_url=database_url)
        engine = open_database(settings)
        prices = home / "da.csv"
        synthetic_prices_csv(prices, seed)
        with session_scope(engine) as session:
            load_price_file(session, prices, ZONE)
        register_site(engine, SITE_TOML, "toml")
        _, token = create_api_key(engine, "trader", "bench")
        bid_ids = [
            build_bid(engine, BidRequest(site="bench-dc", day=FIRST_DAY + timedelta(days=d))).id
            for d in (8, 9, 10)
        ]
        engine.dispose()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "POWERDESK_HOME": str(home)}
        env.pop("POWERDESK_DATABASE_URL", None)
        if database_url is not None:
            env["POWERDESK_DATABASE_URL"] = database_url
        env.pop("POWERDESK_API_READ_CACHE_MB", None)
        if not read_cache:
            env["POWERDESK_API_READ_CACHE_MB"] = "0"
        with (home / "server.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _SERVER,
                    "127.0.0.1",
                    str(port),
                    str(workers),
                    str(lifetime_s),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(base, proc)
        warm = _plan(concurrency, 0.0, bid_ids, seed + 1)
        warm += [("bid", "/bids", {"site": "bench-dc", "day": "2025-03-12"})] * 2
        asyncio.run(_drive(port, token, warm, min(concurrency, len(warm))))
        plan = _plan(requests, bid_share, bid_ids, seed)
        days = [(FIRST_DAY + timedelta(days=8 + k)).isoformat() for k in range(20)]
        latencies, statuses, plan_wall, wall = asyncio.run(
            _drive(port, token, plan, concurrency, rate_rps, bid_streams, days)
        )
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(home, ignore_errors=True)
        if postgres_url is not None and database_url is not None:
            drop_database(postgres_url, database_url)
    done = sum(statuses.values())
    return {
        "requests": done,
        "concurrency": concurrency,
        "mode": "closed loop" if rate_rps is None else f"open loop at {rate_rps:g} requests/s",
        "server_workers": workers,
        "read_cache": read_cache,
        "database": "sqlite" if postgres_url is None else "postgresql",
        "scratch_database": (None if database_url is None else make_url(database_url).database),
        "bid_streams": bid_streams,
        "wall_s": round(wall, 3),
        "throughput_rps": round(done / wall, 1),
        "plan_throughput_rps": round(len(plan) / plan_wall, 1),
        "reads": _stats(latencies["read"]),
        "bid_builds": _stats(latencies["bid"]),
        "statuses": dict(sorted(statuses.items())),
        "cpu_count": os.cpu_count(),
    }
