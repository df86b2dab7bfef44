"""The PDF carbon report: a statement an auditor can check and sign, then the plots.

Page 1 (continued on the next page if it runs long) holds the title block (site, market zone,
period, methodology, the instant the inputs run to), the figures with their units, the
instruments retired, the SHA-256 of every dataset and of the inputs document, and how to verify
the audit bundle offline. The plots follow on a page of their own. Nothing depends on the clock
of the machine that renders it: the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import textwrap
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from carbon import CarbonReport, ReportInputs
from carbon.report import FORMAT
from market import get_zone

A4 = (8.27, 11.69)  # [in]
_LEFT, _RIGHT, _TOP, _BOTTOM = 0.08, 0.92, 0.94, 0.045  # page margins [figure fraction]
_LINE = 0.0148  # one line of 8.5 pt text [figure fraction of an A4 height]
_EM = 0.57  # mean advance of a sans-serif character [font size]
_INK, _MUTED, _RULE = "#111111", "#555555", "#999999"

VERIFY_COMMAND = "powerdesk audit verify DIR --public-key PEM"


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a statement table: its cells, left to right, and an optional line under it
    (in monospace, e.g. a SHA-256)."""

    cells: tuple[str, ...]
    detail: str | None = None


def _wrap(s: str, width: float, size: float) -> list[str]:
    """``s`` in lines that fit ``width`` (figure fraction of the A4 width) at ``size`` pt."""
    chars = max(20, int(width * A4[0] * 72 / (size * _EM)))
    return textwrap.wrap(s, chars) or [""]


def _fmt(x: Decimal | None, places: int = 6) -> str:
    if x is None:
        return "n/a (no consumption)"
    return f"{x:,.{places}f}"


def as_of(inputs: ReportInputs) -> datetime:
    """The latest instant the inputs cover: the end of the period or of a later retirement's
    production or consumption interval (the statement's date, not the rendering clock)."""
    ends = [inputs.period_end]
    for r in inputs.retirements:
        ends += [r.production_end, r.consumption_end]
    return max(ends)


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%MZ")


def period_label(inputs: ReportInputs) -> str:
    """The period in the first site's local calendar, e.g. ``2025-03`` or ``2025-03-30``."""
    tz = get_zone(inputs.sites[0].zone).zoneinfo
    first = inputs.period_start.astimezone(tz)
    last = (inputs.period_end - timedelta(microseconds=1)).astimezone(tz)
    after = inputs.period_end.astimezone(tz)
    whole_months = first.day == 1 and after.day == 1 and after.hour == first.hour == 0
    if whole_months:
        a, b = first.strftime("%Y-%m"), last.strftime("%Y-%m")
    else:
        a, b = first.date().isoformat(), last.date().isoformat()
    return a if a == b else f"{a} to {b}"


def figure_rows(report: CarbonReport) -> list[Row]:
    """The headline figures with their units."""
    rows = [
        ("Consumption (metered)", _fmt(report.consumption_mwh, 3), "MWh"),
        ("Scope 2, location-based", _fmt(report.location_based_tco2e, 3), "tCO2e"),
        ("Scope 2, market-based (annual matching)", _fmt(report.market_based_annual_tco2e, 3),
         "tCO2e"),
        ("Scope 2, market-based (hourly matching)", _fmt(report.market_based_hourly_tco2e, 3),
         "tCO2e"),
        ("24/7 CFE score (hourly)", _fmt(report.cfe_score, 4), "ratio 0-1"),
        ("Matched-only score", _fmt(report.matched_only_score, 4), "ratio 0-1"),
        ("Green share, annual matching", _fmt(report.green_share_annual, 4), "ratio 0-1"),
        ("Green share, hourly matching", _fmt(report.green_share_hourly, 4), "ratio 0-1"),
        ("Unapplied excess, hourly matching", _fmt(report.unapplied_excess_mwh, 3), "MWh"),
        ("Unapplied excess, annual matching", _fmt(report.unapplied_excess_annual_mwh, 3), "MWh"),
    ]  # fmt: skip
    return [Row(r) for r in rows]


def instrument_rows(report: CarbonReport) -> list[Row]:
    """Retirements by scheme and technology: count, MWh retired, MWh applied."""
    acc: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    for use in report.instruments:
        a = acc[(use.record.scheme, use.record.technology)]
        a[0] += 1
        a[1] += Decimal(use.record.energy_wh) / 1_000_000
        a[2] += use.applied_hourly_mwh
        a[3] += use.applied_annual_mwh
    return [
        Row((scheme, tech, str(int(a[0])), _fmt(a[1], 3), _fmt(a[2], 3), _fmt(a[3], 3)))
        for (scheme, tech), a in sorted(acc.items())
    ]


def dataset_rows(report: CarbonReport) -> list[Row]:
    """Every dataset the figures rest on, with the SHA-256 of its bytes."""
    return [Row((role, name), detail=f"SHA-256 {sha}") for name, role, _src, sha in report.datasets]


class _Writer:
    """Lays text and tables top-down on A4 pages of a ``PdfPages``, breaking pages as needed."""

    def __init__(self, pdf: Any, title: str) -> None:
        import matplotlib.pyplot as plt

        self._plt = plt
        self._pdf = pdf
        self._title = title
        self._fig: Any = None
        self._page = 0
        self.y = _TOP
        self._new_page()

    def _new_page(self) -> None:
        if self._fig is not None:
            self._finish()
        self._fig = self._plt.figure(figsize=A4)
        self._page += 1
        self.y = _TOP
        if self._page > 1:
            self.text(f"{self._title} (continued)", size=8, color=_MUTED)
            self.y -= _LINE * 0.5

    def _finish(self) -> None:
        self._fig.text(
            _RIGHT, _BOTTOM - 0.02, f"page {self._page}", ha="right", size=7, color=_MUTED
        )
        self._pdf.savefig(self._fig)
        self._plt.close(self._fig)

    def close(self) -> None:
        self._finish()
        self._fig = None

    def room(self, lines: float) -> None:
        """Start a new page unless ``lines`` more lines fit on this one."""
        if self.y - lines * _LINE < _BOTTOM:
            self._new_page()

    def text(
        self,
        s: str,
        *,
        size: float = 8.5,
        weight: str = "normal",
        color: str = _INK,
        x: float = _LEFT,
        family: str = "sans-serif",
        advance: float = 1.0,
    ) -> None:
        lines = [s] if family == "monospace" else _wrap(s, _RIGHT - x, size)
        for i, line in enumerate(lines):
            step = advance if i == len(lines) - 1 else 1.0
            self.room(step)
            self._fig.text(
                x, self.y, line, size=size, weight=weight, color=color, va="top", family=family
            )
            self.y -= _LINE * step

    def rule(self, weight: float = 0.6, color: str = _RULE) -> None:
        from matplotlib.lines import Line2D

        y = self.y + _LINE * 0.25
        self._fig.add_artist(
            Line2D([_LEFT, _RIGHT], [y, y], lw=weight, color=color, transform=self._fig.transFigure)
        )

    def heading(self, s: str) -> None:
        self.room(4)
        self.y -= _LINE * 0.6
        self.text(s, size=10, weight="bold", advance=1.3)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Row],
        columns: Sequence[float],
        *,
        align: Sequence[str] | None = None,
        empty: str = "none",
    ) -> None:
        """A ruled table; ``columns`` are the left (or, right-aligned, right) x of each column."""
        align = align or ["left"] * len(header)

        def line(cells: Sequence[str], weight: str) -> None:
            self.room(1.06)
            for i, cell in enumerate(cells):
                self._fig.text(
                    columns[i],
                    self.y,
                    cell,
                    size=8.5,
                    weight=weight,
                    ha=align[i],
                    va="top",
                    color=_INK,
                )
            self.y -= _LINE * 1.06

        self.room(2 + min(len(rows), 3))
        self.rule(0.9, _INK)
        line(header, "bold")
        self.rule()
        for row in rows:
            line(row.cells, "normal")
            if row.detail is not None:
                self.text(row.detail, size=7, family="monospace", color=_MUTED, x=columns[1])
                self.y -= _LINE * 0.2
        if not rows:
            line((empty,), "normal")
        self.rule(0.9, _INK)
        self.y -= _LINE * 0.4


def write_statement(pdf: Any, report: CarbonReport, inputs: ReportInputs) -> None:
    """Page 1 (and continuation pages) of the PDF: the auditor's statement."""
    doc = report.to_json_dict()
    sites = ", ".join(s.name for s in inputs.sites)
    zones = sorted({s.zone for s in inputs.sites})
    zone_text = ", ".join(f"{z} ({get_zone(z).tz})" for z in zones)
    period = period_label(inputs)
    title = f"Scope 2 carbon statement - {sites} - {period}"
    w = _Writer(pdf, title)

    w.text("SCOPE 2 CARBON STATEMENT", size=8, weight="bold", color=_MUTED, advance=1.3)
    w.text(f"{sites}  -  {period}", size=17, weight="bold", advance=2.0)
    hours = doc["hours"]
    block = [
        ("Site", sites),
        ("Market zone", zone_text),
        ("Reporting period", f"{period} (local calendar of {zones[0]})"),
        ("", f"{_utc(report.period_start)} to {_utc(report.period_end)} (UTC, end exclusive), "
             f"{hours} hours"),
        ("Methodology", f"{FORMAT}: {doc['parameters']['methodology']}"),
        ("", f"CFE grid basis {report.cfe_grid_basis}; {doc['parameters']['rounding']}"),
        ("Generated at", f"{_utc(as_of(inputs))} (end of the latest interval in the inputs)"),
        ("Inputs document", "report_inputs.json (the figures are recomputed from it)"),
    ]  # fmt: skip
    w.rule(0.9, _INK)
    for label, value in block:
        w.text(label, weight="bold", advance=0)
        w.text(value, x=_LEFT + 0.17)
    w.text(f"SHA-256 {report.inputs_sha256}", size=7, family="monospace", x=_LEFT + 0.17)
    w.y -= _LINE * 0.2
    w.rule()

    w.heading("1. Figures")
    num = [_LEFT, _RIGHT - 0.12, _RIGHT - 0.10]
    w.table(("Figure", "Value", "Unit"), figure_rows(report), num, align=("left", "right", "left"))
    for r in doc["residual_mix"]:
        w.text(r["note"], size=7.5, color="#8a4b08" if r["grid_average_used"] else _MUTED)

    w.heading("2. Energy attribute certificates retired (energy in MWh)")
    cols = [_LEFT, _LEFT + 0.20, _LEFT + 0.40, _LEFT + 0.55, _LEFT + 0.70, _RIGHT]
    w.table(
        ("Scheme", "Technology", "Retirements", "Retired", "Applied hourly", "Applied annual"),
        instrument_rows(report),
        cols,
        align=("left", "left", "right", "right", "right", "right"),
        empty="No certificates were retired for this site and period.",
    )

    w.heading("3. Input datasets (SHA-256 of the exact bytes used)")
    w.table(("Role", "Dataset"), dataset_rows(report), [_LEFT, _LEFT + 0.17])

    w.room(12.5)  # the verification and the signature lines stay together
    w.heading("4. How to verify")
    w.text(
        "Offline and without a database, one command checks the ledger's signatures, inclusion "
        "proofs, checkpoint, state machine and conservation, recomputes every figure above from "
        "report_inputs.json and checks each retirement used against the ledger:"
    )
    w.y -= _LINE * 0.3
    w.text(VERIFY_COMMAND, family="monospace", x=_LEFT + 0.03, advance=1.4)
    w.text(
        "DIR: the audit bundle exported with this report (powerdesk audit export); PEM: the "
        "ledger operator's public key."
    )

    w.room(4)
    w.y -= _LINE * 0.8
    w.rule()
    w.text("Verified by (name, firm)", size=7.5, color=_MUTED, advance=0)
    w.text("Signature", size=7.5, color=_MUTED, x=_LEFT + 0.45, advance=0)
    w.text("Date", size=7.5, color=_MUTED, x=_LEFT + 0.70)
    w.y -= _LINE * 1.6
    w.rule(0.6, _INK)
    w.close()


def write_plots(pdf: Any, draw: Sequence[Callable[[Any], None]], caption: str) -> None:
    """The plots, stacked on one A4 page (drawn as vectors, not images)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(draw), 1, figsize=A4)
    for ax, fn in zip(axes, draw, strict=True):
        fn(ax)
    fig.suptitle(caption, x=_LEFT, ha="left", size=10, weight="bold")
    fig.tight_layout(rect=(0.02, 0.04, 0.98, 0.96))
    pdf.savefig(fig)
    plt.close(fig)


def render_pdf(
    report: CarbonReport, inputs: ReportInputs, draw: Sequence[Callable[[Any], None]]
) -> bytes:
    """The whole PDF: the statement, then the plots ``draw`` puts on their axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    sites = ", ".join(s.name for s in inputs.sites)
    title = f"Scope 2 carbon statement, {sites}, {period_label(inputs)}"
    # Fixed metadata so that the same report gives the same PDF bytes.
    metadata = {"Title": title, "CreationDate": None, "Producer": "powerdesk"}
    with PdfPages(buffer, metadata=metadata) as pdf:
        write_statement(pdf, report, inputs)
        write_plots(pdf, draw, f"Figures - {sites} - {period_label(inputs)}")
    return buffer.getvalue()
