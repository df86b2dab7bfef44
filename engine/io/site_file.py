"""Read site files (TOML, docs/site-file.md) into :class:`bidding.Site`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bidding import BiddingError, Site
from engine.core.errors import InputFileError
from market.errors import MarketError


def load_site(path: str | Path) -> Site:
    """Parse and validate the site file at ``path``.

    Raises
    ------
    InputFileError
        One line naming the file and the problem (unreadable, bad TOML, failed validation).
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputFileError(str(p), "no such file") from None
    except OSError as exc:
        raise InputFileError(str(p), f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(str(p), f"not valid TOML: {exc}") from None
    try:
        return Site.from_dict(data)
    except (BiddingError, MarketError) as exc:
        raise InputFileError(str(p), str(exc)) from None
