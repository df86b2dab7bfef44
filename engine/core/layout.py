"""Where things live in ``POWERDESK_HOME``: one place for paths that several parts share.

Carbon reports are kept per site and month, as the monthly report job writes them::

    <home>/reports/<site>/<YYYY-MM>/report/   report.json, report_inputs.json, HTML, PDF
    <home>/reports/<site>/<YYYY-MM>/bundle/   the month's audit bundle (monthly job)

A report of a shorter period (the demo's day) is kept under the month it falls in.

Real-time re-plans (the scheduler's ``replan`` job) are kept per site, delivery day and re-plan
time (UTC)::

    <home>/replans/<site>/<YYYY-MM-DD>/<HHMMZ>/   replan.csv, replan.json
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from market import check_name

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def reports_root(home: Path) -> Path:
    """``<home>/reports``: one folder per site."""
    return home / "reports"


def month_label(month: date | str) -> str:
    """``YYYY-MM`` of a date or of a ``YYYY-MM`` text (anything else: :class:`ValueError`)."""
    if isinstance(month, date):
        return f"{month.year:04d}-{month.month:02d}"
    if not _MONTH.fullmatch(month):
        raise ValueError(f"expected a month YYYY-MM, got {month!r}")
    return month


def month_dir(home: Path, site: str, month: date | str) -> Path:
    """``<home>/reports/<site>/<YYYY-MM>``: the monthly job's folder (report and bundle).

    ``site`` must be a name by :func:`market.check_name` (:class:`ValueError` otherwise): it
    becomes a folder, so ``../../x`` would escape ``<home>/reports``.
    """
    return reports_root(home) / check_name(site, "site") / month_label(month)


def report_dir(home: Path, site: str, month: date | str) -> Path:
    """``<home>/reports/<site>/<YYYY-MM>/report``: the stored carbon report of a site's month."""
    return month_dir(home, site, month) / "report"


def replan_dir(home: Path, site: str, day: date, at: datetime) -> Path:
    """``<home>/replans/<site>/<YYYY-MM-DD>/<HHMMZ>``: a real-time re-plan made at ``at``."""
    stamp = at.astimezone(UTC).strftime("%H%MZ")
    return home / "replans" / check_name(site, "site") / day.isoformat() / stamp
