"""The data-centre site as frozen data: load, PUE, flexible jobs, battery, reserves, DR, PPAs.

:meth:`Site.from_dict` takes the parsed site file (a TOML document, docs/site-file.md) and
validates it, raising :class:`~bidding.errors.SiteError` with the field and the problem. Beyond
``[load]``, ``[[jobs]]`` and ``[battery]`` it reads these optional keys and sections:

``[load]``
    ``grid_export_allowed`` (bool, default false) and ``grid_export_max_mw`` (default the import
    limit when export is allowed); ``it_capacity_mw`` (optional, at least ``base_it_mw``): base
    IT + jobs + migratable jobs of a portfolio placed at the site never exceed it.
``[[pue_profile]]``
    ``from = "HH:MM"``, ``pue = x``: the PUE from that local time on (until the next entry); before
    the first entry ``load.pue`` holds.
``[demand_response]``
    ``curtailable_share`` of base IT load that may be curtailed to back upward products [-],
    ``cost_per_mwh`` value of the curtailed IT load [currency/MWh].
``[reserves]``
    ``products = ["FCR", ...]``: products of the zone the site offers (default none);
    ``performance_factor`` (K of Chinese frequency regulation, in (0, 1], default 1): the share
    of regulation mileage paid, in the bid's valuation and in settlement.
``[[ppa]]``
    ``name``, ``power_mw`` (baseload) or ``[[ppa.profile]]`` steps ``from``/``power_mw``, and
    ``price_per_mwh``: energy delivered to the site, lowering its market purchase.
``[[jobs]]`` with ``preemptible = false``
    ``run_hours``: the job runs at constant power ``energy_mwh / run_hours`` for ``run_hours``
    contiguous hours that start no earlier than ``window_start`` and end by ``window_end``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bidding.errors import SiteError
from market import NAME_RULE, get_zone, is_name
from market.errors import MarketError
from market.units import MAX_SITE_MW

MINUTES_PER_DAY = 24 * 60
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_local_time(text: object, where: str) -> int:
    """Minutes after local midnight of ``"HH:MM"`` (``"24:00"`` is the end of the day) [min]."""
    if not isinstance(text, str):
        raise SiteError(f"{where}: expected a time 'HH:MM', got {text!r}")
    m = _HHMM.match(text.strip())
    if not m:
        raise SiteError(f"{where}: expected a time 'HH:MM', got {text!r}")
    h, mi = int(m.group(1)), int(m.group(2))
    if mi >= 60 or h > 24 or (h == 24 and mi):
        raise SiteError(f"{where}: {text!r} is not a time of day (00:00 to 24:00)")
    return h * 60 + mi


def format_local_time(minute: int) -> str:
    """``"HH:MM"`` of a minute of the day (1440 gives ``"24:00"``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class StepProfile:
    """A value by local time of day, constant from each step's start to the next step.

    Parameters
    ----------
    default
        Value before the first step.
    steps
        ``(start_minute, value)`` pairs with strictly increasing start minutes in [0, 1440).
    """

    default: float
    steps: tuple[tuple[int, float], ...] = ()

    def at(self, minute_of_day: int) -> float:
        """Value at a local minute of the day."""
        value = self.default
        for start, v in self.steps:
            if minute_of_day >= start:
                value = v
        return value


@dataclass(frozen=True, slots=True)
class Load:
    """Inflexible IT load, cooling overhead and grid connection.

    Parameters
    ----------
    base_it_mw
        Inflexible IT load [MW].
    pue
        Facility power per IT power [-], by local time of day.
    grid_import_max_mw
        Grid connection import limit [MW].
    grid_export_allowed
        Whether the site may feed power into the grid (negative grid purchase).
    grid_export_max_mw
        Export limit when allowed [MW].
    it_capacity_mw
        IT capacity of the halls [MW] (``None``: no limit beyond the jobs' own caps): base IT,
        the site's jobs and migratable jobs of a portfolio placed there never exceed it.
    """

    base_it_mw: float
    pue: StepProfile
    grid_import_max_mw: float
    grid_export_allowed: bool = False
    grid_export_max_mw: float = 0.0
    it_capacity_mw: float | None = None


@dataclass(frozen=True, slots=True)
class JobClass:
    """A flexible compute job class that recurs every delivery day.

    Parameters
    ----------
    name
        Unique name.
    energy_mwh
        IT energy to deliver within the window each day [MWh].
    max_power_mw
        IT power cap [MW].
    window_start_minute, window_end_minute
        Local window ``[start, end)`` in minutes after midnight (end 1440 = 24:00) [min].
    preemptible
        True: any power profile in ``[0, max_power_mw]``. False: one contiguous run.
    run_hours
        Run length of a non-preemptible job [h]; ``None`` for preemptible jobs.
    """

    name: str
    energy_mwh: float
    max_power_mw: float
    window_start_minute: int
    window_end_minute: int
    preemptible: bool = True
    run_hours: float | None = None

    @property
    def run_power_mw(self) -> float:
        """Constant IT power of a non-preemptible run [MW]."""
        if self.run_hours is None:
            raise SiteError(f"job {self.name!r} is preemptible and has no run power")
        return self.energy_mwh / self.run_hours

    @property
    def window_hours(self) -> float:
        """Window length on a 24-hour day [h]."""
        return (self.window_end_minute - self.window_start_minute) / 60.0


@dataclass(frozen=True, slots=True)
class Battery:
    """A battery energy storage system (all energies at the battery terminals' storage side).

    Parameters
    ----------
    energy_mwh
        Usable capacity [MWh].
    power_mw
        Charge and discharge power limit [MW].
    charge_efficiency, discharge_efficiency
        One-way efficiencies in (0, 1] [-].
    soc_initial_mwh
        State of charge at the start of each delivery day; also the least it must end with [MWh].
    soc_min_mwh, soc_max_mwh
        State-of-charge limits [MWh].
    degradation_cost_per_mwh
        Cost per MWh of charge plus discharge throughput [currency/MWh].
    """

    energy_mwh: float
    power_mw: float
    charge_efficiency: float
    discharge_efficiency: float
    soc_initial_mwh: float
    soc_min_mwh: float
    soc_max_mwh: float
    degradation_cost_per_mwh: float = 0.0


@dataclass(frozen=True, slots=True)
class DemandResponse:
    """Curtailable share of the inflexible IT load, offered to back upward products.

    Parameters
    ----------
    curtailable_share
        Share of base IT load that may be curtailed [-], in [0, 1].
    cost_per_mwh
        Value of the IT load given up per MWh curtailed [currency/MWh].
    """

    curtailable_share: float = 0.0
    cost_per_mwh: float = 0.0


@dataclass(frozen=True, slots=True)
class Ppa:
    """A power purchase agreement delivering energy to the site.

    Parameters
    ----------
    name
        Contract name.
    power_mw
        Delivered power by local time of day [MW].
    price_per_mwh
        Contract price [currency/MWh] (a constant for the optimiser; reported in the plan).
    """

    name: str
    power_mw: StepProfile
    price_per_mwh: float = 0.0


@dataclass(frozen=True, slots=True)
class Site:
    """A data-centre site: what :func:`bidding.solve_day` optimises.

    Parameters
    ----------
    name
        Site name.
    zone
        Key of the market zone registry.
    load
        Inflexible load, PUE and grid limits.
    jobs
        Flexible job classes.
    battery
        Optional battery.
    reserve_products
        Keys of the zone's reserve products the site offers.
    demand_response
        Curtailable IT load.
    ppas
        PPA deliveries.
    reserve_performance_factor
        K of mileage-paid regulation [-], in (0, 1]: mileage revenue is scaled by it.
    """

    name: str
    zone: str
    load: Load
    jobs: tuple[JobClass, ...] = ()
    battery: Battery | None = None
    reserve_products: tuple[str, ...] = ()
    demand_response: DemandResponse = DemandResponse()
    ppas: tuple[Ppa, ...] = ()
    reserve_performance_factor: float = 1.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Site:
        """Validate a parsed site file and build the site.

        Raises
        ------
        SiteError
            With the field and the problem, e.g. ``jobs[0] 'training': window 08:00-10:00 holds
            at most 60 MWh at 30 MW, less than energy_mwh 240``.
        """
        return _site_from_dict(d)


# --- validation helpers -------------------------------------------------------------------------


def _table(d: Mapping[str, Any], key: str, where: str, required: bool) -> Mapping[str, Any]:
    value = d.get(key)
    if value is None:
        if required:
            raise SiteError(f"{where}: missing section [{key}]")
        return {}
    if not isinstance(value, Mapping):
        raise SiteError(f"{where}: [{key}] must be a table")
    return value


def _number(
    d: Mapping[str, Any],
    key: str,
    where: str,
    *,
    default: float | None = None,
    minimum: float | None = 0.0,
    positive: bool = False,
) -> float:
    if key not in d:
        if default is None:
            raise SiteError(f"{where}: missing {key}")
        return default
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SiteError(f"{where}.{key}: expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise SiteError(f"{where}.{key}: must be finite, got {value!r}")
    if positive and x <= 0:
        raise SiteError(f"{where}.{key}: must be positive, got {value!r}")
    limit = MAX_SITE_MW if key.endswith("_mw") else MAX_SITE_MW * 24 if key.endswith("_mwh") else 0
    if limit and abs(x) > limit:
        unit = "MW" if key.endswith("_mw") else "MWh"
        raise SiteError(
            f"{where}.{key}: {x:g} {unit} is implausible for one site (at most {limit:g} {unit})"
        )
    if minimum is not None and x < minimum:
        raise SiteError(f"{where}.{key}: must not be negative, got {value!r}")
    return x


def _efficiency(d: Mapping[str, Any], key: str, where: str) -> float:
    x = _number(d, key, where, default=1.0, minimum=None)
    if not 0.0 < x <= 1.0:
        raise SiteError(f"{where}.{key}: efficiency must lie in (0, 1], got {x}")
    return x


def _bool(d: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise SiteError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _profile(
    items: object, default: float, key: str, where: str, value_key: str, minimum: float
) -> StepProfile:
    if items is None:
        return StepProfile(default)
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise SiteError(f"{where}: [[{key}]] must be an array of tables")
    steps: list[tuple[int, float]] = []
    for i, item in enumerate(items):
        w = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            raise SiteError(f"{w}: must be a table")
        start = parse_local_time(item.get("from"), f"{w}.from")
        if start >= MINUTES_PER_DAY:
            raise SiteError(f"{w}.from: must be before 24:00")
        if steps and start <= steps[-1][0]:
            raise SiteError(f"{w}.from: steps must be in increasing time order")
        value = _number(item, value_key, w, minimum=minimum)
        steps.append((start, value))
    return StepProfile(default, tuple(steps))


def _load(d: Mapping[str, Any]) -> Load:
    t = _table(d, "load", "site", required=True)
    w = "load"
    base = _number(t, "base_it_mw", w)
    pue = _number(t, "pue", w, minimum=None)
    if pue < 1.0:
        raise SiteError(f"load.pue: PUE must be at least 1, got {pue}")
    profile = _profile(d.get("pue_profile"), pue, "pue_profile", "site", "pue", 1.0)
    imp = _number(t, "grid_import_max_mw", w, positive=True)
    export = _bool(t, "grid_export_allowed", w, False)
    exp_max = _number(t, "grid_export_max_mw", w, default=imp if export else 0.0)
    if not export and exp_max > 0:
        raise SiteError("load.grid_export_max_mw: set grid_export_allowed = true to export")
    it_cap: float | None = None
    if "it_capacity_mw" in t:
        it_cap = _number(t, "it_capacity_mw", w, positive=True)
        if it_cap < base:
            raise SiteError(f"load.it_capacity_mw: {it_cap:g} MW is below base_it_mw {base:g} MW")
    return Load(base, profile, imp, export, exp_max, it_cap)


def _job(i: int, t: object, names: set[str]) -> JobClass:
    w = f"jobs[{i}]"
    if not isinstance(t, Mapping):
        raise SiteError(f"{w}: must be a table")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise SiteError(f"{w}.name: expected a non-empty string")
    if name in names:
        raise SiteError(f"{w}.name: duplicate job class {name!r}")
    names.add(name)
    w = f"jobs[{i}] {name!r}"
    energy = _number(t, "energy_mwh", w)
    pmax = _number(t, "max_power_mw", w)
    start = parse_local_time(t.get("window_start", "00:00"), f"{w}.window_start")
    end = parse_local_time(t.get("window_end", "24:00"), f"{w}.window_end")
    for label, minute in (("window_start", start), ("window_end", end)):
        if minute % 15:
            raise SiteError(f"{w}.{label}: must be on a quarter hour")
    if end <= start:
        raise SiteError(
            f"{w}: window {format_local_time(start)}-{format_local_time(end)} is empty or crosses "
            "midnight (split it into two job classes)"
        )
    preemptible = _bool(t, "preemptible", w, True)
    hours_ = (end - start) / 60.0
    window = f"{format_local_time(start)}-{format_local_time(end)}"
    if preemptible:
        if "run_hours" in t:
            raise SiteError(f"{w}.run_hours: only for non-preemptible jobs")
        if energy > pmax * hours_ + 1e-9:
            raise SiteError(
                f"{w}: window {window} holds at most {pmax * hours_:g} MWh at {pmax:g} MW, "
                f"less than energy_mwh {energy:g}"
            )
        return JobClass(name, energy, pmax, start, end, True, None)
    run = _number(t, "run_hours", w, positive=True)
    if abs(run * 4 - round(run * 4)) > 1e-9:
        raise SiteError(f"{w}.run_hours: must be a whole number of quarter hours")
    if run > hours_ + 1e-9:
        raise SiteError(f"{w}: run of {run:g} h does not fit in window {window}")
    if energy <= 0:
        raise SiteError(f"{w}.energy_mwh: a non-preemptible job needs positive energy")
    if energy / run > pmax + 1e-9:
        raise SiteError(
            f"{w}: energy_mwh {energy:g} over run_hours {run:g} needs {energy / run:g} MW, "
            f"above max_power_mw {pmax:g}"
        )
    return JobClass(name, energy, pmax, start, end, False, run)


def _battery(d: Mapping[str, Any]) -> Battery | None:
    if d.get("battery") is None:
        return None
    t = _table(d, "battery", "site", required=True)
    w = "battery"
    cap = _number(t, "energy_mwh", w, positive=True)
    power = _number(t, "power_mw", w, positive=True)
    eta_c = _efficiency(t, "charge_efficiency", w)
    eta_d = _efficiency(t, "discharge_efficiency", w)
    soc_min = _number(t, "soc_min_mwh", w, default=0.0)
    soc_max = _number(t, "soc_max_mwh", w, default=cap)
    soc0 = _number(t, "soc_initial_mwh", w, default=soc_min)
    if not soc_min < soc_max:
        raise SiteError(f"battery: soc_min_mwh {soc_min:g} must be below soc_max_mwh {soc_max:g}")
    if soc_max > cap + 1e-9:
        raise SiteError(f"battery: soc_max_mwh {soc_max:g} exceeds energy_mwh {cap:g}")
    if not soc_min <= soc0 <= soc_max:
        raise SiteError(
            f"battery: soc_initial_mwh {soc0:g} must lie in [soc_min_mwh {soc_min:g}, "
            f"soc_max_mwh {soc_max:g}]"
        )
    deg = _number(t, "degradation_cost_per_mwh", w, default=0.0)
    return Battery(cap, power, eta_c, eta_d, soc0, soc_min, soc_max, deg)


def _reserves(d: Mapping[str, Any], zone_key: str) -> tuple[str, ...]:
    t = _table(d, "reserves", "site", required=False)
    products = t.get("products", [])
    if not isinstance(products, Sequence) or isinstance(products, str):
        raise SiteError("reserves.products: expected a list of product keys")
    zone = get_zone(zone_key)
    out: list[str] = []
    for key in products:
        if not isinstance(key, str):
            raise SiteError(f"reserves.products: expected product keys, got {key!r}")
        try:
            product = zone.product(key)
        except MarketError as exc:
            raise SiteError(f"reserves.products: {exc}") from None
        if not product.is_reserve:
            raise SiteError(f"reserves.products: {key} is not a reserve product")
        if key in out:
            raise SiteError(f"reserves.products: {key} listed twice")
        out.append(key)
    return tuple(out)


def _performance_factor(d: Mapping[str, Any]) -> float:
    t = _table(d, "reserves", "site", required=False)
    k = _number(t, "performance_factor", "reserves", default=1.0, minimum=None)
    if not 0.0 < k <= 1.0:
        raise SiteError(f"reserves.performance_factor: must lie in (0, 1], got {k:g}")
    return k


def _dr(d: Mapping[str, Any]) -> DemandResponse:
    t = _table(d, "demand_response", "site", required=False)
    share = _number(t, "curtailable_share", "demand_response", default=0.0)
    if share > 1:
        raise SiteError(f"demand_response.curtailable_share: must lie in [0, 1], got {share}")
    cost = _number(t, "cost_per_mwh", "demand_response", default=0.0)
    return DemandResponse(share, cost)


def _ppas(d: Mapping[str, Any]) -> tuple[Ppa, ...]:
    items = d.get("ppa", [])
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise SiteError("ppa: expected [[ppa]] tables")
    out: list[Ppa] = []
    for i, t in enumerate(items):
        w = f"ppa[{i}]"
        if not isinstance(t, Mapping):
            raise SiteError(f"{w}: must be a table")
        name = t.get("name", f"ppa{i}")
        if not isinstance(name, str):
            raise SiteError(f"{w}.name: expected a string")
        base = _number(t, "power_mw", w, default=0.0)
        profile = _profile(t.get("profile"), base, f"{w}.profile", w, "power_mw", 0.0)
        price = _number(t, "price_per_mwh", w, default=0.0, minimum=None)
        out.append(Ppa(name, profile, price))
    return tuple(out)


def _site_from_dict(d: Mapping[str, Any]) -> Site:
    if not isinstance(d, Mapping):
        raise SiteError("site: expected a table")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise SiteError("site.name: expected a non-empty string")
    if not is_name(name):  # it becomes a folder name (reports/<site>/...)
        raise SiteError(f"site.name: {name[:80]!r} is not a valid name ({NAME_RULE})")
    zone_key = d.get("zone")
    if not isinstance(zone_key, str):
        raise SiteError("site.zone: expected a zone key string")
    try:
        get_zone(zone_key)
    except MarketError as exc:
        raise SiteError(f"site.zone: {exc}") from None
    load = _load(d)
    jobs_raw = d.get("jobs", [])
    if not isinstance(jobs_raw, Sequence) or isinstance(jobs_raw, str):
        raise SiteError("jobs: expected [[jobs]] tables")
    names: set[str] = set()
    jobs = tuple(_job(i, t, names) for i, t in enumerate(jobs_raw))
    battery = _battery(d)
    site = Site(
        name=name,
        zone=zone_key,
        load=load,
        jobs=jobs,
        battery=battery,
        reserve_products=_reserves(d, zone_key),
        demand_response=_dr(d),
        ppas=_ppas(d),
        reserve_performance_factor=_performance_factor(d),
    )
    _check_peak(site)
    return site


def _check_peak(site: Site) -> None:
    """The inflexible load at its lowest PUE must fit through the grid connection.

    A battery cannot help over a whole day (it must end with what it started with), so this holds
    with or without one; peaks of a PUE profile are left to the day's solve and its diagnostic.
    """
    load = site.load
    best_pue = min([load.pue.default, *(v for _, v in load.pue.steps)])
    need = load.base_it_mw * best_pue
    if need > load.grid_import_max_mw + 1e-9:
        raise SiteError(
            f"load: base_it_mw {load.base_it_mw:g} x PUE {best_pue:g} needs {need:g} MW, above "
            f"grid_import_max_mw {load.grid_import_max_mw:g}"
        )
