"""Stored responses of idempotent POSTs (``Idempotency-Key``), scoped per API key id.

:func:`claim` records a pending request; the first request with a key runs, a retry with the same
method, path and body gets the stored response back, a different request with a used key is
refused. Only successful (2xx) responses are kept: a failed request changed nothing, so its
retry simply runs again.

Scope
    The *id* of the authenticated API key (never the header text: ``Bearer K``, ``bearer K`` and
    ``Bearer  K`` are one key). The caller authenticates before it claims or replays anything.
Lease
    A pending claim carries a random claim token and a heartbeat. Its claimant renews the
    heartbeat (:func:`renew`) while the request runs; a pending claim whose heartbeat is older
    than the lease belongs to a claimant presumed dead (``kill -9``, lost host), and the next
    retry takes it over (like job runs in :mod:`engine.scheduling.runs`). A claimant that lost its
    claim cannot store or abandon it: :func:`complete` and :func:`abandon` change only a row that
    still holds their token.
Secrets
    A response that holds a secret (the route marks it ``Cache-Control: no-store``) is stored
    *withheld*: its status is kept, its body is not. Its replay is refused
    (:class:`IdempotencyWithheldError`, a 409), since the secret exists nowhere but in the first
    response; nothing secret is ever at rest in ``api_idempotency``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import IntegrityError

from engine.core.errors import ConflictError
from engine.models.api import ApiIdempotency

T_IDEM: Table = ApiIdempotency.__table__  # type: ignore[attr-defined]

DEFAULT_LEASE = timedelta(seconds=60)
"""Age of a pending claim's heartbeat after which a retry takes the claim over."""


class IdempotencyMismatchError(ConflictError):
    """The key was used before for another request (other method, path or body)."""


class IdempotencyInProgressError(ConflictError):
    """The first request with this key is still running (its lease is live)."""


class IdempotencyWithheldError(ConflictError):
    """The first request with this key succeeded, but its response held a secret and was not
    stored, so it cannot be replayed."""


class ClaimState(StrEnum):
    """Outcome of :func:`claim`."""

    NEW = "new"  # run the request, then complete() or abandon()
    REPLAY = "replay"  # send the stored response


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed key: the row id and claim token, and for a replay the stored response."""

    state: ClaimState
    row_id: int
    token: str = ""
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
    lease: timedelta = DEFAULT_LEASE,
) -> Claim:
    """Claim ``key`` of API key id ``scope`` for this request, or find its stored response.

    A pending claim whose heartbeat is older than ``lease`` is taken over.

    Raises
    ------
    IdempotencyMismatchError
        The key was used for a different request.
    IdempotencyInProgressError
        The key's first request has not finished and its lease is live.
    IdempotencyWithheldError
        The key's first request succeeded with a secret-bearing response (not stored).
    """
    now = now or datetime.now(UTC)
    for _ in range(5):
        token = secrets.token_hex(16)
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
                        created_at=now,
                        claim_token=token,
                        heartbeat_at=now,
                        withheld=False,
                    )
                ).inserted_primary_key
            assert row_id is not None
            return Claim(ClaimState.NEW, int(row_id[0]), token)
        except IntegrityError:
            pass
        with engine.begin() as conn:
            row = conn.execute(
                select(T_IDEM).where(T_IDEM.c.scope == scope, T_IDEM.c.key == key)
            ).first()
            if row is None:  # abandoned between our insert and this read: try again
                continue
            if (row.method, row.path, row.request_sha256) != (method, path, request_sha256):
                raise IdempotencyMismatchError(
                    f"Idempotency-Key {key!r} was used for another request "
                    f"({row.method} {row.path})"
                )
            if row.state == "done":
                if row.withheld:
                    raise IdempotencyWithheldError(
                        f"the request with Idempotency-Key {key!r} succeeded "
                        f"({row.status_code}); its response held a secret, which is never "
                        "stored, so it cannot be replayed (list what it created instead)"
                    )
                return Claim(
                    ClaimState.REPLAY,
                    int(row.id),
                    "",
                    int(row.status_code),
                    row.content_type,
                    bytes(row.response_body or b""),
                )
            beat = row.heartbeat_at or row.created_at
            if beat > now - lease:
                raise IdempotencyInProgressError(
                    f"the request with Idempotency-Key {key!r} is running"
                )
            # The claimant's lease expired: take the claim over, conditional on the token we
            # read, so of two retries taking over the same dead claim only one wins.
            taken = conn.execute(
                T_IDEM.update()
                .where(
                    T_IDEM.c.id == row.id,
                    T_IDEM.c.state == "pending",
                    T_IDEM.c.claim_token == row.claim_token,
                )
                .values(claim_token=token, heartbeat_at=now)
            )
            if taken.rowcount == 1:
                return Claim(ClaimState.NEW, int(row.id), token)
            raise IdempotencyInProgressError(f"the request with Idempotency-Key {key!r} is running")
    raise IdempotencyInProgressError(f"the request with Idempotency-Key {key!r} is contended")


def renew(engine: Engine, row_id: int, token: str, *, now: datetime | None = None) -> bool:
    """Renew the lease of a pending claim; False when it is no longer ours."""
    with engine.begin() as conn:
        res = conn.execute(
            T_IDEM.update()
            .where(
                T_IDEM.c.id == row_id,
                T_IDEM.c.claim_token == token,
                T_IDEM.c.state == "pending",
            )
            .values(heartbeat_at=now or datetime.now(UTC))
        )
    return bool(res.rowcount == 1)


def complete(
    engine: Engine,
    row_id: int,
    token: str,
    status_code: int,
    content_type: str | None,
    body: bytes,
    *,
    withheld: bool = False,
) -> bool:
    """Store the response of a claimed request (only its status when ``withheld``: the body
    holds a secret). False when the claim is no longer ours (nothing stored)."""
    with engine.begin() as conn:
        res = conn.execute(
            T_IDEM.update()
            .where(
                T_IDEM.c.id == row_id,
                T_IDEM.c.claim_token == token,
                T_IDEM.c.state == "pending",
            )
            .values(
                state="done",
                status_code=status_code,
                content_type=content_type,
                response_body=None if withheld else body,
                withheld=withheld,
                claim_token=None,
            )
        )
    return bool(res.rowcount == 1)


def abandon(engine: Engine, row_id: int, token: str) -> None:
    """Forget a claimed request that did not succeed (its retry runs again); nothing when the
    claim is no longer ours."""
    with engine.begin() as conn:
        conn.execute(
            T_IDEM.delete().where(
                T_IDEM.c.id == row_id,
                T_IDEM.c.claim_token == token,
                T_IDEM.c.state == "pending",
            )
        )
