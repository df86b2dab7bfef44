"""PPA contracts in the database: import TOML contract files, list and show them."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import IntegrityError

from engine.core.errors import ConflictError, InputFileError, NotFoundError
from engine.models.ledger import LedgerPPA
from ledger.errors import PPAError
from ledger.ppa import PPA, ppa_from_mapping
from market import get_zone
from market.errors import MarketError

T_PPA: Table = LedgerPPA.__table__  # type: ignore[attr-defined]


def parse_ppa(text: str, source: str = "<ppa>") -> PPA:
    """Parse a PPA contract (TOML; numbers are read as exact decimals)."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(source, f"not valid TOML: {exc}") from exc
    try:
        zone = get_zone(str(data.get("zone", "")))
        return ppa_from_mapping(data, zone.tz)
    except (PPAError, MarketError) as exc:
        raise InputFileError(source, str(exc)) from exc


def add_ppa(engine: Engine, path: Path) -> PPA:
    """Import a PPA contract file; its id must be new."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), f"cannot read: {exc}") from exc
    return store_ppa(engine, parse_ppa(text, str(path)), text)


def store_ppa(engine: Engine, ppa: PPA, text: str) -> PPA:
    """Store a parsed contract with its exact text; :class:`ConflictError` if its id exists."""
    row = {
        "ppa_id": ppa.ppa_id,
        "kind": ppa.kind,
        "buyer": ppa.buyer,
        "counterparty": ppa.counterparty,
        "zone": ppa.zone,
        "currency": ppa.currency,
        "strike_per_mwh": ppa.strike_per_mwh,
        "start": ppa.start,
        "end": ppa.end,
        "contract_toml": text,
    }
    try:
        with engine.begin() as conn:
            conn.execute(T_PPA.insert().values(**row))
    except IntegrityError as exc:
        raise ConflictError(f"a PPA with id {ppa.ppa_id!r} exists already") from exc
    return ppa


def list_ppas(engine: Engine) -> list[PPA]:
    """Every stored PPA, by id."""
    with engine.connect() as conn:
        rows = conn.execute(select(T_PPA).order_by(T_PPA.c.ppa_id)).all()
    return [parse_ppa(r.contract_toml, r.ppa_id) for r in rows]


def get_ppa(engine: Engine, ppa_id: str) -> PPA:
    """One stored PPA."""
    with engine.connect() as conn:
        row = conn.execute(select(T_PPA).where(T_PPA.c.ppa_id == ppa_id)).first()
    if row is None:
        raise NotFoundError(f"no PPA {ppa_id!r}")
    return parse_ppa(row.contract_toml, ppa_id)
