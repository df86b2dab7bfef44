"""The desk without a browser: one-time links, session cookies, CSRF, roles and empty states."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import ApiSettings
from engine.access.keys import create_api_key, revoke_api_key
from engine.core.db import open_database
from engine.core.settings import Settings
from tests.api.conftest import TestClient
from web import session as ses
from web.app import install_desk


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=None)


def _client(settings: Settings) -> TestClient:
    api = ApiSettings(bid_processes=0, gc_freeze=False, backtest_executor="inline")
    return TestClient(install_desk(create_app(settings, api)), base_url="http://127.0.0.1")


def test_link_works_once_and_not_after_it_expires(settings: Settings) -> None:
    engine = open_database(settings)
    home = settings.ensure_home()
    link = ses.create_signin_link(engine, home, "auditor", "http://x", now=1000.0)
    code = link.url.split("code=")[1]
    assert ses.redeem_link(home, code, now=1001.0) is not None
    assert ses.redeem_link(home, code, now=1001.0) is None  # used
    late = ses.create_signin_link(engine, home, "trader", "http://x", now=1000.0)
    assert ses.redeem_link(home, late.url.split("code=")[1], now=1000.0 + 16 * 60) is None
    assert ses.redeem_link(home, "not-a-code") is None
    assert not list((home / "desk" / "links").iterdir())  # nothing left behind
    with pytest.raises(Exception, match="unknown API role"):
        ses.create_signin_link(engine, home, "root", "http://x")


def test_session_cookie_is_signed_and_expires(settings: Settings) -> None:
    home = settings.ensure_home()
    cookie, max_age = ses.session_cookie(home, "pdk_token", now=1000.0)
    assert max_age == ses.SESSION_SECONDS
    assert ses.session_token(home, cookie, now=1001.0) == "pdk_token"
    assert ses.session_token(home, cookie, now=1000.0 + max_age + 1) is None
    token, expires, mac = cookie.split(".")
    stretched = f"{token}.{int(expires) + 3600}.{mac}"
    assert ses.session_token(home, stretched, now=1001.0) is None
    assert ses.session_token(home, f"pdk_other.{expires}.{mac}", now=1001.0) is None
    assert ses.session_token(home, None) is None
    assert ses.csrf_ok(home, cookie, ses.csrf_token(home, cookie))
    assert not ses.csrf_ok(home, cookie, ses.csrf_token(home, cookie + "x"))
    assert not ses.csrf_ok(home, cookie, None)


def _sign_in(client: TestClient, token: str) -> str:
    page = client.get("/desk/")
    assert page.status_code == 401
    assert "Sign in to the desk" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        "/desk/signin", data={"key": token, "csrf": csrf.group(1)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    home = client.get("/desk/")
    assert home.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert found is not None
    return found.group(1)


def test_empty_desk_pages_say_so_and_roles_are_the_apis(settings: Settings) -> None:
    with _client(settings) as client:
        engine = open_database(settings)
        _, auditor = create_api_key(engine, "auditor", "t")
        csrf = _sign_in(client, auditor)
        for path, empty in (
            ("/desk/", "No site is registered yet"),
            ("/desk/positions", "No settlement yet"),
            ("/desk/certificates", "No retirement to check"),
            ("/desk/carbon", "No carbon report yet"),
            ("/desk/backtests", "No backtest run yet"),
            ("/desk/operations", "No scheduled job has run yet"),
        ):
            page = client.get(path)
            assert page.status_code == 200, path
            assert empty in page.text, path
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["cache-control"] == "no-store"
            assert "<script>" not in page.text  # no inline script: data blocks only
        assert client.get("/desk/static/desk.js").status_code == 200
        form = {"csrf": csrf, "site": "x", "day": "2025-03-30", "strategy": "forecast"}
        refused = client.post("/desk/bids", data=form)
        assert refused.status_code == 403
        assert "needs a trader or admin key, not a auditor key" in refused.text
        assert client.post("/desk/bids/1/submit", data={"csrf": csrf}).status_code == 403
        # Revoking the key ends the session.
        key_id = auditor.split("_")[1]
        revoke_api_key(engine, key_id)
        assert client.get("/desk/").status_code == 401


def test_trader_form_needs_its_csrf_token_and_engine_errors_show(settings: Settings) -> None:
    with _client(settings) as client:
        _, trader = create_api_key(open_database(settings), "trader", "t")
        csrf = _sign_in(client, trader)
        form = {"site": "nowhere", "day": "2025-03-30", "strategy": "forecast"}
        assert client.post("/desk/bids", data=form).status_code == 403
        missing = client.post("/desk/bids", data=form | {"csrf": csrf})
        assert missing.status_code == 404
        assert "Not built:" in missing.text
        bad_day = client.post("/desk/bids", data=form | {"csrf": csrf, "day": "someday"})
        assert bad_day.status_code == 422
        files = ("/desk/files/reports/../x/report.html", "/desk/files/audit/nothing.zip")
        for path in files:
            assert client.get(path).status_code == 404
        out = client.post("/desk/signout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/desk/").status_code == 401


def test_admins_manage_keys_and_others_may_not(settings: Settings) -> None:
    with _client(settings) as client:
        engine = open_database(settings)
        _, admin = create_api_key(engine, "admin", "t")
        csrf = _sign_in(client, admin)
        made = client.post("/desk/keys", data={"csrf": csrf, "role": "auditor", "name": "ext"})
        assert made.status_code == 201
        token = re.search(r'id="new-token">([^<]+)<', made.text)
        assert token is not None
        key_id = token.group(1).split("_")[1]
        assert client.post("/desk/keys", data={"csrf": csrf, "role": "root"}).status_code == 422
        gone = client.post(f"/desk/keys/{key_id}/revoke", data={"csrf": csrf})
        assert gone.status_code == 200
        assert f"Revoked key {key_id}" in gone.text
    with _client(settings) as other:
        _, trader = create_api_key(engine, "trader", "t")
        csrf = _sign_in(other, trader)
        assert ">Keys<" not in other.get("/desk/").text
        assert other.get("/desk/keys").status_code == 403
        refused = other.post("/desk/keys", data={"csrf": csrf, "role": "admin"})
        assert refused.status_code == 403
        assert "needs an admin key" in refused.text
