"""Names that become paths are identifiers: the one rule for every such name in powerdesk.

Sites, ledger parties and key files, report folders and periods are names a user picks that end up
as a folder or file name (``reports/<site>/<period>/``, ``keys/<party>.pem``). A name is 1 to 64
characters of ASCII letters, digits, ``_``, ``.`` and ``-``, starting with a letter or digit: one
path component, never ``.``/``..``, no separator, no control character, the same on every file
system. Every entry point (site files, ``POST /sites``, the CLI, the scheduler's report paths)
checks names with :func:`check_name`; the error is one line.
"""

from __future__ import annotations

import re

from market.errors import MarketError

NAME_RULE = "1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit"
"""The rule in words, as error messages and the docs state it."""

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class BadNameError(MarketError):
    """A name that is not an identifier (it could escape the folder it names)."""


def is_name(value: object) -> bool:
    """True when ``value`` is an identifier by the rule."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None


def check_name(value: object, what: str = "name") -> str:
    """``value`` if it is an identifier; :class:`BadNameError` naming ``what`` otherwise."""
    if not is_name(value):
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else repr(value[:80])
        raise BadNameError(f"{what} {shown} is not a valid name ({NAME_RULE})")
    assert isinstance(value, str)
    return value
