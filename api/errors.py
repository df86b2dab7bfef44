"""JSON errors: every 4xx and 5xx is ``{"error": {"code": ..., "message": ..., "details": ...}}``.

Domain errors are mapped by :func:`api.error_map.classify`; request validation
errors become 422 in the same shape; anything unexpected is a 500 without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.error_map import classify

log = logging.getLogger("powerdesk.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


class ErrorDetail(BaseModel):
    """One problem of a request (validation errors)."""

    loc: list[str | int] = Field(description="Where: body/query/path/header, then field names.")
    message: str
    type: str


class ErrorBody(BaseModel):
    """What went wrong."""

    code: str = Field(description="Stable machine-readable code, e.g. not_found.")
    message: str = Field(description="One line for people.")
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, roles, request shape)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:2000]


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "message": _one_line(str(e.get("msg", ""))),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    first = details[0] if details else None
    where = ".".join(str(p) for p in first["loc"]) if first else "request"
    message = f"{where}: {first['message']}" if first else "invalid request"
    return error_response(422, "validation_error", message, details)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "server_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, _one_line(str(exc.detail)), headers=headers)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    mapped = classify(exc)
    if mapped is None:
        return await _unexpected(_, exc)
    status, code = mapped
    return error_response(status, code, _one_line(str(exc)))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal_error", "internal error (logged on the server)")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error shape."""
    from bidding.errors import BiddingError
    from engine.core.errors import PowerdeskError
    from ledger.errors import LedgerError
    from market.errors import MarketError

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    for domain in (PowerdeskError, MarketError, BiddingError, LedgerError):
        app.add_exception_handler(domain, _domain)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "Missing or invalid API key"),
        (403, "The key's role may not do this, or a ledger signature was rejected"),
        (404, "Not found"),
        (409, "Conflicts with what is recorded"),
        (413, "Request body too large"),
        (422, "Invalid request (validation or domain rule)"),
        (500, "Internal error"),
    )
}
