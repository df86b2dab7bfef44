"""Rendered GET responses, replayed while the database's data version is unchanged.

Routes whose 200 response is a function of the path, the query string and the stored data alone
opt in with :data:`api.deps.CachedAuditorKey`. For such a GET this pure ASGI middleware takes
the data version (:mod:`engine.core.dataversion`) *before* the app reads, and stores the response
bytes under (path, query, version) with the roles the route admits. A later GET of the same
path and query replays them without routing, validation, queries or serialisation when

- the data version is still the same (no commit anywhere, by any process, in between), and
- the request's API key is one this process verified within ``auth_cache_seconds`` (the same
  rule as every other request) and has a role the route admits.

Anything else goes through the app as usual. A database without a probe (in-memory SQLite)
caches nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import READ_CACHE_SLOT, AuthCache, ReadCacheSlot, bearer_token
from engine.access.keys import ApiRole, token_sha256
from engine.core.dataversion import DataVersionProbe


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A rendered 200 response and what it was rendered from."""

    version: str
    roles: frozenset[ApiRole]
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class ReadCache:
    """Least-recently-used rendered responses, bounded in count and bytes.

    Attributes
    ----------
    max_bytes
        Bytes of response bodies held at most (0: cache nothing).
    max_entry_bytes
        Larger responses are not cached.
    max_entries
        Responses held at most.
    """

    max_bytes: int
    max_entry_bytes: int = 1 << 20
    max_entries: int = 4096
    hits: int = 0
    misses: int = 0
    _entries: OrderedDict[tuple[str, bytes], CachedResponse] = field(default_factory=OrderedDict)
    _bytes: int = 0
    # Paths and queries whose route answered 2xx without opting in (health, checkpoint, keys):
    # no data version is taken for them again (a round trip on PostgreSQL).
    _uncacheable: set[tuple[str, bytes]] = field(default_factory=set)

    def uncacheable(self, key: tuple[str, bytes]) -> bool:
        """True when ``key``'s route is known not to opt in."""
        return key in self._uncacheable

    def mark_uncacheable(self, key: tuple[str, bytes]) -> None:
        """Remember that ``key``'s route does not opt in (bounded like the entries)."""
        if len(self._uncacheable) >= self.max_entries:
            self._uncacheable.clear()
        self._uncacheable.add(key)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, bytes], version: str) -> CachedResponse | None:
        """The response stored for ``key`` if it was rendered at ``version``."""
        hit = self._entries.get(key)
        if hit is None or hit.version != version:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return hit

    def put(self, key: tuple[str, bytes], response: CachedResponse) -> None:
        """Store ``response`` for ``key`` (replacing an older one), evicting the oldest."""
        size = len(response.body)
        if size > self.max_entry_bytes or size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._entries[key] = response
        self._bytes += size
        while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)


def _bearer_token(scope: Scope) -> str | None:
    # Parsed as FastAPI's HTTPBearer parses it, so the token (and its digest) is the same one.
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


class ReadCacheMiddleware:
    """Replays opted-in GET responses while the data version is unchanged (module docs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        probe: DataVersionProbe | None = getattr(state, "data_version", None)
        cache: ReadCache | None = getattr(state, "read_cache", None)
        key = (scope["path"], scope["query_string"])
        if probe is None or cache is None or cache.max_bytes == 0 or cache.uncacheable(key):
            await self.app(scope, receive, send)
            return
        version = probe.current()
        if version is None:  # the database cannot say: read afresh, store nothing
            await self.app(scope, receive, send)
            return
        hit = cache.get(key, version)
        if hit is not None and self._admits(state.auth_cache, scope, hit.roles):
            await send({"type": "http.response.start", "status": 200, "headers": hit.headers})
            await send({"type": "http.response.body", "body": hit.body})
            return
        slot = ReadCacheSlot()
        scope[READ_CACHE_SLOT] = slot
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        status = start.get("status", 500)
        if slot.roles and status == 200:
            headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
            cache.put(key, CachedResponse(version, slot.roles, headers, b"".join(chunks)))
        elif not slot.roles and 200 <= status < 300:
            # Answered without opting in. (A 401 or 422 before the key check says nothing.)
            cache.mark_uncacheable(key)

    @staticmethod
    def _admits(auth_cache: AuthCache, scope: Scope, roles: frozenset[ApiRole]) -> bool:
        token = _bearer_token(scope)
        if token is None:
            return False
        principal = auth_cache.get(token_sha256(token))
        return principal is not None and principal.role in roles
