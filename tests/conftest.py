"""Shared fixtures: isolated powerdesk homes and throw-away PostgreSQL databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from engine.core.db import create_scratch_database, drop_database

# Property tests judge behaviour, not speed: a busy 2-core machine must not fail them on
# timing (speed targets live in `powerdesk bench`).
settings.register_profile("powerdesk", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("powerdesk")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PG_ENV = "POWERDESK_TEST_POSTGRES_URL"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh POWERDESK_HOME with the default SQLite database inside it."""
    h = tmp_path / "home"
    monkeypatch.setenv("POWERDESK_HOME", str(h))
    monkeypatch.delenv("POWERDESK_DATABASE_URL", raising=False)
    return h


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    url = create_scratch_database(base, "powerdesk_t")
    try:
        yield url
    finally:
        drop_database(base, url)


@pytest.fixture
def historical_ledger() -> Iterator[None]:
    """Ledger appends judged at each event's own time (a recorded history replayed), for tests
    whose events carry fixed past times; the clock rules are tested on their own
    (tests/engine/test_event_time.py)."""
    from engine.certificates.store import historical_time

    with historical_time():
        yield
