"""Sites registered through the API: the site file's content (TOML or JSON) kept as submitted.

The content is validated by :meth:`bidding.Site.from_dict` before it is stored, so every stored
site can be bid for. Registering the same name again with the same bytes is a no-op; other
content replaces the site only when asked (bids keep the SHA-256 of the content they used).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, Literal

from sqlalchemy import Engine, Select, Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from bidding import BiddingError, Site
from engine.core.errors import ConflictError, InputFileError, NotFoundError
from engine.models.sites import SiteRow
from market.errors import MarketError

T_SITE: Table = SiteRow.__table__  # type: ignore[attr-defined]
SiteFormat = Literal["toml", "json"]


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """A stored site: its parsed model and how it was submitted."""

    name: str
    zone: str
    content: str
    content_format: str
    sha256: str
    created_at: datetime
    updated_at: datetime
    site: Site


def check_storable(content: str, source: str) -> None:
    """Refuse text that cannot be stored (a NUL, a lone surrogate) as an :class:`InputFileError`."""
    if "\x00" in content:
        raise InputFileError(source, "contains a NUL character")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise InputFileError(source, "not UTF-8 text (a lone surrogate)") from None


def parse_site(content: str, content_format: SiteFormat, source: str = "<site>") -> Site:
    """Parse and validate a site file's content.

    Raises
    ------
    InputFileError
        Not valid TOML/JSON, not a table, or a rule of the site file broken (names the field);
        text that cannot be stored (a NUL, a lone surrogate).
    """
    check_storable(content, source)
    try:
        data: Any = tomllib.loads(content) if content_format == "toml" else json.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(source, f"not valid TOML: {exc}") from None
    except ValueError as exc:
        raise InputFileError(source, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputFileError(source, "the site must be a table/object at the top level")
    try:
        return Site.from_dict(data)
    except (BiddingError, MarketError) as exc:
        raise InputFileError(source, str(exc)) from None
    except (TypeError, AttributeError, KeyError) as exc:
        # A value of the wrong JSON type deep inside a section (e.g. a list for a table).
        raise InputFileError(source, f"malformed site: {exc}") from None


@lru_cache(maxsize=256)
def _parsed(content: str, content_format: SiteFormat, source: str) -> Site:
    # Stored sites are immutable per content: parse each once per process.
    return parse_site(content, content_format, source)


def _record(row: Any) -> SiteRecord:
    return SiteRecord(
        name=row.name,
        zone=row.zone,
        content=row.content,
        content_format=row.content_format,
        sha256=row.sha256,
        created_at=row.created_at,
        updated_at=row.updated_at,
        site=_parsed(row.content, row.content_format, row.name),
    )


def register_site(
    engine: Engine,
    content: str,
    content_format: SiteFormat,
    *,
    replace: bool = False,
    created_by: str = "",
    now: datetime | None = None,
) -> tuple[SiteRecord, bool]:
    """Store a site; returns it and whether anything was written.

    Raises
    ------
    InputFileError
        The content is not a valid site.
    ConflictError
        A site of that name exists with other content and ``replace`` is not set.
    """
    site = parse_site(content, content_format)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    at = now or datetime.now(UTC)
    try:
        return _store(engine, site, content, content_format, digest, replace, created_by, at)
    except IntegrityError:
        # Another request registered the same name at the same time: as if it had come first
        # (same content: nothing written; other content: a conflict unless ``replace``).
        return _store(engine, site, content, content_format, digest, replace, created_by, at)


def _store(
    engine: Engine,
    site: Site,
    content: str,
    content_format: SiteFormat,
    digest: str,
    replace: bool,
    created_by: str,
    at: datetime,
) -> tuple[SiteRecord, bool]:
    with engine.begin() as conn:
        row = conn.execute(select(T_SITE).where(T_SITE.c.name == site.name)).first()
        if row is not None and row.sha256 == digest:
            return _record(row), False
        if row is not None and not replace:
            raise ConflictError(
                f"site {site.name!r} exists with other content (sha256 {row.sha256}); "
                "set replace to overwrite it"
            )
        values = {
            "zone": site.zone,
            "content": content,
            "content_format": content_format,
            "sha256": digest,
            "updated_at": at,
        }
        if row is None:
            conn.execute(
                T_SITE.insert().values(
                    name=site.name, created_at=at, created_by=created_by, **values
                )
            )
        else:
            conn.execute(T_SITE.update().where(T_SITE.c.name == site.name).values(**values))
        row = conn.execute(select(T_SITE).where(T_SITE.c.name == site.name)).one()
    return _record(row), True


def get_site(engine: Engine, name: str) -> SiteRecord:
    """The stored site ``name``; :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        row = conn.execute(_GET_SITE, {"name": name}).first()
    if row is None:
        raise NotFoundError(f"no site {name!r}")
    return _record(row)


def list_sites(
    engine: Engine, *, zone: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[SiteRecord], int]:
    """A page of sites by name, and how many there are in all."""
    rows_q, count_q = _site_page(zone is not None)
    params: dict[str, Any] = {"zone": zone, "limit": limit, "offset": offset}
    with engine.connect() as conn:
        rows = conn.execute(rows_q, params).all()
        total = int(conn.execute(count_q, params).scalar_one())
    return [_record(r) for r in rows], total


# Read statements are built once: building and keying a statement per call cost more than the
# query itself on SQLite (~130 of ~220 us for a page of sites).
_GET_SITE = select(T_SITE).where(T_SITE.c.name == bindparam("name"))


@cache
def _site_page(by_zone: bool) -> tuple[Select[Any], Select[Any]]:
    cond = [T_SITE.c.zone == bindparam("zone")] if by_zone else []
    rows = (
        select(T_SITE)
        .where(*cond)
        .order_by(T_SITE.c.name)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return rows, select(func.count()).select_from(T_SITE).where(*cond)
