"""Desk sessions: one-time sign-in links, the session cookie and CSRF tokens.

* A sign-in link carries a random one-time code; the code's SHA-256 names a file in
  ``POWERDESK_HOME/desk/links`` (mode 0600) holding the API key it signs in with and its expiry.
  The first request that renames the file away wins: a link works once.
* The session cookie is ``<api key>.<expiry>.<mac>`` (HMAC-SHA-256 under a secret in
  ``POWERDESK_HOME/desk/secret``): stateless, so it works with several server processes, and it
  cannot be stretched past its expiry. Each request authenticates the API key again, so revoking
  the key ends the session.
* The CSRF token of a session is an HMAC of its cookie: every form carries it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from engine.access.keys import ApiRole, create_api_key, parse_role

COOKIE = "powerdesk_desk"
PRE_COOKIE = "powerdesk_desk_pre"  # CSRF token of the sign-in form before there is a session
SESSION_SECONDS = 8 * 3600
LINK_SECONDS = 15 * 60


def _desk_dir(home: Path) -> Path:
    d = home / "desk"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _secret(home: Path) -> bytes:
    path = _desk_dir(home) / "secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    value = secrets.token_bytes(32)
    tmp = path.with_name(f"secret.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value.hex())
    try:
        os.link(tmp, path)  # first writer wins; a racing one reads the winner's secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


def _mac(home: Path, *parts: str) -> str:
    return hmac.new(_secret(home), "\n".join(parts).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignInLink:
    """A one-time sign-in link and the API key it signs in with."""

    url: str
    key_id: str
    role: ApiRole
    expires: int


def create_signin_link(
    engine: Engine, home: Path, role: str, base: str, *, now: float | None = None
) -> SignInLink:
    """Create an API key of ``role`` and a one-time link that signs a browser in with it."""
    r = parse_role(role)
    record, token = create_api_key(engine, r, f"desk sign-in link ({r.value})")
    code = secrets.token_urlsafe(32)
    expires = int((time.time() if now is None else now) + LINK_SECONDS)
    links = _desk_dir(home) / "links"
    links.mkdir(exist_ok=True, mode=0o700)
    path = links / hashlib.sha256(code.encode()).hexdigest()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"token": token, "expires": expires}, f)
    url = f"{base.rstrip('/')}/desk/signin?code={code}"
    return SignInLink(url, record.key_id, r, expires)


def redeem_link(home: Path, code: str, *, now: float | None = None) -> str | None:
    """The API key of a one-time link, once; None when unknown, used or expired."""
    if not code or len(code) > 100:
        return None
    links = _desk_dir(home) / "links"
    path = links / hashlib.sha256(code.encode()).hexdigest()
    claimed = links / f"{path.name}.{secrets.token_hex(8)}.used"
    try:
        os.rename(path, claimed)  # atomic: only one request gets the file
    except FileNotFoundError:
        return None
    try:
        data = json.loads(claimed.read_text())
    finally:
        claimed.unlink()
    if int(data["expires"]) < (time.time() if now is None else now):
        return None
    return str(data["token"])


def session_cookie(home: Path, token: str, *, now: float | None = None) -> tuple[str, int]:
    """(cookie value, max age) of a session signed in with API key ``token``."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    return f"{token}.{expires}.{_mac(home, 'session', token, str(expires))}", SESSION_SECONDS


def session_token(home: Path, cookie: str | None, *, now: float | None = None) -> str | None:
    """The API key of a valid, unexpired session cookie; None otherwise."""
    if not cookie or cookie.count(".") != 2 or len(cookie) > 300:
        return None
    token, expires, mac = cookie.split(".")
    if not expires.isdigit():
        return None
    if not hmac.compare_digest(mac, _mac(home, "session", token, expires)):
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    return token


def new_pre_token() -> str:
    """A random value for the sign-in form's pre-session cookie."""
    return secrets.token_urlsafe(24)


def csrf_token(home: Path, cookie: str) -> str:
    """The CSRF token of a session (or of a sign-in form's pre-session cookie)."""
    return _mac(home, "csrf", cookie)


def csrf_ok(home: Path, cookie: str | None, given: str | None) -> bool:
    """Whether ``given`` is the CSRF token of ``cookie``."""
    if not cookie or not given:
        return False
    return hmac.compare_digest(csrf_token(home, cookie), given)
