"""The read cache: replayed GET responses are byte-identical to fresh ones, never outlive a commit
(from the app or from any other connection), and never skip authentication or authorisation."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from api.app import create_app
from api.read_cache import CachedResponse, ReadCache
from api.settings import ApiSettings
from engine.access.keys import ApiRole
from engine.core.dataversion import SqliteDataVersion, data_version_probe
from engine.core.db import make_engine
from engine.sites.registry import register_site

from .conftest import SITE_TOML, Desk, TestClient, assert_error, make_app, prepare_home


def _other_site(name: str) -> str:
    return SITE_TOML.replace('name = "example-dc"', f'name = "{name}"', 1)


def _cache(client: TestClient) -> ReadCache:
    cache: ReadCache = client.app.state.read_cache  # type: ignore[attr-defined]
    return cache


def test_a_repeated_read_is_replayed_byte_for_byte(client: TestClient, desk: Desk) -> None:
    client.post("/sites", json={"content": SITE_TOML}, headers=desk.auth("trader"))
    cache = _cache(client)
    first = client.get("/sites?limit=5", headers=desk.auth("auditor"))
    hits = cache.hits
    second = client.get("/sites?limit=5", headers=desk.auth("trader"))
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    assert cache.hits == hits + 1
    # Another query string is another response.
    third = client.get("/sites?limit=1", headers=desk.auth("auditor"))
    assert third.json()["limit"] == 1
    assert cache.hits == hits + 1


def test_a_write_through_the_app_is_seen_at_once(client: TestClient, desk: Desk) -> None:
    assert client.get("/sites", headers=desk.auth("auditor")).json()["total"] == 0
    assert client.get("/sites", headers=desk.auth("auditor")).json()["total"] == 0
    r = client.post("/sites", json={"content": SITE_TOML}, headers=desk.auth("trader"))
    assert r.status_code == 201
    listed = client.get("/sites", headers=desk.auth("auditor")).json()
    assert [s["name"] for s in listed["items"]] == ["example-dc"]


def test_a_commit_by_another_connection_is_seen_at_once(client: TestClient, desk: Desk) -> None:
    client.post("/sites", json={"content": SITE_TOML}, headers=desk.auth("trader"))
    before = client.get("/sites", headers=desk.auth("auditor")).json()
    assert client.get("/sites", headers=desk.auth("auditor")).json() == before
    # Another engine (as another process would), not the app's.
    other = make_engine(desk.settings.resolved_database_url)
    try:
        register_site(other, _other_site("second-dc"), "toml")
    finally:
        other.dispose()
    after = client.get("/sites", headers=desk.auth("auditor")).json()
    assert after["total"] == before["total"] + 1
    assert {s["name"] for s in after["items"]} == {"example-dc", "second-dc"}


def test_a_cached_read_still_needs_a_valid_key(client: TestClient, desk: Desk) -> None:
    assert client.get("/zones/DE-LU", headers=desk.auth("auditor")).status_code == 200
    assert client.get("/zones/DE-LU", headers=desk.auth("auditor")).status_code == 200
    assert_error(client.get("/zones/DE-LU"), 401, "unauthorized")
    bad = {"Authorization": "Bearer pdk_nope_nope"}
    assert_error(client.get("/zones/DE-LU", headers=bad), 401, "unauthorized")
    basic = {"Authorization": "Basic " + desk.tokens["auditor"]}
    assert_error(client.get("/zones/DE-LU", headers=basic), 401, "unauthorized")


def test_a_revoked_key_is_refused_on_a_cached_read(client: TestClient, desk: Desk) -> None:
    keys = client.get("/admin/keys", headers=desk.auth("admin")).json()["items"]
    auditor = next(k for k in keys if k["role"] == "auditor")
    assert client.get("/zones", headers=desk.auth("auditor")).status_code == 200
    assert client.get("/zones", headers=desk.auth("auditor")).status_code == 200
    r = client.post(f"/admin/keys/{auditor['key_id']}/revoke", headers=desk.auth("admin"))
    assert r.status_code == 200, r.text
    assert_error(client.get("/zones", headers=desk.auth("auditor")), 401, "unauthorized")


def test_only_opted_in_successful_reads_are_stored(client: TestClient, desk: Desk) -> None:
    cache = _cache(client)
    client.get("/admin/keys", headers=desk.auth("admin"))  # admin only, depends on the keys
    client.get("/bids/999", headers=desk.auth("auditor"))  # 404
    client.get("/reports/carbon?site=example-dc&period=2025-03", headers=desk.auth("auditor"))
    client.get("/ledger/checkpoint", headers=desk.auth("auditor"))  # signs with a key file
    client.get("/sites?limit=0", headers=desk.auth("auditor"))  # 422
    assert len(cache) == 0
    client.get("/sites", headers=desk.auth("auditor"))
    assert len(cache) == 1
    # Prices as a decision at an explicit time sees them: a function of the stored data.
    prices = "/prices?zone=DE-LU&as_of=2025-03-12T12:00:00Z&start=2025-03-12T00:00:00Z&limit=4"
    first = client.get(prices, headers=desk.auth("auditor"))
    assert first.status_code == 200
    assert len(first.json()["items"]) == 4
    assert len(cache) == 2
    assert client.get(prices, headers=desk.auth("auditor")).content == first.content


def test_a_role_the_route_does_not_admit_goes_through_the_app(
    client: TestClient, desk: Desk
) -> None:
    # A forged entry admitting admins only: an auditor's request is not answered from it.
    cache = _cache(client)
    probe = client.app.state.data_version  # type: ignore[attr-defined]
    forged = CachedResponse(
        probe.current(),
        frozenset({ApiRole.ADMIN}),
        [(b"content-type", b"application/json"), (b"content-length", b"2")],
        b"{}",
    )
    cache.put(("/zones/DK1", b""), forged)
    assert client.get("/zones", headers=desk.auth("admin")).status_code == 200  # key verified
    assert client.get("/zones/DK1", headers=desk.auth("admin")).content == b"{}"
    real = client.get("/zones/DK1", headers=desk.auth("auditor"))
    assert real.status_code == 200
    assert real.json()["key"] == "DK1"


def test_the_cache_can_be_switched_off(desk: Desk) -> None:
    settings = ApiSettings(
        read_cache_mb=0, auth_cache_seconds=5.0, bid_processes=0, gc_freeze=False
    )
    with TestClient(create_app(desk.settings, settings)) as client:
        for _ in range(3):
            assert client.get("/zones", headers=desk.auth("auditor")).status_code == 200
        assert len(_cache(client)) == 0
        assert _cache(client).hits == 0


def test_an_in_memory_database_has_no_probe(tmp_path: Path) -> None:
    memory = make_engine("sqlite://")
    try:
        assert data_version_probe(memory) is None
    finally:
        memory.dispose()


def test_sqlite_data_version_changes_with_each_commit_of_any_connection(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x INTEGER)")
    probe = SqliteDataVersion(str(path))
    try:
        v0 = probe.current()
        assert probe.current() == v0
        writer.execute("INSERT INTO t VALUES (1)")
        v1 = probe.current()
        assert v1 != v0
        writer.execute("SELECT count(*) FROM t").fetchone()
        assert probe.current() == v1
        writer.execute("BEGIN")
        writer.execute("INSERT INTO t VALUES (2)")
        assert probe.current() == v1  # not committed yet
        writer.execute("COMMIT")
        assert probe.current() != v1
    finally:
        probe.close()
        writer.close()


def test_sqlite_probe_reconnects_and_never_equals_an_older_connection(tmp_path: Path) -> None:
    missing = SqliteDataVersion(str(tmp_path / "no-such-dir" / "v.db"))
    assert missing.current() is None  # cannot open: callers read afresh
    path = tmp_path / "v.db"
    sqlite3.connect(path).close()
    probe = SqliteDataVersion(str(path))
    try:
        first = probe.current()
        assert first is not None
        probe.close()  # as after an error: the next reading uses a new connection
        second = probe.current()
        assert second is not None
        assert second != first
        assert probe.current() == second
    finally:
        probe.close()


def test_without_a_data_version_nothing_is_cached(client: TestClient, desk: Desk) -> None:
    class Mute:
        def current(self) -> None:
            return None

        def close(self) -> None:
            pass

    client.app.state.data_version = Mute()  # type: ignore[attr-defined]
    for _ in range(2):
        r = client.get("/zones/DE-LU", headers=desk.auth("auditor"))
        assert r.status_code == 200
        assert r.json()["key"] == "DE-LU"
    assert len(_cache(client)) == 0


def test_read_cache_is_bounded_in_bytes_and_entries() -> None:
    cache = ReadCache(max_bytes=100, max_entry_bytes=60, max_entries=3)

    def entry(size: int) -> CachedResponse:
        return CachedResponse("v1", frozenset({ApiRole.AUDITOR}), [], b"x" * size)

    cache.put(("/a", b""), entry(40))
    cache.put(("/b", b""), entry(40))
    assert cache.get(("/a", b""), "v1") is not None  # /a is now the most recent
    cache.put(("/c", b""), entry(40))  # 120 bytes: the least recent (/b) goes
    assert cache.get(("/b", b""), "v1") is None
    assert cache.get(("/a", b""), "v1") is not None
    assert cache.get(("/c", b""), "v1") is not None
    cache.put(("/big", b""), entry(61))  # larger than one entry may be
    assert cache.get(("/big", b""), "v1") is None
    assert cache.get(("/a", b""), "v2") is None  # another data version
    for name in ("/d", "/e", "/f", "/g"):
        cache.put((name, b""), entry(1))
    assert len(cache) == 3


@pytest.mark.postgres
def test_postgres_snapshot_changes_with_a_commit(postgres_url: str) -> None:
    eng = make_engine(postgres_url)
    probe = data_version_probe(eng)
    assert probe is not None
    try:
        before = probe.current()
        assert before is not None
        assert before.startswith("pg:")
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE dv_probe (x int)"))
            conn.execute(text("INSERT INTO dv_probe VALUES (1)"))
        assert probe.current() != before
        # The probe's connection is killed (a server restart, say): one reading may say
        # "unknown", the next comes from a new connection.
        with eng.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
                    "pg_backend_pid() AND query LIKE 'SELECT pg_current_snapshot()%'"
                )
            )
        readings = [probe.current() for _ in range(3)]
        assert readings[-1] is not None
        assert readings[-1].startswith("pg:")
    finally:
        probe.close()
        eng.dispose()


@pytest.mark.postgres
def test_cached_reads_on_postgres_see_every_commit(postgres_url: str, tmp_path: Path) -> None:
    desk = prepare_home(tmp_path / "home", prices=False, database_url=postgres_url)
    try:
        with TestClient(make_app(desk)) as client:
            h = desk.auth("auditor")
            assert client.get("/sites", headers=h).json()["total"] == 0
            assert client.get("/sites", headers=h).json()["total"] == 0
            assert _cache(client).hits >= 1
            register_site(desk.engine, _other_site("pg-dc"), "toml")  # not through the app
            listed = client.get("/sites", headers=h).json()
            assert [s["name"] for s in listed["items"]] == ["pg-dc"]
    finally:
        desk.engine.dispose()


def test_replayed_reads_always_equal_fresh_ones(desk: Desk) -> None:
    """A random walk of writes (through the app and around it) and reads: every response of the
    caching app is byte-identical to the same request on an app that caches nothing."""
    import random

    rng = random.Random(20261122)
    no_cache = ApiSettings(
        read_cache_mb=0, auth_cache_seconds=5.0, bid_processes=0, gc_freeze=False
    )
    h = desk.auth("auditor")
    names: list[str] = []
    with (
        TestClient(make_app(desk)) as cached,
        TestClient(create_app(desk.settings, no_cache)) as fresh,
    ):
        for step in range(300):
            roll = rng.random()
            if roll < 0.08:
                name = f"dc-{step}"
                r = cached.post(
                    "/sites", json={"content": _other_site(name)}, headers=desk.auth("trader")
                )
                assert r.status_code == 201
                names.append(name)
            elif roll < 0.12:
                name = f"side-{step}"
                register_site(desk.engine, _other_site(name), "toml")  # around the app
                names.append(name)
            else:
                path = rng.choice(
                    [
                        f"/sites?limit={rng.randint(1, 5)}&offset={rng.randint(0, 6)}",
                        f"/sites/{rng.choice(names)}" if names else "/sites/none",
                        "/bids?limit=3",
                        "/ledger/entries?limit=2",
                        "/zones/DK1",
                    ]
                )
                a, b = cached.get(path, headers=h), fresh.get(path, headers=h)
                assert (a.status_code, a.content) == (b.status_code, b.content), path
        assert _cache(cached).hits >= 50  # the walk did exercise replays


def test_routes_that_do_not_opt_in_are_not_probed_again(client: TestClient, desk: Desk) -> None:
    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner, self.calls = inner, 0

        def current(self) -> str | None:
            self.calls += 1
            return str(self.inner.current())

        def close(self) -> None:
            pass

    probe = Counting(client.app.state.data_version)  # type: ignore[attr-defined]
    client.app.state.data_version = probe  # type: ignore[attr-defined]
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert probe.calls == 1  # learnt on the first: /health does not opt in
    # A refused request (no key) teaches nothing: the route is still cached for a valid key.
    assert_error(client.get("/zones/DE-LU"), 401)
    client.get("/zones/DE-LU", headers=desk.auth("auditor"))
    hits = _cache(client).hits
    client.get("/zones/DE-LU", headers=desk.auth("auditor"))
    assert _cache(client).hits == hits + 1
