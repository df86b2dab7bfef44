"""Canonical JSON: the one byte form of every document powerdesk hashes, stores or signs over.

Sorted keys, no insignificant whitespace, UTF-8, a trailing newline. (Ledger events are signed
over RFC 8785 bytes, :mod:`ledger.events`; this is the form of powerdesk's own documents.)
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(data: Any) -> bytes:
    """``data`` as canonical JSON bytes: sorted keys, compact, UTF-8, trailing newline."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def compact_json(data: Any) -> str:
    """``data`` as compact JSON text with sorted keys (for database columns)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def pretty_json(data: Any) -> bytes:
    """``data`` as a JSON file people read: sorted keys, indented, UTF-8, trailing newline.

    Same data, same bytes (outputs are compared byte for byte across runs).
    """
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
