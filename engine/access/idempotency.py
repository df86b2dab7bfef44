"""Stored responses of idempotent POSTs (``Idempotency-Key``), scoped per API key.

:func:`claim` records a pending request; the first request with a key runs, a retry with the same
method, path and body gets the stored response back, a different request with a used key is
refused. Only successful (2xx) responses are kept: a failed request changed nothing, so its
retry simply runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import IntegrityError

from engine.core.errors import ConflictError
from engine.models.api import ApiIdempotency

T_IDEM: Table = ApiIdempotency.__table__  # type: ignore[attr-defined]


class IdempotencyMismatchError(ConflictError):
    """The key was used before for another request (other method, path or body)."""


class IdempotencyInProgressError(ConflictError):
    """The first request with this key is still running."""


class ClaimState(StrEnum):
    """Outcome of :func:`claim`."""

    NEW = "new"  # run the request, then complete() or abandon()
    REPLAY = "replay"  # send the stored response


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed key: the row id, and for a replay the stored response."""

    state: ClaimState
    row_id: int
    status_code: int | None = None
    content_type: str | None = None
    body: bytes | None = None


def claim(
    engine: Engine,
    scope: str,
    key: str,
    method: str,
    path: str,
    request_sha256: str,
    *,
    now: datetime | None = None,
) -> Claim:
    """Claim ``key`` for this request, or find its stored response.

    Raises
    ------
    IdempotencyMismatchError
        The key was used for a different request.
    IdempotencyInProgressError
        The key's first request has not finished.
    """
    try:
        with engine.begin() as conn:
            row_id = conn.execute(
                T_IDEM.insert().values(
                    scope=scope,
                    key=key,
                    method=method,
                    path=path,
                    request_sha256=request_sha256,
                    state="pending",
                    created_at=now or datetime.now(UTC),
                )
            ).inserted_primary_key
        assert row_id is not None
        return Claim(ClaimState.NEW, int(row_id[0]))
    except IntegrityError:
        pass
    with engine.connect() as conn:
        row = conn.execute(
            select(T_IDEM).where(T_IDEM.c.scope == scope, T_IDEM.c.key == key)
        ).first()
    if row is None:  # abandoned between our insert and this read: try again
        return claim(engine, scope, key, method, path, request_sha256, now=now)
    if (row.method, row.path, row.request_sha256) != (method, path, request_sha256):
        raise IdempotencyMismatchError(
            f"Idempotency-Key {key!r} was used for another request ({row.method} {row.path})"
        )
    if row.state != "done":
        raise IdempotencyInProgressError(f"the request with Idempotency-Key {key!r} is running")
    return Claim(
        ClaimState.REPLAY,
        int(row.id),
        int(row.status_code),
        row.content_type,
        bytes(row.response_body or b""),
    )


def complete(
    engine: Engine, row_id: int, status_code: int, content_type: str | None, body: bytes
) -> None:
    """Store the response of a claimed request."""
    with engine.begin() as conn:
        conn.execute(
            T_IDEM.update()
            .where(T_IDEM.c.id == row_id)
            .values(
                state="done", status_code=status_code, content_type=content_type, response_body=body
            )
        )


def abandon(engine: Engine, row_id: int) -> None:
    """Forget a claimed request that did not succeed (its retry runs again)."""
    with engine.begin() as conn:
        conn.execute(T_IDEM.delete().where(T_IDEM.c.id == row_id))
