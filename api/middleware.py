"""Request head and body limits and idempotent POSTs, as one pure ASGI middleware.

A request whose line and headers together pass the head limit is a JSON 431 (``powerdesk
serve`` refuses such a head even earlier, while it arrives: :mod:`api.server`).

The body of every request is read (up to the limit) before the app sees it: a declared
``Content-Length`` over the limit is refused at once, a streamed body as soon as it passes the
limit, both with a JSON 413.

A POST with an ``Idempotency-Key`` header is first authenticated (an unknown or revoked key goes
on to the app and its 401, never to a stored response), then claimed in the ``api_idempotency``
table scoped by the key's id (:mod:`engine.access.idempotency`): a retry with the same body gets
the stored response (header ``Idempotent-Replayed: true``), another body with the same key a 422,
a retry while the first runs a 409 (until the first's lease expires: then the retry takes the
claim over). A response marked ``Cache-Control: no-store`` (it holds a secret) is never stored;
its replay is a 409 ``idempotent_response_withheld``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import bearer_token, principal_of_token
from api.errors import error_response
from engine.access.idempotency import (
    DEFAULT_LEASE,
    Claim,
    ClaimState,
    IdempotencyInProgressError,
    IdempotencyMismatchError,
    IdempotencyWithheldError,
    abandon,
    claim,
    complete,
    renew,
)

_IDEM_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _TooLargeError(Exception):
    pass


class GuardMiddleware:
    """Body size limit and ``Idempotency-Key`` replay for the app below it."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        idempotency_lease_s: float = DEFAULT_LEASE.total_seconds(),
        max_header_bytes: int = 65_536,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.idempotency_lease_s = idempotency_lease_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if head > self.max_header_bytes:
            await error_response(
                431,
                "headers_too_large",
                f"request line and headers larger than {self.max_header_bytes} bytes",
                headers={"Connection": "close"},
            )(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, "bad_request", "bad Content-Length header")(
                    scope, receive, send
                )
                return
            if int(declared) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        if _has_nul(scope):
            await _refuse_nul(scope, receive, send)
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(receive)
        except _TooLargeError:
            await self._too_large(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        if b"\x00" in body or b"\\u0000" in body.lower():
            await _refuse_nul(scope, receive, send)
            return
        if _has_lone_surrogate(body):
            await error_response(
                422, "validation_error", "text must be UTF-8: a lone surrogate (\\ud800-\\udfff)"
            )(scope, receive, send)
            return
        replay = _replaying_receive(body, receive)
        key = headers.get("idempotency-key")
        auth = headers.get("authorization")
        if key is None or scope["method"] != "POST" or not auth:
            await self.app(scope, replay, send)
            return
        if not _IDEM_KEY.match(key):
            await error_response(
                422,
                "validation_error",
                "Idempotency-Key must be 1 to 200 printable ASCII characters",
            )(scope, receive, send)
            return
        await self._idempotent(scope, replay, send, key, auth, body)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "request_too_large",
            f"request body larger than {self.max_body_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, key: str, auth: str, body: bytes
    ) -> None:
        state = scope["app"].state
        engine = getattr(state, "engine", None)
        token = bearer_token(auth)
        if engine is None or token is None:
            await self.app(scope, receive, send)
            return
        # Authenticate before anything stored is looked at: a missing, unknown or revoked key
        # goes to the app (its 401) and never sees a stored response. The scope is the key's id,
        # whose role cannot change: the key that gets a replay was authorised for this very
        # request when it first ran (only 2xx responses are kept).
        principal = await principal_of_token(state, token)
        if principal is None:
            await self.app(scope, receive, send)
            return
        path = scope["path"] + (
            "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
        )
        digest = hashlib.sha256(
            scope["method"].encode() + b"\n" + path.encode() + b"\n" + body
        ).hexdigest()
        lease = timedelta(seconds=self.idempotency_lease_s)
        try:
            got = await run_in_threadpool(
                partial(
                    claim,
                    engine,
                    principal.key_id,
                    key,
                    scope["method"],
                    path[:500],
                    digest,
                    lease=lease,
                )
            )
        except IdempotencyMismatchError as exc:
            await error_response(422, "idempotency_key_reused", str(exc))(scope, receive, send)
            return
        except IdempotencyInProgressError as exc:
            await error_response(409, "idempotency_key_in_progress", str(exc))(scope, receive, send)
            return
        except IdempotencyWithheldError as exc:
            await error_response(409, "idempotent_response_withheld", str(exc))(
                scope, receive, send
            )
            return
        if got.state is ClaimState.REPLAY:
            assert got.status_code is not None
            await send(
                {
                    "type": "http.response.start",
                    "status": got.status_code,
                    "headers": [
                        (b"content-type", (got.content_type or "application/json").encode()),
                        (b"content-length", str(len(got.body or b"")).encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": got.body or b""})
            return
        captured: dict[str, Any] = {
            "status": 500,
            "content_type": None,
            "body": [],
            "no_store": False,
        }

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                captured["status"] = message["status"]
                captured["content_type"] = headers.get("content-type")
                captured["no_store"] = "no-store" in headers.get("cache-control", "").lower()
            elif message["type"] == "http.response.body" and not captured["no_store"]:
                captured["body"].append(message.get("body", b""))
            await send(message)

        heartbeat = asyncio.create_task(_renew_while_running(engine, got, lease))
        try:
            await self.app(scope, receive, capture)
        except BaseException:
            heartbeat.cancel()
            await run_in_threadpool(abandon, engine, got.row_id, got.token)
            raise
        heartbeat.cancel()
        status = int(captured["status"])
        if 200 <= status < 300:
            # A response marked no-store holds a secret (a new API key's token): only its
            # status is kept, and its replay is refused.
            await run_in_threadpool(
                partial(
                    complete,
                    engine,
                    got.row_id,
                    got.token,
                    status,
                    captured["content_type"],
                    b"".join(captured["body"]),
                    withheld=bool(captured["no_store"]),
                )
            )
        else:
            await run_in_threadpool(abandon, engine, got.row_id, got.token)


async def _renew_while_running(engine: Engine, got: Claim, lease: timedelta) -> None:
    """Renew the claim's lease every third of it until cancelled (or the claim is lost)."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            if not await run_in_threadpool(renew, engine, got.row_id, got.token):
                return
        except Exception:  # a database hiccup: the next beat retries
            continue


def _has_lone_surrogate(body: bytes) -> bool:
    """True when a JSON body escapes a lone UTF-16 surrogate (``"\\ud800"``): valid JSON, but
    no text of powerdesk can be stored or hashed with one. Paired surrogates are one character.
    """
    if _SURROGATE_ESCAPE.search(body) is None:
        return False
    try:
        data = json.loads(body)
    except ValueError:  # not JSON: the route refuses it
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _has_nul(scope: Scope) -> bool:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    text = bytes(raw).lower() + b"?" + bytes(scope.get("query_string", b"")).lower()
    return b"%00" in text or b"\x00" in text or "\x00" in scope["path"]


async def _refuse_nul(scope: Scope, receive: Receive, send: Send) -> None:
    # No text field of powerdesk may hold NUL (PostgreSQL text cannot store it at all).
    await error_response(422, "validation_error", "NUL characters are not accepted")(
        scope, receive, send
    )


def _replaying_receive(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
