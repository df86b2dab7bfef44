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

import contextlib
import sqlite3
import threading
from typing import Any, Protocol

from sqlalchemy import Engine


class DataVersionProbe(Protocol):
    """The current data version token of one database."""

    def current(self) -> str | None:
        """The token now (different tokens: the data may differ; equal tokens: it does not), or
        None when the database cannot be asked (callers then read afresh)."""
        ...

    def close(self) -> None:
        """Release the probe's connection."""
        ...


class SqliteDataVersion:
    """``PRAGMA data_version`` on a dedicated autocommit connection to a SQLite file."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._conn: sqlite3.Connection | None = None
        self._epoch = 0  # counts connections: tokens of two connections never compare equal
        self._lock = threading.Lock()

    def current(self) -> str | None:
        with self._lock:
            try:
                if self._conn is None:
                    # A new connection counts from its own start: it can only miss, not replay.
                    self._conn = sqlite3.connect(
                        self._database, timeout=5, isolation_level=None, check_same_thread=False
                    )
                    self._epoch += 1
                row = self._conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                self._drop()
                return None
        return f"sqlite:{self._epoch}:{row[0]}"

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class PostgresDataVersion:
    """``pg_current_snapshot()`` on a dedicated autocommit connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._raw: Any = None
        self._lock = threading.Lock()

    def current(self) -> str | None:
        with self._lock:
            try:
                if self._raw is None:
                    self._raw = self._engine.raw_connection()
                    self._raw.driver_connection.autocommit = True
                cur = self._raw.driver_connection.execute("SELECT pg_current_snapshot()::text")
                row = cur.fetchone()
            except Exception:  # any failure: read afresh, reconnect next time
                self._drop()
                return None
        # The snapshot alone identifies the data, whichever connection took it.
        return f"pg:{row[0]}"

    def _drop(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.invalidate()
        self._raw = None

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                self._raw.close()
            self._raw = None


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
