"""Portfolios registered in the database: the portfolio file's content kept as submitted, with
the names of its sites, which are ordinary registered sites (:mod:`engine.sites.registry`).

The content is validated with :meth:`bidding.portfolio.Portfolio.from_dict` against the stored
sites before anything is written, exactly as a portfolio file is validated against its site
files (docs/portfolio.md). Registering the same content and sites again is a no-op; other
content replaces the portfolio only when asked.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from bidding import BiddingError
from bidding.portfolio import Portfolio
from engine.core.errors import ConflictError, InputFileError, NotFoundError
from engine.io.portfolio_file import load_portfolio, site_files
from engine.models.portfolios import PortfolioRow
from engine.sites.registry import T_SITE, check_storable, get_site, register_site
from market import NAME_RULE, is_name
from market.errors import MarketError

T_PORTFOLIO: Table = PortfolioRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PortfolioRecord:
    """A stored portfolio: its parsed model over the stored sites, and how it was submitted."""

    name: str
    content: str
    sha256: str
    sites: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    portfolio: Portfolio


def parse_portfolio(content: str, sites: Sequence[Any], source: str = "<portfolio>") -> Portfolio:
    """Validate a portfolio file's content against its (parsed) sites, in the file's order.

    Raises
    ------
    InputFileError
        Not TOML, not a valid portfolio (names the site or job), a name that cannot be stored.
    """
    check_storable(content, source)
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(source, f"not valid TOML: {exc}") from None
    try:
        portfolio = Portfolio.from_dict(data, list(sites))
    except (BiddingError, MarketError) as exc:
        raise InputFileError(source, str(exc)) from None
    except (TypeError, AttributeError, KeyError) as exc:
        raise InputFileError(source, f"malformed portfolio: {exc}") from None
    if not is_name(portfolio.name):  # it names job keys and URLs
        raise InputFileError(
            source, f"name: {portfolio.name[:80]!r} is not a valid name ({NAME_RULE})"
        )
    return portfolio


def _record(row: Any, engine: Engine) -> PortfolioRecord:
    names = tuple(json.loads(row.sites_json))
    sites = [get_site(engine, n).site for n in names]
    return PortfolioRecord(
        name=row.name,
        content=row.content,
        sha256=row.sha256,
        sites=names,
        created_at=row.created_at,
        updated_at=row.updated_at,
        portfolio=parse_portfolio(row.content, sites, row.name),
    )


def register_portfolio(
    engine: Engine,
    content: str,
    sites: Sequence[str],
    *,
    replace: bool = False,
    created_by: str = "",
    now: datetime | None = None,
) -> tuple[PortfolioRecord, bool]:
    """Store a portfolio whose sites are the registered sites ``sites`` (the file's order);
    returns it and whether anything was written.

    Raises
    ------
    NotFoundError
        A site is not registered.
    InputFileError
        The content is not a valid portfolio over those sites.
    ConflictError
        A portfolio of that name exists with other content or sites and ``replace`` is not set.
    """
    parsed = [get_site(engine, name).site for name in sites]
    portfolio = parse_portfolio(content, parsed)
    names = [s.name for s in portfolio.sites]
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    sites_json = json.dumps(names)
    at = now or datetime.now(UTC)
    try:
        return _store(engine, portfolio.name, content, digest, sites_json, replace, created_by, at)
    except IntegrityError:
        # Another request registered the same name at the same time: as if it had come first.
        return _store(engine, portfolio.name, content, digest, sites_json, replace, created_by, at)


def _store(
    engine: Engine,
    name: str,
    content: str,
    digest: str,
    sites_json: str,
    replace: bool,
    created_by: str,
    at: datetime,
) -> tuple[PortfolioRecord, bool]:
    with engine.begin() as conn:
        row = conn.execute(_GET, {"name": name}).first()
        if row is not None and (row.sha256, row.sites_json) == (digest, sites_json):
            return _record(row, engine), False
        if row is not None and not replace:
            raise ConflictError(
                f"portfolio {name!r} exists with other content (sha256 {row.sha256}); "
                "set replace to overwrite it"
            )
        values = {"content": content, "sha256": digest, "sites_json": sites_json, "updated_at": at}
        if row is None:
            conn.execute(
                T_PORTFOLIO.insert().values(
                    name=name, created_at=at, created_by=created_by, **values
                )
            )
        else:
            conn.execute(T_PORTFOLIO.update().where(T_PORTFOLIO.c.name == name).values(**values))
        row = conn.execute(_GET, {"name": name}).one()
    return _record(row, engine), True


def register_portfolio_file(
    engine: Engine, path: Path, *, replace: bool = True, created_by: str = ""
) -> tuple[PortfolioRecord, bool]:
    """Register a portfolio file and its site files (the sites as registered sites).

    Everything is validated, and every stored site and portfolio compared, before anything is
    written: a bad file or a conflict (without ``replace``) writes nothing.
    """
    portfolio = load_portfolio(path)  # one-line errors naming the file, site or job
    files = site_files(path)
    texts = [f.read_text(encoding="utf-8") for f in files]
    content = path.read_text(encoding="utf-8")
    if not replace:
        with engine.connect() as conn:
            for site, text in zip(portfolio.sites, texts, strict=True):
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                stored = conn.execute(
                    select(T_SITE.c.sha256).where(T_SITE.c.name == site.name)
                ).scalar_one_or_none()
                if stored is not None and stored != digest:
                    raise ConflictError(
                        f"site {site.name!r} exists with other content (sha256 {stored}); "
                        "set replace to overwrite it"
                    )
            stored = conn.execute(
                select(T_PORTFOLIO.c.sha256).where(T_PORTFOLIO.c.name == portfolio.name)
            ).scalar_one_or_none()
            if stored is not None and stored != hashlib.sha256(content.encode()).hexdigest():
                raise ConflictError(
                    f"portfolio {portfolio.name!r} exists with other content (sha256 {stored}); "
                    "set replace to overwrite it"
                )
    written = False
    for text in texts:
        written |= register_site(engine, text, "toml", replace=replace, created_by=created_by)[1]
    record, stored_now = register_portfolio(
        engine,
        content,
        [s.name for s in portfolio.sites],
        replace=replace,
        created_by=created_by,
    )
    return record, written or stored_now


_GET = select(T_PORTFOLIO).where(T_PORTFOLIO.c.name == bindparam("name"))


def get_portfolio(engine: Engine, name: str) -> PortfolioRecord:
    """The stored portfolio ``name``; :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        row = conn.execute(_GET, {"name": name}).first()
    if row is None:
        raise NotFoundError(f"no portfolio {name!r}")
    return _record(row, engine)


def list_portfolios(
    engine: Engine, *, limit: int = 50, offset: int = 0
) -> tuple[list[PortfolioRecord], int]:
    """A page of portfolios by name, and how many there are in all."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(T_PORTFOLIO).order_by(T_PORTFOLIO.c.name).limit(limit).offset(offset)
        ).all()
        total = int(conn.execute(select(func.count()).select_from(T_PORTFOLIO)).scalar_one())
    return [_record(r, engine) for r in rows], total


__all__ = [
    "PortfolioRecord",
    "get_portfolio",
    "list_portfolios",
    "parse_portfolio",
    "register_portfolio",
    "register_portfolio_file",
]
