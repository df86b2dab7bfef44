"""Dependencies of the routes as ``Annotated`` aliases: settings, database, clock, API keys.

Reading routes take :data:`AuditorKey` (any role may read), writing routes :data:`TraderKey`
(trader or admin), key management :data:`AdminKey`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.settings import ApiSettings
from engine.access.keys import ApiPrincipal, ApiRole, authenticate, token_sha256
from engine.core.db import session_scope
from engine.core.settings import Settings


async def get_settings(request: Request) -> Settings:
    """The engine settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_api_settings(request: Request) -> ApiSettings:
    """The API settings the app was created with."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


def engine_of(request: Request) -> Engine:
    """The database engine opened by the app's lifespan."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise ApiError(503, "not_ready", "the database is not open (app lifespan not started)")
    return engine


async def get_engine(request: Request) -> Engine:
    """The database engine (an async dependency: no thread hop per request)."""
    return engine_of(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ApiSettingsDep = Annotated[ApiSettings, Depends(get_api_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    """A session committed when the route returns, rolled back on error."""
    with session_scope(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def utc_now() -> datetime:
    """The current instant (a dependency, so tests can fix the clock)."""
    return datetime.now(UTC)


ClockDep = Annotated[datetime, Depends(utc_now)]

bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `powerdesk keys api create --role trader|auditor|admin`.",
)


class AuthCache:
    """Verified keys by SHA-256 of their token, for a few seconds (saves a query per request)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, ApiPrincipal]] = {}
        self._pending: dict[str, asyncio.Future[object]] = {}

    def get(self, digest: str) -> ApiPrincipal | None:
        hit = self._entries.get(digest)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, digest: str, principal: ApiPrincipal) -> None:
        if self.ttl_s > 0:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl_s, principal)

    async def lookup(
        self, digest: str, fetch: Callable[[], Awaitable[ApiPrincipal | None]]
    ) -> ApiPrincipal | None:
        """``fetch()`` the principal of ``digest`` once for all requests that miss at the same
        time (when an entry expires under load, one query instead of one per request in flight),
        and remember a valid one."""
        pending = self._pending.get(digest)
        if pending is not None:
            shared = await asyncio.shield(pending)
            if shared is not _FAILED:
                return cast("ApiPrincipal | None", shared)
            return await fetch()  # the shared lookup failed: try on our own
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            principal = await fetch()
        except BaseException:
            future.set_result(_FAILED)
            raise
        finally:
            del self._pending[digest]
        if principal is not None:
            self.put(digest, principal)
        future.set_result(principal)
        return principal

    def forget(self, key_id: str) -> None:
        """Drop every cached entry of ``key_id`` (after a revocation)."""
        for digest, (_, p) in list(self._entries.items()):
            if p.key_id == key_id:
                del self._entries[digest]


_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
_FAILED = object()  # a shared key lookup raised: each waiter looks up on its own

READ_CACHE_SLOT = "powerdesk.read_cache"
"""Key of the request scope under which :mod:`api.read_cache` hands a route its slot."""


@dataclass(slots=True)
class ReadCacheSlot:
    """Filled by a route that lets its 200 response be replayed: the roles it admits."""

    roles: frozenset[ApiRole] = frozenset()


async def principal_of_token(state: Any, token: str) -> ApiPrincipal | None:
    """The valid, unrevoked key of ``token`` (through the app's auth cache); None otherwise.

    ``state`` is the app's state (its ``auth_cache`` and ``engine``). The one way a request is
    authenticated: by the route dependencies and by the idempotency guard before any replay.
    """
    digest = token_sha256(token)
    cache: AuthCache = state.auth_cache
    principal = cache.get(digest)
    if principal is None:
        engine: Engine | None = getattr(state, "engine", None)
        if engine is None:
            raise ApiError(503, "not_ready", "the database is not open (app lifespan not started)")
        principal = await cache.lookup(
            digest, lambda: run_in_threadpool(authenticate, engine, token)
        )
    return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, parsed as FastAPI's
    :class:`HTTPBearer` parses it; None for anything else."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if authorization and token and scheme.lower() == "bearer" else None


async def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> ApiPrincipal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "an API key is required (Bearer)", _UNAUTHORIZED)
    principal = await principal_of_token(request.app.state, credentials.credentials)
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key", _UNAUTHORIZED)
    request.state.principal = principal
    return principal


async def current_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiPrincipal:
    """The API key of the request; 401 when it is missing, malformed, unknown or revoked."""
    return await _authenticate(request, credentials)


CurrentKey = Annotated[ApiPrincipal, Depends(current_key)]

Check = Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, ApiPrincipal]]


def _require(*roles: ApiRole, what: str, cacheable: bool = False) -> Check:
    # One dependency does authentication and the role check: each dependency level costs time
    # on every request.
    allowed = frozenset(roles)
    names = " or ".join(sorted(r.value for r in allowed))

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiPrincipal:
        principal = await _authenticate(request, credentials)
        if principal.role not in allowed:
            raise ApiError(
                403, "forbidden", f"{what} needs a {names} key, not a {principal.role.value} key"
            )
        if cacheable:
            slot: ReadCacheSlot | None = request.scope.get(READ_CACHE_SLOT)
            if slot is not None:
                slot.roles = allowed
        return principal

    return check


_trader = _require(ApiRole.TRADER, ApiRole.ADMIN, what="this action")
_reader = _require(ApiRole.AUDITOR, ApiRole.TRADER, ApiRole.ADMIN, what="reading")
_admin = _require(ApiRole.ADMIN, what="key management")
_cached_reader = _require(
    ApiRole.AUDITOR, ApiRole.TRADER, ApiRole.ADMIN, what="reading", cacheable=True
)

TraderKey = Annotated[ApiPrincipal, Depends(_trader)]
"""A key that may build and submit bids and act on the ledger (trader, admin)."""
AuditorKey = Annotated[ApiPrincipal, Depends(_reader)]
"""A key that may read (auditor, trader, admin)."""
AdminKey = Annotated[ApiPrincipal, Depends(_admin)]
"""An admin key (key management)."""
CachedAuditorKey = Annotated[ApiPrincipal, Depends(_cached_reader)]
"""A key that may read, on a route whose 200 response depends on nothing but the path, the query
string and the stored data (not on the key, the clock or files): :mod:`api.read_cache` may
replay it until the data changes."""
