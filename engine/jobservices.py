"""Default job functions of the scheduler: thin adapters from a :class:`JobContext` to services.

The domain services (building a bid, settling a day, the monthly carbon report and audit bundle)
live in ``engine.services``. Each adapter here looks its service up *when it runs*; until the
service exists the run fails with :class:`ServiceNotWiredError` (recorded as a failed attempt and
retried on the next tick), never with made-up numbers.

Wiring contract (what each adapter calls, keyword arguments only):

===========  ===============================================  ==================================
job kind     service looked up                                expected return
===========  ===============================================  ==================================
``bid``      ``engine.services.bid_day(engine=, site=,        an object or mapping with ``files``
             day=, as_of=)``                                  (file name -> bytes) and optional
                                                              ``summary`` (JSON-able mapping)
``settle``   ``engine.services.settle_day(engine=, site=,     JSON-able mapping (summary)
             day=)``
``report``   ``engine.services.monthly_report(engine=,        JSON-able mapping (summary)
             site=, month=, out_dir=)``
===========  ===============================================  ==================================

``site`` is the site file's :class:`~pathlib.Path`, ``day``/``month`` are :class:`datetime.date`
(``month`` is the first day of the month), ``as_of`` the scheduled instant (UTC). A service with
another signature is wired by replacing the adapter in :func:`default_registry` (or passing a
registry of one's own to :class:`engine.schedule.JobRunner`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, cast

from engine.errors import PowerdeskError
from engine.schedule import JobContext, JobFunction, JobKind

SERVICES_MODULE = "engine.services"


class ServiceNotWiredError(PowerdeskError):
    """The engine service a job needs is not available (yet)."""


def service(name: str) -> Callable[..., Any]:
    """The callable ``engine.services.<name>``; :class:`ServiceNotWiredError` if missing."""
    try:
        module = importlib.import_module(SERVICES_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != SERVICES_MODULE:
            raise
        raise ServiceNotWiredError(
            f"{SERVICES_MODULE} does not exist yet: wire {name} in engine.jobservices"
        ) from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ServiceNotWiredError(
            f"{SERVICES_MODULE}.{name} is not available: wire it in engine.jobservices"
        )
    return cast(Callable[..., Any], fn)


def _require(value: Any, what: str, ctx: JobContext) -> Any:
    if value is None:
        raise PowerdeskError(f"{ctx.key}: the job has no {what}")
    return value


def bid_job(ctx: JobContext) -> Mapping[str, Any]:
    """Build the day's bid (``engine.services.bid_day``) and submit its exchange files."""
    day = _require(ctx.day, "delivery day", ctx)
    built = service("bid_day")(engine=ctx.engine, site=ctx.site.path, day=day, as_of=ctx.due_at)
    if isinstance(built, Mapping):
        files, summary = built.get("files"), built.get("summary", {})
    else:
        files, summary = getattr(built, "files", None), getattr(built, "summary", {})
    if not isinstance(files, Mapping) or not files:
        raise PowerdeskError(f"{ctx.key}: bid_day returned no exchange files")
    submitted = ctx.submitter.submit(ctx.key, ctx.site.zone, day, files, replace=ctx.forced)
    return {
        "summary": dict(summary or {}),
        "submitted": [
            {"path": s.path, "sha256": s.sha256, "size_bytes": s.size_bytes, "new": s.new}
            for s in submitted
        ],
    }


def settle_job(ctx: JobContext) -> Mapping[str, Any]:
    """Settle the site's delivery day (``engine.services.settle_day``)."""
    day = _require(ctx.day, "delivery day", ctx)
    return dict(service("settle_day")(engine=ctx.engine, site=ctx.site.path, day=day))


def report_job(ctx: JobContext) -> Mapping[str, Any]:
    """Monthly carbon report and audit bundle (``engine.services.monthly_report``)."""
    month = _require(ctx.month, "month", ctx)
    out_dir = ctx.home / "reports" / ctx.site.name / month.strftime("%Y-%m")
    return dict(
        service("monthly_report")(
            engine=ctx.engine, site=ctx.site.path, month=month, out_dir=out_dir
        )
    )


def default_registry() -> dict[JobKind, JobFunction]:
    """The registry the scheduler runs by default (a fresh dict: callers may override kinds)."""
    return {JobKind.BID: bid_job, JobKind.SETTLE: settle_job, JobKind.REPORT: report_job}
