"""API keys of the trading-desk API: creation, authentication, listing and revocation.

A key is ``pdk_<key_id>_<secret>``: ``key_id`` (16 hex characters) is public and finds the row,
``secret`` is 32 random bytes (base64url). Only the SHA-256 of the whole token is stored; the
comparison is constant-time. A high-entropy random secret needs no slow password hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Table, bindparam, select

from engine.core.errors import NotFoundError, PowerdeskError
from engine.models.api import ApiKey

T_KEY: Table = ApiKey.__table__  # type: ignore[attr-defined]
PREFIX = "pdk"
_TOKEN = re.compile(r"^pdk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class ApiRole(StrEnum):
    """What a key may do: ``trader`` builds and submits bids and acts on the ledger, ``auditor``
    only reads, ``admin`` does everything including key management."""

    TRADER = "trader"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """An authenticated API key (never holds the secret)."""

    key_id: str
    role: ApiRole
    name: str


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key as listed to administrators."""

    key_id: str
    role: ApiRole
    name: str
    created_at: datetime
    revoked_at: datetime | None


def token_sha256(token: str) -> str:
    """SHA-256 (hex) of a whole API key token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(role: str) -> ApiRole:
    """The role named ``role``; :class:`PowerdeskError` naming the choices otherwise."""
    try:
        return ApiRole(role)
    except ValueError:
        choices = ", ".join(r.value for r in ApiRole)
        raise PowerdeskError(f"unknown API role {role!r} (choose {choices})") from None


def create_api_key(
    engine: Engine, role: ApiRole | str, name: str = "", *, now: datetime | None = None
) -> tuple[ApiKeyRecord, str]:
    """Create a key with ``role``; returns its record and the token (shown once, never stored)."""
    r = role if isinstance(role, ApiRole) else parse_role(role)
    if len(name) > 200:
        raise PowerdeskError("API key name is longer than 200 characters")
    key_id = secrets.token_hex(8)
    token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    created = now or datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            T_KEY.insert().values(
                key_id=key_id,
                secret_sha256=token_sha256(token),
                role=r.value,
                name=name,
                created_at=created,
                revoked_at=None,
            )
        )
    return ApiKeyRecord(key_id, r, name, created, None), token


_KEY_BY_ID = select(T_KEY).where(T_KEY.c.key_id == bindparam("key_id"))


def authenticate(engine: Engine, token: str) -> ApiPrincipal | None:
    """The principal of a valid, unrevoked ``token``; None for anything else."""
    m = _TOKEN.match(token)
    if m is None:
        return None
    with engine.connect() as conn:
        row = conn.execute(_KEY_BY_ID, {"key_id": m.group(1)}).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(str(row.secret_sha256), token_sha256(token)):
        return None
    return ApiPrincipal(str(row.key_id), ApiRole(row.role), str(row.name))


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        str(row.key_id), ApiRole(row.role), str(row.name), row.created_at, row.revoked_at
    )


def list_api_keys(engine: Engine) -> list[ApiKeyRecord]:
    """Every API key (revoked ones too), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(T_KEY).order_by(T_KEY.c.created_at, T_KEY.c.key_id)).all()
    return [_record(r) for r in rows]


def revoke_api_key(engine: Engine, key_id: str, *, now: datetime | None = None) -> ApiKeyRecord:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time)."""
    with engine.begin() as conn:
        row = conn.execute(select(T_KEY).where(T_KEY.c.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}")
        if row.revoked_at is None:
            conn.execute(
                T_KEY.update()
                .where(T_KEY.c.key_id == key_id)
                .values(revoked_at=now or datetime.now(UTC))
            )
        row = conn.execute(select(T_KEY).where(T_KEY.c.key_id == key_id)).one()
    return _record(row)
