"""Read portfolio files and zones files (TOML, docs/portfolio.md).

A portfolio file names its site files (paths relative to it) and its migratable jobs; a zones
file adds or overrides entries of the zone registry (a province or market without a built-in
entry). Every problem is one :class:`~engine.core.errors.InputFileError` naming the file and the
site, job or zone; nothing is written.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bidding import BiddingError, Site
from bidding.portfolio import Portfolio
from engine.core.errors import InputFileError, PowerdeskError
from engine.io.site_file import load_site
from market import ZONES, Product, Zone, register_zones
from market.errors import MarketError

ZONES_ENV = "POWERDESK_ZONES"


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputFileError(str(p), "no such file") from None
    except OSError as exc:
        raise InputFileError(str(p), f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(str(p), f"not valid TOML: {exc}") from None


def load_portfolio(path: str | Path) -> Portfolio:
    """Parse and validate the portfolio file at ``path`` and the site files it names.

    Raises
    ------
    InputFileError
        One line naming the file and the problem (a site file's own problem names that site
        file; unknown site, job allowed nowhere, mixed currencies or day boundaries, capacity
        below base load).
    """
    p = Path(path)
    data = _read_toml(p)
    names = data.get("sites")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise InputFileError(str(p), "sites: expected a list of site file paths")
    sites: list[Site] = []
    for name in names:
        site_path = p.parent / name
        try:
            sites.append(load_site(site_path))
        except InputFileError as exc:
            raise InputFileError(str(p), f"site file {name}: {exc.problem}") from None
    try:
        return Portfolio.from_dict(data, sites)
    except (BiddingError, MarketError) as exc:
        raise InputFileError(str(p), str(exc)) from None


def site_files(path: str | Path) -> list[Path]:
    """The site files a portfolio file names (resolved against its folder)."""
    p = Path(path)
    names = _read_toml(p).get("sites", [])
    return [p.parent / str(n) for n in names]


def _catalog() -> dict[str, Product]:
    out: dict[str, Product] = {}
    for z in ZONES.values():
        for product in z.products:
            out.setdefault(product.key, product)
    return out


def _text(t: Mapping[str, Any], key: str, where: str) -> str:
    value = t.get(key)
    if not isinstance(value, str) or not value:
        raise PowerdeskError(f"{where}.{key}: expected a non-empty string")
    return value


def _decimal(t: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = t.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PowerdeskError(f"{where}.{key}: expected a number")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise PowerdeskError(f"{where}.{key}: expected a number, got {value!r}") from None
    if not out.is_finite():
        raise PowerdeskError(f"{where}.{key}: must be finite")
    return out


def _clock(t: Mapping[str, Any], key: str, where: str) -> time:
    value = _text(t, key, where)
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise PowerdeskError(f"{where}.{key}: expected a local time HH:MM, got {value!r}") from None


def _zone(i: int, t: object) -> Zone:
    where = f"zones[{i}]"
    if not isinstance(t, Mapping):
        raise PowerdeskError(f"{where}: must be a table")
    key = _text(t, "key", where)
    where = f"zone {key!r}"
    base_key = t.get("base", key if key in ZONES else None)
    fields: dict[str, Any] = {}
    if base_key is not None:
        if not isinstance(base_key, str) or base_key not in ZONES:
            raise PowerdeskError(f"{where}.base: unknown zone {base_key!r}")
        base: Zone | None = ZONES[base_key]
    else:
        base = None
    if "name" in t:
        fields["name"] = _text(t, "name", where)
    if "time_zone" in t:
        tz = _text(t, "time_zone", where)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise PowerdeskError(f"{where}.time_zone: unknown IANA time zone {tz!r}") from None
        fields["tz"] = tz
    if "currency" in t:
        fields["currency"] = _text(t, "currency", where)
    if "resolution_minutes" in t:
        minutes = t["resolution_minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes not in (15, 30, 60):
            raise PowerdeskError(f"{where}.resolution_minutes: expected 15, 30 or 60")
        fields["da_resolutions"] = ((date(1970, 1, 1), timedelta(minutes=minutes)),)
    for key_in, attr in (("gate_closure", "gate_closure"), ("da_publication", "da_publication")):
        if key_in in t:
            fields[attr] = _clock(t, key_in, where)
    for key_in, attr in (
        ("price_floor", "price_floor"),
        ("price_cap", "price_cap"),
        ("tick", "tick"),
        ("minor_unit", "minor_unit"),
    ):
        if key_in in t:
            fields[attr] = _decimal(t, key_in, where)
    if "products" in t:
        catalog = _catalog()
        keys = t["products"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise PowerdeskError(f"{where}.products: expected a list of product keys")
        unknown = [k for k in keys if k not in catalog]
        if unknown:
            known = ", ".join(sorted(catalog))
            raise PowerdeskError(f"{where}.products: unknown {unknown[0]!r} (known: {known})")
        if "DA" not in keys:
            keys = ["DA", *keys]
        fields["products"] = tuple(catalog[k] for k in keys)
    fields["notes"] = str(t.get("notes", "from a zones file"))
    if base is not None:
        zone = replace(base, key=key, **fields)
    else:
        needed = ("name", "tz", "currency", "da_resolutions", "gate_closure", "da_publication")
        missing = [n for n in needed if n not in fields]
        if missing:
            raise PowerdeskError(
                f"{where}: missing {missing[0]} (give it, or base = an existing zone key)"
            )
        zone = Zone(
            key=key,
            name=fields["name"],
            tz=fields["tz"],
            currency=fields["currency"],
            da_resolutions=fields["da_resolutions"],
            gate_closure=fields["gate_closure"],
            da_publication=fields["da_publication"],
            price_floor=fields.get("price_floor", Decimal(-500)),
            price_cap=fields.get("price_cap", Decimal(4000)),
            tick=fields.get("tick", Decimal("0.01")),
            products=fields.get("products", (_catalog()["DA"],)),
            minor_unit=fields.get("minor_unit", Decimal("0.01")),
            notes=fields["notes"],
        )
    if zone.price_floor >= zone.price_cap:
        raise PowerdeskError(f"{where}: price_floor must be below price_cap")
    return zone


def read_zones_file(path: str | Path) -> tuple[Zone, ...]:
    """The zones of a zones file (``[[zones]]`` tables), validated, not yet registered.

    Raises
    ------
    InputFileError
        One line naming the file and the zone.
    """
    p = Path(path)
    data = _read_toml(p)
    raw = data.get("zones")
    if not isinstance(raw, list) or not raw:
        raise InputFileError(str(p), "expected [[zones]] tables")
    try:
        return tuple(_zone(i, t) for i, t in enumerate(raw))
    except PowerdeskError as exc:
        raise InputFileError(str(p), str(exc)) from None


def use_zones_file(path: str | Path | None) -> tuple[Zone, ...]:
    """Register the zones of ``path`` (or of ``$POWERDESK_ZONES`` when ``None``); returns them."""
    chosen = path if path is not None else os.environ.get(ZONES_ENV) or None
    if chosen is None:
        return ()
    zones = read_zones_file(chosen)
    register_zones(zones)
    return zones
