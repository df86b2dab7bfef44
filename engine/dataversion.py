"""A cheap token that changes whenever any committed data of the database may have changed.

A reader takes the token *before* it reads; a result stored under that token is still exact
while the token is unchanged (a commit between taking the token and reading only makes the
stored result newer than its token, and the next token differs). Used by the API's read cache.

- SQLite (a file): ``PRAGMA data_version`` on a connection of its own, which changes when any
  other connection, in this process or another, commits to the file.
- PostgreSQL: ``pg_current_snapshot()``: an identical snapshot sees an identical set of
  committed transactions, so identical data; any commit in the cluster changes it (as may a
  transaction that merely started: that costs a needless refresh, never a stale read).

Anything else (an in-memory SQLite database, another backend) has no probe: callers then read
afresh every time.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Protocol

from sqlalchemy import Engine


class DataVersionProbe(Protocol):
    """The current data version token of one database."""

    def current(self) -> str:
        """The token now (different tokens: the data may differ; equal tokens: it does not)."""
        ...

    def close(self) -> None:
        """Release the probe's connection."""
        ...


class SqliteDataVersion:
    """``PRAGMA data_version`` on a dedicated autocommit connection to a SQLite file."""

    def __init__(self, database: str) -> None:
        self._conn = sqlite3.connect(
            database, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            row = self._conn.execute("PRAGMA data_version").fetchone()
        return f"sqlite:{row[0]}"

    def close(self) -> None:
        self._conn.close()


class PostgresDataVersion:
    """``pg_current_snapshot()`` on a dedicated autocommit connection."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection()
        driver = self._raw.driver_connection
        if driver is None:  # pragma: no cover - a fresh pooled connection always has one
            raise RuntimeError("no driver connection")
        driver.autocommit = True
        self._driver: Any = driver
        self._lock = threading.Lock()

    def current(self) -> str:
        with self._lock:
            cur = self._driver.execute("SELECT pg_current_snapshot()::text")
            row = cur.fetchone()
        return f"pg:{row[0]}"

    def close(self) -> None:
        self._raw.close()


def data_version_probe(engine: Engine) -> DataVersionProbe | None:
    """The probe for ``engine``'s database, or None where there is none (in-memory SQLite,
    other backends)."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return SqliteDataVersion(database)
    if backend == "postgresql" and url.get_driver_name() == "psycopg":
        return PostgresDataVersion(engine)
    return None
