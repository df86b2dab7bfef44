"""Fixtures of the API tests: a migrated home with prices, sites and one key per role, and the
real app under FastAPI's TestClient (lifespan started)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

import engine.models  # noqa: F401
from api.app import create_app
from api.settings import ApiSettings
from engine.access.keys import create_api_key
from engine.core.db import open_database, session_scope
from engine.core.settings import Settings
from engine.marketdata.store import load_price_file

with warnings.catch_warnings():
    # starlette warns once, at import, that it prefers the httpx2 package over httpx.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from fastapi import FastAPI

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE_TOML = (FIXTURES / "sites" / "example-dc.toml").read_text(encoding="utf-8")
MAX_BODY = 64 * 1024


@dataclass
class Desk:
    """A prepared powerdesk home: settings, database, API keys by role."""

    settings: Settings
    engine: Engine
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        """Authorization header of the key with ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def prepare_home(home: Path, *, prices: bool = True, database_url: str | None = None) -> Desk:
    """Migrate a home (SQLite unless ``database_url``), load DE-LU and DK1 DA prices, create one
    key per role."""
    settings = Settings(home=home, database_url=database_url)
    eng = open_database(settings)
    if prices:
        with session_scope(eng) as session:
            load_price_file(session, FIXTURES / "prices" / "de_lu_2025_03_da.csv", "DE-LU")
            load_price_file(session, FIXTURES / "prices" / "dk1_2023_10_da.csv", "DK1")
    tokens = {
        role: create_api_key(eng, role, f"test {role}")[1]
        for role in ("trader", "auditor", "admin")
    }
    return Desk(settings, eng, tokens)


def make_app(desk: Desk) -> FastAPI:
    """The real app on the desk's settings (small body limit to test it cheaply)."""
    return create_app(
        desk.settings,
        ApiSettings(
            max_body_bytes=MAX_BODY,
            auth_cache_seconds=5.0,
            backtest_executor="inline",
            bid_processes=0,
            gc_freeze=False,
        ),
    )


def row_counts(eng: Engine) -> dict[str, int]:
    """Rows of every table (to show a refused request changed nothing)."""
    out: dict[str, int] = {}
    with eng.connect() as conn:
        for name, table in SQLModel.metadata.tables.items():
            out[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    return out


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a JSON error of ``status`` (and ``code``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    """A fresh desk per test (for tests that write)."""
    return prepare_home(tmp_path / "home")


@pytest.fixture
def client(desk: Desk) -> Iterator[TestClient]:
    """TestClient of the real app on a fresh desk."""
    with TestClient(make_app(desk)) as c:
        yield c


__all__ = [
    "SITE_TOML",
    "Desk",
    "TestClient",
    "assert_error",
    "make_app",
    "prepare_home",
    "row_counts",
]
