"""A portfolio of data-centre sites with migratable compute, as frozen data.

A portfolio is several :class:`~bidding.site.Site` s (each in its own zone, each with its own
balance, limits, battery, reserves and local jobs) plus **migratable jobs**: IT energy that must
be delivered each delivery day, at any mix of the sites allowed to run it, within a local-time
window. :meth:`Portfolio.from_dict` validates the parsed portfolio file (docs/portfolio.md) given
the sites it names; every problem is one line naming the site or the job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bidding.errors import SiteError
from bidding.site import Site, format_local_time, parse_local_time
from market import get_zone

# Instants at which the sites' local clocks must agree (winter and summer time, both sides of
# the equator's seasons): "the same local day boundaries" checked on data, not on the clock.
_REFERENCE_INSTANTS = (
    datetime(2025, 1, 15, 12, tzinfo=UTC),
    datetime(2025, 4, 15, 12, tzinfo=UTC),
    datetime(2025, 7, 15, 12, tzinfo=UTC),
    datetime(2025, 10, 15, 12, tzinfo=UTC),
)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a migratable job may run.

    Parameters
    ----------
    site
        Site name.
    max_power_mw
        IT power cap of the job at that site [MW].
    cost_per_mwh
        Cost of running there per MWh of IT energy [currency/MWh] (licences, network, staff):
        the ``placement_cost`` line.
    """

    site: str
    max_power_mw: float
    cost_per_mwh: float = 0.0


@dataclass(frozen=True, slots=True)
class MigratableJob:
    """IT energy to deliver each delivery day at any mix of its sites.

    Parameters
    ----------
    name
        Unique name (also unique against the sites' own job classes).
    energy_mwh
        IT energy per delivery day, summed over the sites [MWh].
    window_start_minute, window_end_minute
        Local window ``[start, end)`` in minutes after midnight of each site's zone [min].
    placements
        Sites that may run it, in file order.
    """

    name: str
    energy_mwh: float
    window_start_minute: int
    window_end_minute: int
    placements: tuple[Placement, ...]

    @property
    def window_hours(self) -> float:
        """Window length on a 24-hour day [h]."""
        return (self.window_end_minute - self.window_start_minute) / 60.0


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Sites bid jointly, with the migratable jobs between them.

    Parameters
    ----------
    name
        Portfolio name.
    sites
        The sites, in file order (names unique).
    jobs
        Migratable jobs.
    carbon_price_per_tco2
        Price of location-based emissions in the objective [currency/tCO2e] (``[carbon]
        price_per_tco2``; 0 = none): each site's grid purchase times its zone's hourly grid
        factor, times this price, is added to the expected cost.
    """

    name: str
    sites: tuple[Site, ...]
    jobs: tuple[MigratableJob, ...] = ()
    carbon_price_per_tco2: float = 0.0

    @property
    def currency(self) -> str:
        """The common currency of the sites' zones."""
        return get_zone(self.sites[0].zone).currency

    def site_index(self, name: str) -> int:
        """Position of site ``name`` in :attr:`sites`."""
        for i, s in enumerate(self.sites):
            if s.name == name:
                return i
        raise SiteError(f"unknown site {name!r}")

    def with_jobs_pinned(self, home: Mapping[str, str]) -> Portfolio:
        """The same portfolio with each job of ``home`` allowed only at its home site."""
        unknown = sorted(set(home) - {j.name for j in self.jobs})
        if unknown:
            raise SiteError(f"unknown migratable job {unknown[0]!r}")
        jobs = []
        for job in self.jobs:
            site = home.get(job.name)
            if site is None:
                jobs.append(job)
                continue
            kept = tuple(p for p in job.placements if p.site == site)
            if not kept:
                raise SiteError(f"migratable job {job.name!r}: may not run at site {site!r}")
            jobs.append(
                MigratableJob(
                    job.name, job.energy_mwh, job.window_start_minute, job.window_end_minute, kept
                )
            )
        return replace(self, jobs=tuple(jobs))

    def with_carbon_price(self, price_per_tco2: float) -> Portfolio:
        """The same portfolio with another carbon price [currency/tCO2e] (at least 0)."""
        return replace(self, carbon_price_per_tco2=_carbon_price(price_per_tco2, "carbon price"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], sites: Sequence[Site]) -> Portfolio:
        """Validate a parsed portfolio file whose ``sites`` were read as ``sites``.

        Raises
        ------
        SiteError
            One line naming the site or job: duplicate site, mixed currencies or day
            boundaries, unknown site in a job, a job allowed nowhere or unable to fit.
        """
        return _portfolio_from_dict(d, tuple(sites))


def _number(t: Mapping[str, Any], key: str, where: str, *, minimum: float | None = 0.0) -> float:
    if key not in t:
        raise SiteError(f"{where}: missing {key}")
    value = t[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SiteError(f"{where}.{key}: expected a number, got {value!r}")
    x = float(value)
    if x != x or x in (float("inf"), float("-inf")):
        raise SiteError(f"{where}.{key}: must be finite, got {value!r}")
    if minimum is not None and x < minimum:
        raise SiteError(f"{where}.{key}: must be at least {minimum:g}, got {value!r}")
    return x


def _carbon_price(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SiteError(f"{where}: expected a number, got {value!r}")
    x = float(value)
    if x != x or x in (float("inf"), float("-inf")):
        raise SiteError(f"{where}: must be finite, got {value!r}")
    if x < 0:
        raise SiteError(f"{where}: must be at least 0, got {value!r}")
    return x


def _carbon(d: Mapping[str, Any]) -> float:
    """``[carbon] price_per_tco2`` (0 without the table)."""
    table = d.get("carbon")
    if table is None:
        return 0.0
    if not isinstance(table, Mapping):
        raise SiteError("carbon: must be a table ([carbon] price_per_tco2 = ...)")
    unknown = sorted(set(table) - {"price_per_tco2"})
    if unknown:
        raise SiteError(f"carbon.{unknown[0]}: unknown key (known: price_per_tco2)")
    if "price_per_tco2" not in table:
        raise SiteError("carbon: missing price_per_tco2")
    return _carbon_price(table["price_per_tco2"], "carbon.price_per_tco2")


def check_common_day(sites: Sequence[Site]) -> None:
    """All sites share a currency and local day boundaries (one-line error naming the site)."""
    first = sites[0]
    z0 = get_zone(first.zone)
    for site in sites[1:]:
        z = get_zone(site.zone)
        if z.currency != z0.currency:
            raise SiteError(
                f"site {site.name!r}: currency {z.currency} of zone {z.key} differs from "
                f"{z0.currency} of site {first.name!r}"
            )
        for t in _REFERENCE_INSTANTS:
            if t.astimezone(z.zoneinfo).utcoffset() != t.astimezone(z0.zoneinfo).utcoffset():
                raise SiteError(
                    f"site {site.name!r}: local day boundaries of {z.tz} differ from {z0.tz} "
                    f"of site {first.name!r}"
                )


def _portfolio_from_dict(d: Mapping[str, Any], sites: tuple[Site, ...]) -> Portfolio:
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise SiteError("portfolio.name: expected a non-empty string")
    if not sites:
        raise SiteError("portfolio.sites: expected at least one site file")
    by_name: dict[str, Site] = {}
    for site in sites:
        if site.name in by_name:
            raise SiteError(f"site {site.name!r}: named twice in the portfolio")
        by_name[site.name] = site
    check_common_day(sites)
    local_jobs = {j.name: s.name for s in sites for j in s.jobs}
    raw = d.get("migratable_jobs", [])
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise SiteError("migratable_jobs: expected [[migratable_jobs]] tables")
    jobs: list[MigratableJob] = []
    seen: set[str] = set()
    for i, t in enumerate(raw):
        jobs.append(_job(i, t, by_name, local_jobs, seen))
    return Portfolio(name, sites, tuple(jobs), _carbon(d))


def _job(
    i: int,
    t: object,
    sites: Mapping[str, Site],
    local_jobs: Mapping[str, str],
    seen: set[str],
) -> MigratableJob:
    w = f"migratable_jobs[{i}]"
    if not isinstance(t, Mapping):
        raise SiteError(f"{w}: must be a table")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise SiteError(f"{w}.name: expected a non-empty string")
    w = f"migratable job {name!r}"
    if name in seen:
        raise SiteError(f"{w}: named twice")
    if name in local_jobs:
        raise SiteError(f"{w}: site {local_jobs[name]!r} has a job class of the same name")
    seen.add(name)
    energy = _number(t, "energy_mwh", w)
    start = parse_local_time(t.get("window_start", "00:00"), f"{w}.window_start")
    end = parse_local_time(t.get("window_end", "24:00"), f"{w}.window_end")
    if end <= start:
        raise SiteError(f"{w}: window {format_local_time(start)}-{format_local_time(end)} is empty")
    allowed = t.get("sites")
    if not isinstance(allowed, Mapping):
        raise SiteError(f"{w}: is allowed at no site (add [migratable_jobs.sites])")
    placements: list[Placement] = []
    for site_name, spec in allowed.items():
        if site_name not in sites:
            known = ", ".join(sorted(sites))
            raise SiteError(f"{w}: unknown site {site_name!r} (sites: {known})")
        if not isinstance(spec, Mapping):
            raise SiteError(f"{w}.sites.{site_name}: expected {{ max_power_mw, cost_per_mwh }}")
        where = f"{w}.sites.{site_name}"
        cap = _number(spec, "max_power_mw", where)
        cost = _number(spec, "cost_per_mwh", where, minimum=None) if "cost_per_mwh" in spec else 0.0
        site = sites[site_name]
        if site.load.it_capacity_mw is not None:
            cap = min(cap, site.load.it_capacity_mw - site.load.base_it_mw)
        if cap > 0:
            placements.append(Placement(site_name, _number(spec, "max_power_mw", where), cost))
    if not placements:
        raise SiteError(f"{w}: is allowed at no site (no site with max_power_mw above 0)")
    hours = (end - start) / 60.0
    room = 0.0
    for p in placements:
        load = sites[p.site].load
        cap = p.max_power_mw
        if load.it_capacity_mw is not None:
            cap = min(cap, load.it_capacity_mw - load.base_it_mw)
        room += cap * hours
    if energy > room + 1e-9:
        raise SiteError(
            f"{w}: energy_mwh {energy:g} does not fit: its sites hold at most {room:g} MWh in "
            f"the window {format_local_time(start)}-{format_local_time(end)}"
        )
    return MigratableJob(name, energy, start, end, tuple(placements))
