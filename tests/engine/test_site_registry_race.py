"""Concurrent registration of one site name (PostgreSQL): one write, no server error."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from pathlib import Path

import pytest

from engine.core.db import make_engine, migrate
from engine.core.errors import ConflictError
from engine.sites.registry import get_site, register_site

SITE = Path(__file__).resolve().parents[2] / "fixtures" / "sites" / "example-dc.toml"
THREADS = 8


def _register_all(url: str, contents: list[str]) -> list[str]:
    engine = make_engine(url)
    migrate(engine)
    barrier = threading.Barrier(len(contents))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(content: str) -> None:
        barrier.wait()
        try:
            _, written = register_site(engine, content, "toml")
            outcome = "written" if written else "unchanged"
        except ConflictError:
            outcome = "conflict"
        except Exception as exc:  # the bug this guards against: a raw IntegrityError
            outcome = f"error: {type(exc).__name__}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(c,)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stored = get_site(engine, "example-dc")
    engine.dispose()
    return [*outcomes, stored.sha256]


@pytest.mark.parametrize("round_", range(3))
def test_same_content_at_once_is_written_once(postgres_url: str, round_: int) -> None:
    content = SITE.read_text()
    *outcomes, _ = _register_all(postgres_url, [content] * THREADS)
    assert Counter(outcomes) == Counter({"written": 1, "unchanged": THREADS - 1})


def test_other_content_at_once_is_a_conflict_for_all_but_one(postgres_url: str) -> None:
    base = SITE.read_text()
    contents = [base + f"\n# revision {k}\n" for k in range(THREADS)]
    *outcomes, sha = _register_all(postgres_url, contents)
    assert Counter(outcomes) == Counter({"written": 1, "conflict": THREADS - 1})
    assert sha in {hashlib.sha256(c.encode()).hexdigest() for c in contents}
