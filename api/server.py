"""The HTTP protocol ``powerdesk serve`` runs: uvicorn's httptools protocol with a limit on the
size of a request's head (request line and headers).

httptools has no such limit of its own: a 50 MB ``Authorization`` header was read in full before
the app could say 401. :class:`HeadLimitedProtocol` counts the bytes received while a request's
head is incomplete and answers ``431 Request Header Fields Too Large`` (and closes the
connection) as soon as they pass ``POWERDESK_API_MAX_HEADER_BYTES``. Heads that arrive whole
in one read are checked again by :class:`api.middleware.GuardMiddleware` (same limit, same 431),
which also covers any other server the app is run under.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.settings import ApiSettings

PROTOCOL = "api.server:HeadLimitedProtocol"
"""Import string of the protocol, for ``uvicorn.run(http=...)`` (works with several workers)."""


@cache
def _limit() -> int:
    return ApiSettings().max_header_bytes


def too_large_response(limit: int) -> bytes:
    """A complete HTTP/1.1 431 response with the JSON error body, closing the connection."""
    body = json.dumps(
        {
            "error": {
                "code": "headers_too_large",
                "message": f"request line and headers larger than {limit} bytes",
            }
        }
    ).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over the limit with a 431."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = _limit()
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no end of the head after this many bytes: refuse before reading more.
        closing = self.transport.is_closing()
        if self._in_head and self._head_bytes > self.max_head_bytes and not closing:
            self.transport.write(too_large_response(self.max_head_bytes))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._in_head = False
        super().connection_lost(exc)


__all__ = ["PROTOCOL", "HeadLimitedProtocol", "too_large_response"]
