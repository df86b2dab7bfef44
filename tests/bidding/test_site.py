from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bidding import Site, SiteError
from tests.bidding.helpers import BATTERY, site_dict

SITES = Path(__file__).resolve().parents[2] / "fixtures" / "sites"


@pytest.mark.parametrize("name", ["example-dc.toml", "caiso-dc.toml"])
def test_fixture_sites_load(name: str) -> None:
    with (SITES / name).open("rb") as fh:
        site = Site.from_dict(tomllib.load(fh))
    assert site.jobs
    assert site.battery is not None
    assert site.reserve_products


def test_example_site_reads_contract_fields() -> None:
    with (SITES / "example-dc.toml").open("rb") as fh:
        site = Site.from_dict(tomllib.load(fh))
    assert site.zone == "DE-LU"
    assert site.load.base_it_mw == 60.0
    assert site.load.pue.at(0) == 1.25
    assert site.load.pue.at(12 * 60) == 1.32
    assert site.load.pue.at(20 * 60) == 1.25
    train = site.jobs[0]
    assert (train.window_start_minute, train.window_end_minute) == (0, 1440)
    assert train.preemptible
    evalj = site.jobs[1]
    assert not evalj.preemptible
    assert evalj.run_power_mw == 10.0
    assert site.battery is not None
    assert site.battery.soc_initial_mwh == 25.0


def _mutate(path: str, value: Any) -> dict[str, Any]:
    d = site_dict(battery=copy.deepcopy(BATTERY))
    target: Any = d
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    target[keys[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("jobs.0.energy_mwh", 30.0, "holds at most 24 MWh"),
        ("jobs.0.window_start", "24:00", "crosses midnight"),
        ("jobs.0.window_end", "25:00", "not a time of day"),
        ("jobs.0.window_end", "10:10", "quarter hour"),
        ("jobs.0.energy_mwh", -1.0, "must not be negative"),
        ("battery.soc_min_mwh", 4.0, "must be below soc_max_mwh"),
        ("battery.soc_initial_mwh", 0.1, "soc_initial_mwh 0.1 must lie in"),
        ("battery.charge_efficiency", 1.2, "efficiency must lie in (0, 1]"),
        ("battery.discharge_efficiency", 0.0, "efficiency must lie in (0, 1]"),
        ("battery.soc_max_mwh", 5.0, "exceeds energy_mwh"),
        ("load.pue", 0.9, "PUE must be at least 1"),
        ("load.base_it_mw", 80.0, "above grid_import_max_mw"),
        ("zone", "XX", "unknown zone"),
    ],
)
def test_invalid_sites_name_the_problem(path: str, value: Any, message: str) -> None:
    d = _mutate(path, value)
    with pytest.raises(SiteError) as err:
        Site.from_dict(d)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_non_preemptible_job_must_fit_window() -> None:
    d = site_dict()
    d["jobs"].append(
        {
            "name": "batch",
            "energy_mwh": 8.0,
            "max_power_mw": 2.0,
            "run_hours": 4.0,
            "window_start": "20:00",
            "window_end": "23:00",
            "preemptible": False,
        }
    )
    with pytest.raises(SiteError, match="does not fit in window 20:00-23:00"):
        Site.from_dict(d)
    d["jobs"][1]["window_end"] = "24:00"
    d["jobs"][1]["max_power_mw"] = 1.0
    with pytest.raises(SiteError, match="needs 2 MW, above max_power_mw 1"):
        Site.from_dict(d)


def test_reserve_products_must_belong_to_zone() -> None:
    with pytest.raises(SiteError, match="has no product 'FCR'"):
        Site.from_dict(site_dict(reserves={"products": ["FCR"]}))
    site = Site.from_dict(site_dict(reserves={"products": ["REGUP", "REGDN"]}))
    assert site.reserve_products == ("REGUP", "REGDN")


def test_export_needs_flag() -> None:
    d = site_dict()
    d["load"]["grid_export_max_mw"] = 5.0
    with pytest.raises(SiteError, match="grid_export_allowed"):
        Site.from_dict(d)
    d["load"]["grid_export_allowed"] = True
    assert Site.from_dict(d).load.grid_export_max_mw == 5.0
