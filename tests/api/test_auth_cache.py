"""The API-key cache: requests that miss at the same time share one lookup."""

from __future__ import annotations

import asyncio

from api.deps import AuthCache
from engine.access.keys import ApiPrincipal, ApiRole

ALICE = ApiPrincipal("k1", ApiRole.TRADER, "alice")


def _run_many(
    cache: AuthCache, outcomes: list[ApiPrincipal | Exception | None], n: int
) -> tuple[list[object], int]:
    calls = 0

    async def fetch() -> ApiPrincipal | None:
        nonlocal calls
        outcome = outcomes[min(calls, len(outcomes) - 1)]
        calls += 1
        await asyncio.sleep(0.01)  # the lookup takes a while: the others arrive meanwhile
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def main() -> list[object]:
        tasks = [cache.lookup("digest", fetch) for _ in range(n)]
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    results = asyncio.run(main())
    return results, calls


def test_concurrent_misses_share_one_lookup_and_fill_the_cache() -> None:
    cache = AuthCache(10.0)
    results, calls = _run_many(cache, [ALICE], 50)
    assert calls == 1
    assert results == [ALICE] * 50
    assert cache.get("digest") == ALICE


def test_an_invalid_key_is_shared_but_not_remembered() -> None:
    cache = AuthCache(10.0)
    results, calls = _run_many(cache, [None], 20)
    assert calls == 1
    assert results == [None] * 20
    assert cache.get("digest") is None


def test_a_failed_shared_lookup_lets_each_waiter_try_again() -> None:
    cache = AuthCache(10.0)
    results, calls = _run_many(cache, [RuntimeError("database gone"), ALICE], 5)
    assert isinstance(results[0], RuntimeError)
    assert results[1:] == [ALICE] * 4
    assert calls == 5


def test_without_a_ttl_nothing_is_remembered() -> None:
    cache = AuthCache(0.0)
    results, calls = _run_many(cache, [ALICE], 3)
    assert results == [ALICE] * 3
    assert calls == 1
    assert cache.get("digest") is None
