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
