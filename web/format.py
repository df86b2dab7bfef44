"""Template filters: numbers with their units and currency, times in UTC and local time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def num(value: Any, places: int = 2) -> str:
    """``1234.5`` as ``1,234.50``; a dash for nothing."""
    d = _dec(value)
    if d is None:
        return "–"
    return f"{d:,.{places}f}".replace("-", "−")


def money(value: Any, currency: str = "") -> str:
    """An amount with its currency code: ``64,790.54 EUR``."""
    text = num(value, 2)
    return f"{text} {currency}".strip() if text != "–" else text


def mwh(value: Any, places: int = 1) -> str:
    """Energy in MWh."""
    return f"{num(value, places)} MWh"


def wh_to_mwh(value: Any, places: int = 1) -> str:
    """Energy given in Wh, shown in MWh."""
    d = _dec(value)
    return mwh(None if d is None else d / 1_000_000, places)


def pct(value: Any, places: int = 1) -> str:
    """A share 0..1 as a percentage."""
    d = _dec(value)
    return "–" if d is None else f"{d * 100:.{places}f} %"


def when(value: Any, tz: str | None = None) -> str:
    """An instant as ``2025-03-29 12:00 UTC`` (or local time of ``tz``)."""
    if value is None or value == "":
        return "–"
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if tz:
        local = t.astimezone(ZoneInfo(tz))
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    if t.tzinfo is not None:
        t = t.astimezone(ZoneInfo("UTC"))
    return f"{t:%Y-%m-%d %H:%M} UTC"


def day(value: Any) -> str:
    """A date as ISO text."""
    return value.isoformat() if isinstance(value, date) else str(value)


FILTERS: dict[str, Callable[..., str]] = {
    "num": num,
    "money": money,
    "mwh": mwh,
    "wh_mwh": wh_to_mwh,
    "pct": pct,
    "when": when,
    "day": day,
}
