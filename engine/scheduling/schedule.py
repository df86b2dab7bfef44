"""The daily cycle as data: scheduler configuration, job specs, due business keys, the runner.

A *job spec* is one (kind, site) pair with a cron time in the zone's local time: the daily bid at
``gate closure - lead`` on D-1, the settlement of day D at ``settle.time`` on D + ``days_after``,
the monthly report at ``report.time`` on ``report.day_of_month`` of the next month. Each spec
knows which business keys are *due* at an instant; every scheduler tick and every start runs all
due keys that have not succeeded yet (a missed tick is caught up, a failed run is retried on the
next tick), and the run-once claims of :mod:`engine.scheduling.runs` keep each key to one
successful run
however many ticks, restarts or hosts see it.

Configuration (``POWERDESK_HOME/scheduler.toml`` or ``--config``)::

    catch_up_days = 7          # [days] how far back a start or tick looks for missed runs
    lease_seconds = 600        # [s] a claim without heartbeat for this long is taken over

    [[site]]
    file = "sites/example-dc.toml"   # site file (relative to this file); gives name and zone

    [[portfolio]]                    # optional: sites bid jointly (docs/portfolio.md)
    file = "portfolios/nordics.toml" # its sites are settled and reported as sites; their bids
                                     # come from one daily portfolio-bid job, not their own

    [bid]
    lead_minutes = 60                # fire at the zone's gate closure minus this, local D-1
    misfire_grace_minutes = 30       # capped at the lead: a bid after gate closure is useless

    [settle]
    days_after = 1                   # settle day D on D + 1 ...
    time = "10:00"                   # ... at this local time
    misfire_grace_minutes = 120

    [report]
    day_of_month = 1                 # report month M on this day of month M + 1 ...
    time = "06:00"                   # ... at this local time
    misfire_grace_minutes = 720
    catch_up_days = 40               # a monthly job looks further back than the daily ones

    [replan]                         # the real-time stage (off unless enabled; needs real-time
    enabled = false                  # prices stored for the zone: docs/realtime.md)
    every_minutes = 0                # 0: once, 15 min after the DA result; N: also every N
                                     # minutes while the day runs (rolling re-plans)
    forecast = "zero"                # real-time price forecast (zero, mean, median)
    lookback_days = 28
    threshold = 10.0                 # dead band [currency/MWh]
    misfire_grace_minutes = 30

Any of ``[bid]``, ``[settle]``, ``[report]`` may set ``enabled = false``; ``[replan]`` is off
unless it sets ``enabled = true``. ``powerdesk scheduler
init`` (:mod:`engine.scheduling.config_init`) writes this file with every default, commented.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from engine.bids.submission import SubmissionAdapter
from engine.core.errors import InputFileError, PowerdeskError
from engine.scheduling.runs import (
    DEFAULT_LEASE,
    Claim,
    RunOutcome,
    make_owner,
    run_once,
    succeeded_keys,
)
from engine.strategies.replan_times import intraday_times, replan_time
from market import NAME_RULE, gate_closure_utc, get_zone, is_name
from market.errors import MarketError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

CONFIG_FILE = "scheduler.toml"


class JobKind(StrEnum):
    """The kinds of scheduled job; the first part of every business key."""

    BID = "bid"
    SETTLE = "settle"
    REPORT = "report"
    PORTFOLIO_BID = "portfolio-bid"
    REPLAN = "replan"


@dataclass(frozen=True, slots=True)
class SiteRef:
    """A configured site: its name and zone (from the site file) and the file itself."""

    name: str
    zone: str
    path: Path


@dataclass(frozen=True, slots=True)
class PortfolioRef(SiteRef):
    """A configured portfolio: its name, the zone of its earliest gate closure (its bid job's
    clock), the portfolio file and its sites."""

    sites: tuple[SiteRef, ...] = ()


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Parsed ``scheduler.toml`` (see the module docstring for the file format)."""

    sites: tuple[SiteRef, ...]
    catch_up: timedelta = timedelta(days=7)
    lease: timedelta = DEFAULT_LEASE
    bid_lead: timedelta = timedelta(minutes=60)
    bid_misfire_grace: timedelta = timedelta(minutes=30)
    settle_days_after: int = 1
    settle_time: time = time(10, 0)
    settle_misfire_grace: timedelta = timedelta(hours=2)
    report_day_of_month: int = 1
    report_time: time = time(6, 0)
    report_misfire_grace: timedelta = timedelta(hours=12)
    report_catch_up: timedelta = timedelta(days=40)
    enabled: frozenset[JobKind] = frozenset(JobKind) - {JobKind.REPLAN}
    source: Path | None = None
    portfolios: tuple[PortfolioRef, ...] = ()
    replan_every: timedelta = timedelta(0)
    replan_forecast: str = "zero"
    replan_lookback_days: int = 28
    replan_threshold: float = 10.0
    replan_misfire_grace: timedelta = timedelta(minutes=30)

    def replan_settings(self) -> Any:
        """The real-time settings of the ``replan`` job as a ``StrategyConfig``."""
        from engine.strategies.registry import StrategyConfig

        return StrategyConfig(
            rt_stage=True,
            rt_forecast=self.replan_forecast,
            rt_lookback_days=self.replan_lookback_days,
            rt_threshold_per_mwh=self.replan_threshold,
            rt_every_minutes=int(self.replan_every.total_seconds() // 60),
        )


@dataclass(frozen=True, slots=True)
class DueRun:
    """A business key that should run: its kind, site, period and scheduled instant (UTC)."""

    kind: JobKind
    key: str
    site: SiteRef
    due_at: datetime
    day: date | None = None  # delivery day (bid, settle)
    month: date | None = None  # first day of the reported month (report)


@dataclass(frozen=True, slots=True)
class JobContext:
    """Everything a job function gets: the key, its period, the site and the I/O it may use."""

    kind: JobKind
    key: str
    site: SiteRef
    due_at: datetime  # scheduled instant [UTC]
    attempt: int
    forced: bool
    engine: Engine
    home: Path
    submitter: SubmissionAdapter
    day: date | None = None
    month: date | None = None
    config: SchedulerConfig | None = None


class JobFunction(Protocol):
    """A job: runs one business key and returns a JSON-able summary for the job-runs table.

    It raises on failure (missing inputs, solver failure); the run is then recorded as failed
    and retried on a later tick. It must hold no domain maths: it calls engine services.
    """

    def __call__(self, ctx: JobContext, /) -> Mapping[str, Any]: ...


Registry = Mapping[JobKind, JobFunction]


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous autumn wall time means its first occurrence, a non-existent spring
    # wall time is read with the pre-transition offset -- the same instants APScheduler's
    # CronTrigger picks for its first fire on such a day.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _first_of_next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _first_of_previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One scheduled job: a kind for a site, firing at a local wall time of the site's zone."""

    kind: JobKind
    site: SiteRef
    at: time  # local wall time of the fire
    misfire_grace: timedelta
    catch_up: timedelta
    day_of_month: int | None = None  # monthly jobs only
    days_after: int = 0  # settle: fire on D + days_after for day D
    lead: timedelta = field(default=timedelta(0))  # bid: before gate closure
    every: timedelta = field(default=timedelta(0))  # replan: rolling re-plans while D runs

    @property
    def id(self) -> str:
        """APScheduler job id, e.g. ``bid:example-dc``."""
        return f"{self.kind.value}:{self.site.name}"

    @property
    def tz(self) -> str:
        """IANA time zone of the site's zone (the trigger's time zone)."""
        return get_zone(self.site.zone).tz

    def describe(self) -> str:
        """Human-readable schedule, e.g. ``daily 11:00 Europe/Berlin``."""
        when = f"{self.at.strftime('%H:%M')} {self.tz}"
        if self.kind is JobKind.REPLAN:
            rolling = f", then every {self.every_minutes} min while the day runs"
            return f"daily at {when} (after the DA result){rolling if self.every else ''}"
        if self.day_of_month is not None:
            return f"monthly on day {self.day_of_month} at {when}"
        return f"daily at {when}"

    def trigger(self) -> BaseTrigger:
        """The APScheduler cron trigger in the zone's local time."""
        from apscheduler.triggers.cron import CronTrigger

        if self.kind is JobKind.REPLAN and self.every:
            from apscheduler.triggers.combining import OrTrigger

            # Rolling re-plans come a minute before every ``every`` from local midnight: tick
            # every minute before a whole ``every`` of the hour (or of the day) and let due()
            # pick the runs; plus the re-plan after the DA result.
            once = CronTrigger(hour=self.at.hour, minute=self.at.minute, second=0, timezone=self.tz)
            m = self.every_minutes
            if m < 60:
                minutes = ",".join(str((k - 1) % 60) for k in range(0, 60, m))
                rolling = CronTrigger(minute=minutes, second=0, timezone=self.tz)
            else:
                hours = ",".join(str((k // 60 - 1) % 24) for k in range(0, 24 * 60, m))
                rolling = CronTrigger(hour=hours, minute=59, second=0, timezone=self.tz)
            return OrTrigger([once, rolling])
        day = "*" if self.day_of_month is None else str(self.day_of_month)
        return CronTrigger(
            day=day, hour=self.at.hour, minute=self.at.minute, second=0, timezone=self.tz
        )

    @property
    def every_minutes(self) -> int:
        """``every`` in whole minutes (0: no rolling re-plans)."""
        return int(self.every.total_seconds() // 60)

    def replan_times(self, day: date) -> list[datetime]:
        """Re-plan instants [UTC] of delivery ``day``: after its DA result, and the rolling
        re-plans while it runs (:mod:`engine.strategies.realtime`, the times the backtest uses)."""
        zone = get_zone(self.site.zone)
        times = [replan_time(day, zone)]
        if self.every:
            times += intraday_times(day, zone, self.every)
        return times

    def replan_key(self, day: date, at: datetime) -> str:
        """Business key of the re-plan of ``day`` made at ``at``."""
        return f"replan:{self.site.name}:{day.isoformat()}:{at.astimezone(UTC).strftime('%H%MZ')}"

    def key_for(self, period: date) -> str:
        """Business key of the day (bid, settle) or month (report) ``period``."""
        if self.kind is JobKind.PORTFOLIO_BID:
            return f"portfolio-bid:{self.site.name}:{period.isoformat()}"
        if self.kind is JobKind.BID:
            return f"bid:{self.site.zone}:{self.site.name}:{period.isoformat()}"
        if self.kind is JobKind.SETTLE:
            return f"settle:{self.site.name}:{period.isoformat()}"
        return f"report:{self.site.name}:{period.strftime('%Y-%m')}"

    def fire_utc(self, period: date) -> datetime:
        """Scheduled instant [UTC] of the run for day or month ``period``."""
        tz = ZoneInfo(self.tz)
        if self.kind in _BIDS:
            return _local(period - timedelta(days=1), self.at, tz)
        if self.kind is JobKind.SETTLE:
            return _local(period + timedelta(days=self.days_after), self.at, tz)
        assert self.day_of_month is not None
        fire_day = _first_of_next_month(period).replace(day=self.day_of_month)
        return _local(fire_day, self.at, tz)

    def _run(self, period: date) -> DueRun:
        monthly = self.kind is JobKind.REPORT
        return DueRun(
            kind=self.kind,
            key=self.key_for(period),
            site=self.site,
            due_at=self.fire_utc(period),
            day=None if monthly else period,
            month=period if monthly else None,
        )

    def due(self, now: datetime) -> list[DueRun]:
        """Runs whose fire time has passed at ``now`` and are still worth running, oldest first.

        A bid is worth running from its fire time until the zone's gate closure; a settlement
        or report from its fire time for ``catch_up``.
        """
        now = now.astimezone(UTC)
        today = now.astimezone(ZoneInfo(self.tz)).date()
        runs: list[DueRun] = []
        if self.kind is JobKind.REPLAN:
            # A re-plan is worth running within its grace and until the next one is due, which
            # supersedes it: per day only the latest due re-plan runs.
            for offset in (-1, 0, 1):
                d = today + timedelta(days=offset)
                due = [
                    a for a in self.replan_times(d) if a <= now and now - a <= self.misfire_grace
                ]
                if due:
                    runs.append(
                        DueRun(self.kind, self.replan_key(d, due[-1]), self.site, due[-1], d)
                    )
            return runs
        if self.kind in _BIDS:
            for offset in (0, 1, 2):  # delivery days that can be open at ``now``
                d = today + timedelta(days=offset)
                if self.fire_utc(d) <= now < gate_closure_utc(d, self.site.zone):
                    runs.append(self._run(d))
        elif self.kind is JobKind.SETTLE:
            span = self.catch_up.days + self.days_after + 2
            for back in range(span, -1, -1):
                d = today - timedelta(days=back)
                fire = self.fire_utc(d)
                if fire <= now and now - fire <= self.catch_up:
                    runs.append(self._run(d))
        else:
            months: list[date] = []
            m = _first_of_previous_month(today.replace(day=1))
            while self.fire_utc(m) > now - self.catch_up - timedelta(days=1):
                months.append(m)
                m = _first_of_previous_month(m)
            for m in reversed(months):
                fire = self.fire_utc(m)
                if fire <= now and now - fire <= self.catch_up:
                    runs.append(self._run(m))
        return runs


_BIDS = (JobKind.BID, JobKind.PORTFOLIO_BID)


def _bid_spec(config: SchedulerConfig, kind: JobKind, site: SiteRef) -> JobSpec:
    zone = get_zone(site.zone)
    gate = datetime.combine(date(2000, 1, 1), zone.gate_closure)
    fire = gate - config.bid_lead
    if fire.date() != gate.date():
        raise PowerdeskError(
            f"bid lead {config.bid_lead} reaches before midnight of gate closure day "
            f"({zone.gate_closure} local in {zone.key}); use a shorter lead"
        )
    return JobSpec(
        kind=kind,
        site=site,
        at=fire.time(),
        # after gate closure a bid is useless, so no grace beyond it
        misfire_grace=min(config.bid_misfire_grace, config.bid_lead),
        catch_up=config.bid_lead,
        lead=config.bid_lead,
    )


def _replan_spec(config: SchedulerConfig, site: SiteRef) -> JobSpec:
    zone = get_zone(site.zone)
    first = replan_time(date(2025, 1, 15), zone).astimezone(ZoneInfo(zone.tz))
    return JobSpec(
        kind=JobKind.REPLAN,
        site=site,
        at=first.time().replace(second=0, microsecond=0),
        misfire_grace=config.replan_misfire_grace,
        catch_up=config.replan_misfire_grace,
        every=config.replan_every,
    )


def scheduled_sites(config: SchedulerConfig) -> list[SiteRef]:
    """The configured sites and the portfolios' sites not configured on their own, in order."""
    sites = list(config.sites)
    names = {s.name for s in sites}
    for portfolio in config.portfolios:
        for site in portfolio.sites:
            if site.name not in names:
                sites.append(site)
                names.add(site.name)
    return sites


def job_specs(config: SchedulerConfig) -> list[JobSpec]:
    """Every job spec of the configuration, by site then kind, then one portfolio bid per
    portfolio.

    A site of a portfolio gets no bid job of its own: the portfolio's job bids it (one joint
    decision, each site's bid submitted to its zone's outbox); its settlement and report jobs
    are a site's as usual.
    """
    specs: list[JobSpec] = []
    in_portfolio = {s.name for p in config.portfolios for s in p.sites}
    for site in scheduled_sites(config):
        if JobKind.BID in config.enabled and site.name not in in_portfolio:
            specs.append(_bid_spec(config, JobKind.BID, site))
        if JobKind.REPLAN in config.enabled and site.name not in in_portfolio:
            specs.append(_replan_spec(config, site))
        if JobKind.SETTLE in config.enabled:
            specs.append(
                JobSpec(
                    kind=JobKind.SETTLE,
                    site=site,
                    at=config.settle_time,
                    misfire_grace=config.settle_misfire_grace,
                    catch_up=config.catch_up,
                    days_after=config.settle_days_after,
                )
            )
        if JobKind.REPORT in config.enabled:
            specs.append(
                JobSpec(
                    kind=JobKind.REPORT,
                    site=site,
                    at=config.report_time,
                    misfire_grace=config.report_misfire_grace,
                    catch_up=max(config.report_catch_up, config.catch_up),
                    day_of_month=config.report_day_of_month,
                )
            )
    if JobKind.PORTFOLIO_BID in config.enabled:
        specs.extend(_bid_spec(config, JobKind.PORTFOLIO_BID, p) for p in config.portfolios)
    return specs


# --- configuration -------------------------------------------------------------------------


def _site_ref(path: Path, where: str) -> SiteRef:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(where, f"site file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), f"not a TOML site file: {exc}") from None
    name, zone = raw.get("name"), raw.get("zone")
    if not isinstance(name, str) or not name:
        raise InputFileError(str(path), "needs a 'name'")
    if not is_name(name):  # it names the report folder (reports/<site>/...) and job keys
        raise InputFileError(
            str(path), f"site.name: {name[:80]!r} is not a valid name ({NAME_RULE})"
        )
    if not isinstance(zone, str):
        raise InputFileError(str(path), "needs a 'zone' (a key of the zone registry)")
    try:
        get_zone(zone)
    except MarketError as exc:
        raise InputFileError(str(path), str(exc)) from None
    return SiteRef(name=name, zone=zone, path=path)


def _portfolio_ref(path: Path, where: str) -> PortfolioRef:
    from engine.io.portfolio_file import load_portfolio, site_files

    if not path.is_file():
        raise InputFileError(where, f"portfolio file {path} does not exist")
    portfolio = load_portfolio(path)  # one-line errors naming the file, site or job
    if not is_name(portfolio.name):
        raise InputFileError(
            str(path), f"name: {portfolio.name[:80]!r} is not a valid name ({NAME_RULE})"
        )
    sites = tuple(_site_ref(f, str(path)) for f in site_files(path))
    reference = date(2025, 1, 15)  # the sites share local day boundaries (checked on load)
    first = min(sites, key=lambda s: gate_closure_utc(reference, s.zone))
    return PortfolioRef(name=portfolio.name, zone=first.zone, path=path, sites=sites)


def _get(table: Mapping[str, Any], name: str, kind: type, where: str, default: Any) -> Any:
    value = table.get(name, default)
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise InputFileError(where, f"'{name}' must be {kind.__name__}, got {value!r}")
    return value


def _hhmm(table: Mapping[str, Any], name: str, where: str, default: time) -> time:
    text = _get(table, name, str, where, default.strftime("%H:%M"))
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise InputFileError(where, f"'{name}' must be a local time HH:MM, got {text!r}") from None
    if parsed.tzinfo is not None:
        raise InputFileError(where, f"'{name}' is a local wall time of the zone: drop the offset")
    return parsed


def _minutes(table: Mapping[str, Any], name: str, where: str, default: timedelta) -> timedelta:
    value = _get(table, name, int, where, int(default.total_seconds() // 60))
    if value < 0:
        raise InputFileError(where, f"'{name}' must not be negative")
    return timedelta(minutes=value)


def load_config(path: Path) -> SchedulerConfig:
    """Read and check a ``scheduler.toml``; any problem is an :class:`InputFileError`."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(where, "scheduler configuration does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(where, f"not TOML: {exc}") from None
    from engine.io.portfolio_file import use_zones_file

    use_zones_file(None)  # $POWERDESK_ZONES: zones without a built-in entry (docs/portfolio.md)
    known = {
        "catch_up_days",
        "lease_seconds",
        "site",
        "portfolio",
        "bid",
        "settle",
        "report",
        "replan",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputFileError(where, f"unknown setting(s): {', '.join(unknown)}")
    sites_raw = raw.get("site", [])
    portfolios_raw = raw.get("portfolio", [])
    if not isinstance(portfolios_raw, list):
        raise InputFileError(where, "[[portfolio]] must be tables with a 'file'")
    if not isinstance(sites_raw, list) or not (sites_raw or portfolios_raw):
        raise InputFileError(where, "needs at least one [[site]] with a 'file'")
    sites: list[SiteRef] = []
    for i, entry in enumerate(sites_raw, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise InputFileError(where, f"[[site]] number {i} needs a 'file'")
        site_path = Path(entry["file"])
        if not site_path.is_absolute():
            site_path = path.parent / site_path
        sites.append(_site_ref(site_path, where))
    names = [s.name for s in sites]
    if len(set(names)) != len(names):
        raise InputFileError(where, f"site names must be unique, got {names}")
    portfolios: list[PortfolioRef] = []
    for i, entry in enumerate(portfolios_raw, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise InputFileError(where, f"[[portfolio]] number {i} needs a 'file'")
        portfolio_path = Path(entry["file"])
        if not portfolio_path.is_absolute():
            portfolio_path = path.parent / portfolio_path
        portfolios.append(_portfolio_ref(portfolio_path, where))
    bid_by: dict[str, str] = {}
    for p in portfolios:
        if p.name in bid_by.values() or p.name in names:
            raise InputFileError(
                where, f"portfolio {p.name!r} is configured twice or named as a site"
            )
        for site in p.sites:
            if site.name in bid_by:
                raise InputFileError(
                    where,
                    f"site {site.name!r} is in portfolios {bid_by[site.name]!r} and {p.name!r}: "
                    "a site is bid by one portfolio",
                )
            bid_by[site.name] = p.name

    catch_up_days = _get(raw, "catch_up_days", int, where, 7)
    lease_s = _get(raw, "lease_seconds", int, where, int(DEFAULT_LEASE.total_seconds()))
    if catch_up_days < 0 or lease_s < 30:
        raise InputFileError(where, "catch_up_days must be >= 0 and lease_seconds >= 30")
    sections: dict[str, Mapping[str, Any]] = {}
    for name in ("bid", "settle", "report", "replan"):
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise InputFileError(where, f"[{name}] must be a table")
        sections[name] = section
    bid, settle, report = sections["bid"], sections["settle"], sections["report"]
    # [bid] enabled = false turns off the portfolios' bid jobs too.
    section_of = {k: k.value for k in JobKind} | {JobKind.PORTFOLIO_BID: JobKind.BID.value}
    enabled = frozenset(
        kind
        for kind in JobKind
        if _get(sections[section_of[kind]], "enabled", bool, where, kind is not JobKind.REPLAN)
    )
    replan = sections["replan"]
    every = _minutes(replan, "every_minutes", where, timedelta(0))
    threshold = replan.get("threshold", 10.0)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise InputFileError(where, f"[replan] threshold must be a number >= 0, got {threshold!r}")
    forecast = _get(replan, "forecast", str, where, "zero")
    lookback = _get(replan, "lookback_days", int, where, 28)
    from forecast.realtime import RT_METHODS

    if forecast not in RT_METHODS:
        raise InputFileError(
            where, f"[replan] forecast must be one of {', '.join(RT_METHODS)}, got {forecast!r}"
        )
    if lookback < 1:
        raise InputFileError(where, "[replan] lookback_days must be >= 1")
    if every:
        for site in sites:
            try:
                intraday_times(date(2025, 1, 15), get_zone(site.zone), every)
            except PowerdeskError as exc:
                raise InputFileError(where, f"[replan] every_minutes, {site.zone}: {exc}") from None
    days_after = _get(settle, "days_after", int, where, 1)
    dom = _get(report, "day_of_month", int, where, 1)
    if days_after < 1:
        raise InputFileError(where, "[settle] days_after must be >= 1 (day D is settled after D)")
    if not 1 <= dom <= 28:
        raise InputFileError(where, "[report] day_of_month must be within 1..28 (every month)")
    lead = _minutes(bid, "lead_minutes", where, timedelta(minutes=60))
    if lead <= timedelta(0):
        raise InputFileError(where, "[bid] lead_minutes must be positive")
    return SchedulerConfig(
        sites=tuple(sites),
        catch_up=timedelta(days=catch_up_days),
        lease=timedelta(seconds=lease_s),
        bid_lead=lead,
        bid_misfire_grace=_minutes(bid, "misfire_grace_minutes", where, timedelta(minutes=30)),
        settle_days_after=days_after,
        settle_time=_hhmm(settle, "time", where, time(10, 0)),
        settle_misfire_grace=_minutes(settle, "misfire_grace_minutes", where, timedelta(hours=2)),
        report_day_of_month=dom,
        report_time=_hhmm(report, "time", where, time(6, 0)),
        report_misfire_grace=_minutes(report, "misfire_grace_minutes", where, timedelta(hours=12)),
        report_catch_up=timedelta(days=_get(report, "catch_up_days", int, where, 40)),
        enabled=enabled,
        source=path,
        portfolios=tuple(portfolios),
        replan_every=every,
        replan_forecast=forecast,
        replan_lookback_days=lookback,
        replan_threshold=float(threshold),
        replan_misfire_grace=_minutes(
            replan, "misfire_grace_minutes", where, timedelta(minutes=30)
        ),
    )


def find_config(home: Path, path: Path | None = None) -> Path:
    """The configuration file to use: ``path`` if given, else ``<home>/scheduler.toml``."""
    chosen = path if path is not None else home / CONFIG_FILE
    if not chosen.is_file():
        raise PowerdeskError(
            f"no scheduler configuration at {chosen}: write one with `powerdesk scheduler init` "
            "or pass --config"
        )
    return chosen


# --- running ---------------------------------------------------------------------------------


def _resolve_replan(spec: JobSpec, key: str) -> DueRun | None:
    parts = key.split(":")
    if len(parts) != 4:
        return None
    try:
        day = date.fromisoformat(parts[2])
    except ValueError:
        return None
    for at in spec.replan_times(day):
        if spec.replan_key(day, at) == key:
            return DueRun(spec.kind, key, spec.site, at, day)
    return None


class JobRunner:
    """Runs due business keys through the registry with run-once claims.

    Parameters
    ----------
    engine
        Database with the ``job_run`` table.
    config
        Scheduler configuration.
    registry
        ``JobKind -> JobFunction``; the default one is
        :func:`engine.scheduling.jobs.default_registry`.
    submitter
        Where bid files go (default: the outbox under ``home``).
    home
        ``POWERDESK_HOME``.
    owner
        Claimant id of this process (default: a fresh ``host:pid:uuid``).
    clock
        Source of "now" (tz-aware); the system clock by default.
    """

    def __init__(
        self,
        engine: Engine,
        config: SchedulerConfig,
        registry: Registry,
        submitter: SubmissionAdapter,
        home: Path,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.registry = registry
        self.submitter = submitter
        self.home = home
        self.owner = owner or make_owner()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.specs = job_specs(config)

    def due(
        self, now: datetime | None = None, specs: Sequence[JobSpec] | None = None
    ) -> list[DueRun]:
        """Due runs of ``specs`` (default: all) at ``now`` that have not succeeded yet."""
        now = now or self.clock()
        runs = [r for s in (specs if specs is not None else self.specs) for r in s.due(now)]
        done = succeeded_keys(self.engine, (r.key for r in runs))
        return [r for r in runs if r.key not in done]

    def run_due(
        self, now: datetime | None = None, specs: Sequence[JobSpec] | None = None
    ) -> list[RunOutcome]:
        """Run every due key not yet succeeded (the start-up catch-up and every tick)."""
        return [self.run(r) for r in self.due(now, specs)]

    def tick(self, spec_id: str) -> list[RunOutcome]:
        """APScheduler callback of one job spec: run its due keys now."""
        spec = next((s for s in self.specs if s.id == spec_id), None)
        if spec is None:
            raise PowerdeskError(f"no scheduled job {spec_id!r}")
        return self.run_due(specs=[spec])

    def run(self, due: DueRun, *, force: bool = False) -> RunOutcome:
        """Run one key through the registry, at most once unless ``force``."""
        fn = self.registry.get(due.kind)
        if fn is None:
            raise PowerdeskError(f"no job function registered for {due.kind.value!r}")

        def call(c: Claim) -> Mapping[str, Any]:
            ctx = JobContext(
                kind=due.kind,
                key=due.key,
                site=due.site,
                due_at=due.due_at,
                attempt=c.attempt,
                forced=c.forced,
                engine=self.engine,
                home=self.home,
                submitter=self.submitter,
                day=due.day,
                month=due.month,
                config=self.config,
            )
            return fn(ctx)

        return run_once(
            self.engine, due.key, call, owner=self.owner, force=force, lease=self.config.lease
        )

    def resolve(self, key: str) -> DueRun:
        """The configured run of business ``key`` (for a manual or forced run)."""
        for spec in self.specs:
            kind, _, rest = key.partition(":")
            if kind != spec.kind.value:
                continue
            if spec.kind is JobKind.REPLAN:
                found = _resolve_replan(spec, key)
                if found is not None:
                    return found
                continue
            period_text = rest.rsplit(":", 1)[-1]
            try:
                if spec.kind is JobKind.REPORT:
                    period = date.fromisoformat(f"{period_text}-01")
                else:
                    period = date.fromisoformat(period_text)
            except ValueError:
                continue
            if spec.key_for(period) == key:
                return spec._run(period)
        raise PowerdeskError(f"no configured job has the key {key!r}")
