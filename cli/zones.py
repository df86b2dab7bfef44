"""``powerdesk zones``: the zone registry."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from market import ZONES, Zone


def zone_record(zone: Zone) -> dict[str, Any]:
    """A zone as JSON-ready data, units in the field names."""
    return {
        "key": zone.key,
        "name": zone.name,
        "time_zone": zone.tz,
        "currency": zone.currency,
        "da_resolution_minutes": [
            {"from_day": d.isoformat(), "minutes": int(r.total_seconds() // 60)}
            for d, r in zone.da_resolutions
        ],
        "gate_closure_local_d_minus_1": zone.gate_closure.isoformat("minutes"),
        "da_publication_local_d_minus_1": zone.da_publication.isoformat("minutes"),
        "price_floor_per_mwh": str(zone.price_floor),
        "price_cap_per_mwh": str(zone.price_cap),
        "tick_per_mwh": str(zone.tick),
        "products": [
            {
                "key": p.key,
                "name": p.name,
                "direction": p.direction.value,
                "payment": p.payment.value,
                "block_minutes": int(p.block.total_seconds() // 60),
                "min_size_mw": str(p.min_size_mw),
            }
            for p in zone.products
        ],
    }


def zones(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """List the zone registry: time zone, currency, DA resolution, gate closure, limits."""
    records = [zone_record(z) for z in ZONES.values()]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table("zone", "time zone", "ccy", "DA res", "gate (D-1)", "floor", "cap", "products")
    for z, r in zip(ZONES.values(), records, strict=True):
        res = " → ".join(f"{x['minutes']}m" for x in r["da_resolution_minutes"])
        table.add_row(
            z.key,
            z.tz,
            z.currency,
            res,
            r["gate_closure_local_d_minus_1"],
            r["price_floor_per_mwh"],
            r["price_cap_per_mwh"],
            ", ".join(p.key for p in z.products),
        )
    Console().print(table)
