"""Small sites and price profiles for bidding tests."""

from __future__ import annotations

from typing import Any

from bidding import Site


def site_dict(zone: str = "CAISO", **overrides: Any) -> dict[str, Any]:
    """A small valid site file as a dict (jobs, battery optional via overrides)."""
    d: dict[str, Any] = {
        "name": "t",
        "zone": zone,
        "load": {"base_it_mw": 10.0, "pue": 1.0, "grid_import_max_mw": 50.0},
        "jobs": [
            {
                "name": "train",
                "energy_mwh": 2.0,
                "max_power_mw": 1.0,
                "window_start": "00:00",
                "window_end": "24:00",
                "preemptible": True,
            }
        ],
    }
    d.update(overrides)
    return d


def make_site(zone: str = "CAISO", **overrides: Any) -> Site:
    """:func:`site_dict` validated."""
    return Site.from_dict(site_dict(zone, **overrides))


BATTERY: dict[str, Any] = {
    "energy_mwh": 4.0,
    "power_mw": 2.0,
    "charge_efficiency": 0.9,
    "discharge_efficiency": 0.9,
    "soc_initial_mwh": 2.0,
    "soc_min_mwh": 0.5,
    "soc_max_mwh": 4.0,
    "degradation_cost_per_mwh": 1.0,
}


def rich_site(zone: str = "DE-LU") -> Site:
    """Jobs (one non-preemptible), battery, DR, PPA, PUE profile and the zone's reserves."""
    products = {"DE-LU": ["FCR", "AFRR_UP", "AFRR_DOWN"], "CAISO": ["REGUP", "REGDN"]}[zone]
    d = site_dict(
        zone,
        battery=dict(BATTERY),
        reserves={"products": products},
        demand_response={"curtailable_share": 0.1, "cost_per_mwh": 200.0},
        pue_profile=[{"from": "12:00", "pue": 1.3}, {"from": "18:00", "pue": 1.1}],
        ppa=[{"name": "wind", "power_mw": 1.0, "price_per_mwh": 40.0}],
    )
    d["jobs"].append(
        {
            "name": "night",
            "energy_mwh": 3.0,
            "max_power_mw": 1.5,
            "window_start": "02:00",
            "window_end": "10:00",
            "preemptible": True,
        }
    )
    d["jobs"].append(
        {
            "name": "batch",
            "energy_mwh": 4.0,
            "max_power_mw": 2.0,
            "run_hours": 2.0,
            "window_start": "14:00",
            "window_end": "22:00",
            "preemptible": False,
        }
    )
    return Site.from_dict(d)
