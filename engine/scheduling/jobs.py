"""The scheduler's job functions: thin adapters from a :class:`JobContext` to the daily services.

===========  ==================================================  ==========================
job kind     service (:mod:`engine.scheduling.daily`)            returns
===========  ==================================================  ==========================
``bid``      ``bid_day(engine=, site=, day=, as_of=, submitter=,  the bid and its submission
             force=)``
``settle``   ``settle_day(engine=, site=, day=)``                 settlement summary
``report``   ``monthly_report(engine=, site=, month=, out_dir=)``  report summary
``portfolio- ``portfolio_bid_day(engine=, portfolio=, day=,       the build and each site's
bid``        as_of=, submitter=, force=)``                        submission
``replan``   ``replan_day(engine=, site=, day=, as_of=, home=,     the re-plan's summary
             settings=)``
===========  ==================================================  ==========================

``site`` is the site file's (for ``portfolio-bid``, the portfolio file's)
:class:`~pathlib.Path`, ``day``/``month`` are :class:`datetime.date` (``month`` is the first day
of the month), ``as_of`` the scheduled instant (UTC). Another wiring is a registry of one's own
passed to :class:`engine.scheduling.schedule.JobRunner`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.errors import PowerdeskError
from engine.core.layout import month_dir
from engine.scheduling import daily
from engine.scheduling.schedule import JobContext, JobFunction, JobKind


def _require(value: Any, what: str, ctx: JobContext) -> Any:
    if value is None:
        raise PowerdeskError(f"{ctx.key}: the job has no {what}")
    return value


def bid_job(ctx: JobContext) -> Mapping[str, Any]:
    """Build the day's bid and submit it through the one submission path."""
    day = _require(ctx.day, "delivery day", ctx)
    built = daily.bid_day(
        engine=ctx.engine,
        site=ctx.site.path,
        day=day,
        as_of=ctx.due_at,
        submitter=ctx.submitter,
        force=ctx.forced,
    )
    return {
        "summary": dict(built.summary),
        "submitted": [
            {
                "path": name,
                "sha256": built.bid.submission_sha256,
                "size_bytes": len(data),
            }
            for name, data in sorted(built.files.items())
        ],
    }


def portfolio_bid_job(ctx: JobContext) -> Mapping[str, Any]:
    """Decide a portfolio's day jointly and submit each site's bid to its zone's outbox."""
    day = _require(ctx.day, "delivery day", ctx)
    return daily.portfolio_bid_day(
        engine=ctx.engine,
        portfolio=ctx.site.path,
        day=day,
        as_of=ctx.due_at,
        submitter=ctx.submitter,
        force=ctx.forced,
    )


def settle_job(ctx: JobContext) -> Mapping[str, Any]:
    """Settle the site's delivery day (``daily.settle_day``)."""
    day = _require(ctx.day, "delivery day", ctx)
    return dict(daily.settle_day(engine=ctx.engine, site=ctx.site.path, day=day))


def report_job(ctx: JobContext) -> Mapping[str, Any]:
    """Monthly carbon report and audit bundle (``daily.monthly_report``)."""
    month = _require(ctx.month, "month", ctx)
    out_dir = month_dir(ctx.home, ctx.site.name, month)
    return dict(
        daily.monthly_report(engine=ctx.engine, site=ctx.site.path, month=month, out_dir=out_dir)
    )


def replan_job(ctx: JobContext) -> Mapping[str, Any]:
    """Re-plan the site's submitted bid for the real-time stage as of the scheduled instant."""
    day = _require(ctx.day, "delivery day", ctx)
    config = _require(ctx.config, "scheduler configuration", ctx)
    return daily.replan_day(
        engine=ctx.engine,
        site=ctx.site.path,
        day=day,
        as_of=ctx.due_at,
        home=ctx.home,
        settings=config.replan_settings(),
    )


def default_registry() -> dict[JobKind, JobFunction]:
    """The registry the scheduler runs by default (a fresh dict: callers may override kinds)."""
    return {
        JobKind.BID: bid_job,
        JobKind.SETTLE: settle_job,
        JobKind.REPORT: report_job,
        JobKind.PORTFOLIO_BID: portfolio_bid_job,
        JobKind.REPLAN: replan_job,
    }
