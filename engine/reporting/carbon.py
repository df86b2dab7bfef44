"""Carbon report use case: gather inputs, compute (pure :mod:`carbon`), render.

Three separate steps, so each caller swaps only the one it needs (the ledger-backed variant reads
retirements from the database instead of a JSON Lines file and reuses the rest):

1. gather: :func:`parse_period`, :func:`read_retirements_jsonl`, :func:`build_inputs` (meter file,
   emission-factor datasets and retirement records -> :class:`carbon.ReportInputs`);
2. compute: :func:`carbon.compute_report`;
3. render: :func:`write_report` writes ``report.json`` (the figures, docs/formats.md "Carbon
   report"), ``report_inputs.json`` (everything needed to recompute them), ``report.html`` (a
   self-contained page with embedded PNG plots) and ``report.pdf`` (an auditor's statement:
   title block, figures with units, certificates retired, dataset hashes and how to verify the
   audit bundle, :mod:`engine.reporting.statement`; then the plots), all through temporary
   files renamed into place, so nothing is half-written.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from carbon import (
    CarbonReport,
    DatasetPin,
    ReportInputs,
    ReportParameters,
    RetirementRecord,
    SiteLoad,
)
from carbon.errors import CarbonInputError
from carbon.exact import quantize, to_fraction
from carbon.inputs import HOUR
from engine.core.errors import InputFileError, PowerdeskError
from engine.core.files import write_files_atomic
from engine.io.emission_factors import EfDataset, grid_factors_for
from engine.io.meter import MeterData, hourly_energy_mwh, hourly_it_energy_mwh
from market import get_zone, local_midnight_utc

REPORT_JSON = "report.json"
INPUTS_JSON = "report_inputs.json"
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ----------------------------------------------------------------------------------------------
# 1. Gather


def _first_day(text: str) -> tuple[date, bool]:
    """First local day of ``YYYY-MM`` or ``YYYY-MM-DD``, and whether it was a month."""
    text = text.strip()
    m = _MONTH.match(text)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), 1), True
        if _DAY.match(text):
            return date.fromisoformat(text), False
    except ValueError:
        pass
    raise PowerdeskError(
        f"period {text!r}: expected YYYY-MM[..YYYY-MM] or YYYY-MM-DD[..YYYY-MM-DD]"
    )


def parse_period(text: str, zone: str) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of a period of the zone's local calendar.

    ``YYYY-MM`` or ``YYYY-MM..YYYY-MM`` are whole local months (both inclusive);
    ``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` whole local days (both inclusive).
    """
    first_text, _, last_text = text.partition("..")
    first, is_month = _first_day(first_text)
    last, last_is_month = _first_day(last_text) if last_text else (first, is_month)
    if is_month != last_is_month:
        raise PowerdeskError(f"period {text!r}: give both ends as months or both as days")
    if is_month:
        after = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    else:
        after = last + timedelta(days=1)
    if after <= first:
        raise PowerdeskError(f"period {text!r} ends before it starts")
    return local_midnight_utc(first, zone), local_midnight_utc(after, zone)


def read_retirements_jsonl(path: Path | str) -> tuple[RetirementRecord, ...]:
    """Retirement records from a JSON Lines file (one :meth:`RetirementRecord.to_json_dict` per
    line; blank lines skipped). Errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputFileError(str(path), "not UTF-8 text") from None
    records: list[RetirementRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(str(path), f"not JSON ({exc.msg})", number) from None
        try:
            records.append(RetirementRecord.from_json_dict(data))
        except CarbonInputError as exc:
            raise InputFileError(str(path), str(exc), number) from None
    return tuple(records)


def meter_pin(meter: MeterData, source: str | None = None) -> DatasetPin:
    """Pin of a meter file."""
    return DatasetPin(
        name=meter.path.name,
        role="meter",
        source=source or f"meter file {meter.path.name}",
        sha256=meter.sha256,
    )


def build_inputs(
    *,
    site: str,
    zone: str,
    period: tuple[datetime, datetime],
    meter: MeterData,
    grid: EfDataset,
    residual: EfDataset | None = None,
    retirements: Sequence[RetirementRecord] = (),
    parameters: ReportParameters | None = None,
) -> ReportInputs:
    """Report inputs for one site from its meter, EF datasets and retirement records.

    A meter with an ``it_energy_mwh`` column gives the site's IT load (PUE and CUE).

    Raises
    ------
    InputFileError
        The meter or an EF dataset does not cover every hour of the period.
    """
    get_zone(zone)
    start, end = period
    hours = list(_hours(start, end))
    load = hourly_energy_mwh(meter, hours)
    it_load = hourly_it_energy_mwh(meter, hours) or {}
    factors = grid_factors_for(zone, hours, grid, residual)
    pins = [meter_pin(meter), grid.pin] + ([residual.pin] if residual is not None else [])
    return ReportInputs(
        period_start=start,
        period_end=end,
        sites=(SiteLoad(site, zone, load, it_load_mwh=it_load),),
        grid=(factors,),
        retirements=tuple(retirements),
        datasets=tuple(pins),
        parameters=parameters if parameters is not None else ReportParameters(),
    )


ADDITIVE_FIGURES = (
    "consumption_mwh",
    "location_based_tco2e",
    "market_based_annual_tco2e",
    "market_based_hourly_tco2e",
    "applied_annual_mwh",
    "applied_hourly_mwh",
    "unapplied_excess_mwh",
    "unapplied_excess_annual_mwh",
)
"""Figures of a carbon report that add up over sites (energy and emissions; not scores)."""


def sum_site_figures(reports: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The portfolio's figures from its sites' ``report.json`` documents: the exact sum
    (:mod:`carbon.exact`) of each additive figure as the site reports state it, so anyone can
    recompute it from the site reports. Scores and shares are per site only."""
    out: dict[str, str] = {}
    for name in ADDITIVE_FIGURES:
        total = sum((to_fraction(Decimal(str(r[name])), name) for r in reports), Fraction(0))
        out[name] = str(quantize(total))
    return out


def report_hours(start: datetime, end: datetime) -> tuple[datetime, ...]:
    """UTC hour starts of a period: the grid the report computes on (ReportInputs.hours)."""
    return _hours(start, end)


def _hours(start: datetime, end: datetime) -> tuple[datetime, ...]:
    # The same UTC hour grid the report computes on (ReportInputs.hours).
    index = pd.date_range(start, end, freq=HOUR, inclusive="left")
    return tuple(ts.to_pydatetime() for ts in index)


# ----------------------------------------------------------------------------------------------
# 3. Render


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    report_json: Path
    inputs_json: Path
    html: Path
    pdf: Path


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def write_report(report: CarbonReport, inputs: ReportInputs, out_dir: Path | str) -> ReportFiles:
    """Write report.json, report_inputs.json, report.html and report.pdf into ``out_dir``.

    All files are rendered in memory and written to temporary files first, then renamed into
    place, so a failure leaves no half-written report.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PowerdeskError(f"{out}: cannot create output directory ({exc.strerror})") from None
    figures = _figures(report, inputs)
    contents = {
        REPORT_JSON: _json_bytes(report.to_json_dict()),
        INPUTS_JSON: _json_bytes(inputs.to_json_dict()),
        REPORT_HTML: _html(report, figures).encode("utf-8"),
        REPORT_PDF: _pdf(report, inputs, figures),
    }
    write_files_atomic(contents, out)
    return ReportFiles(out / REPORT_JSON, out / INPUTS_JSON, out / REPORT_HTML, out / REPORT_PDF)


@dataclass(frozen=True, slots=True)
class _Figures:
    hourly_png: bytes
    daily_png: bytes
    daily: list[tuple[str, Decimal, Decimal, Decimal]]  # day, load, cfe, matched
    monthly: list[tuple[str, Decimal, Decimal, Decimal]]


def _aggregate(
    report: CarbonReport, inputs: ReportInputs, fmt: str
) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    zones = {s.name: get_zone(s.zone).zoneinfo for s in inputs.sites}
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for h in report.hours:
        key = h.interval_start.astimezone(zones[h.site]).strftime(fmt)
        acc = sums[key]
        acc[0] += h.load_mwh
        acc[1] += h.cfe_mwh
        acc[2] += h.matched_carbon_free_mwh
    return [(k, v[0], v[1], v[2]) for k, v in sorted(sums.items())]


def _score(part: Decimal, whole: Decimal) -> float:
    return float(part / whole) if whole else 0.0


def _draw_hourly(ax: Any, report: CarbonReport) -> None:
    times = pd.DatetimeIndex([h.interval_start for h in report.hours]).tz_convert(None).to_numpy()
    ax.step(
        times,
        [float(h.load_mwh) for h in report.hours],
        where="post",
        lw=0.9,
        color="#333333",
        label="metered load L [MWh]",
    )
    ax.step(
        times,
        [float(h.carbon_free_supply_mwh) for h in report.hours],
        where="post",
        lw=0.8,
        color="#2a9d8f",
        label="contracted carbon-free supply G [MWh]",
    )
    ax.fill_between(
        times,
        [float(h.matched_carbon_free_mwh) for h in report.hours],
        step="post",
        color="#2a9d8f",
        alpha=0.35,
        label="matched min(L, G) [MWh]",
    )
    ax.set_ylabel("MWh per hour")
    ax.set_title("Hourly load and matched carbon-free supply (UTC hours)")
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    ax.legend(loc="upper right", fontsize=8)


def _draw_daily(ax: Any, daily: list[tuple[str, Decimal, Decimal, Decimal]]) -> None:
    labels = [d[0] for d in daily]
    ax.bar(labels, [_score(d[2], d[1]) for d in daily], color="#8ab17d", label="CFE score")
    ax.plot(
        labels,
        [_score(d[3], d[1]) for d in daily],
        "o-",
        ms=3,
        color="#264653",
        label="matched-only score",
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("score [1]")
    ax.set_title("Daily CFE and matched-only scores (local days)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    ax.legend(loc="upper right", fontsize=8)


def _figures(report: CarbonReport, inputs: ReportInputs) -> _Figures:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    daily = _aggregate(report, inputs, "%Y-%m-%d")
    monthly = _aggregate(report, inputs, "%Y-%m")

    fig, ax = plt.subplots(figsize=(11, 3.6), dpi=90)
    _draw_hourly(ax, report)
    fig.tight_layout()
    hourly_png = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 3.2), dpi=90)
    _draw_daily(ax, daily)
    fig.tight_layout()
    daily_png = _png(fig)
    plt.close(fig)
    return _Figures(hourly_png, daily_png, daily, monthly)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # Fixed metadata: the same report gives the same bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _headline(report: CarbonReport) -> list[tuple[str, str, str]]:
    def v(x: Decimal | None) -> str:
        return "n/a (no consumption)" if x is None else str(x)

    return [
        ("Consumption", v(report.consumption_mwh), "MWh"),
        ("Location-based Scope 2", v(report.location_based_tco2e), "tCO2e"),
        ("Market-based Scope 2, annual matching", v(report.market_based_annual_tco2e), "tCO2e"),
        ("Market-based Scope 2, hourly matching", v(report.market_based_hourly_tco2e), "tCO2e"),
        ("Hourly CFE score", v(report.cfe_score), "1"),
        ("Matched-only score HM", v(report.matched_only_score), "1"),
        ("Green share, annual", v(report.green_share_annual), "1"),
        ("Green share, hourly", v(report.green_share_hourly), "1"),
        ("Unapplied excess (hourly)", v(report.unapplied_excess_mwh), "MWh"),
        ("Unapplied excess (annual)", v(report.unapplied_excess_annual_mwh), "MWh"),
        *_china_headline(report),
    ]


def _china_headline(report: CarbonReport) -> list[tuple[str, str, str]]:
    """The figures of Chinese reporting (docs/carbon-cn.md)."""
    c = report.china
    if c is None:
        return []

    def v(x: Decimal | None, why: str) -> str:
        return f"n/a ({why})" if x is None else str(x)

    no_it = "no IT energy metered"
    return [
        ("IT energy", v(c.it_energy_mwh, no_it), "MWh"),
        ("PUE (facility / IT energy)", v(c.pue, no_it), "1"),
        ("CUE, location-based", v(c.cue_location_kg_per_kwh, no_it), "kgCO2e/kWh"),
        ("CUE, market-based (annual)", v(c.cue_market_kg_per_kwh, no_it), "kgCO2e/kWh"),
        ("Green electricity share", v(c.green_electricity_share, "no consumption"), "1"),
        ("Green-power trading (bundled GEC)", str(c.green_power_trading_mwh), "MWh"),
        ("Unbundled GEC retired", str(c.gec_unbundled_mwh), "MWh"),
        ("GEC without bundling record (not counted)", str(c.gec_unclassified_mwh), "MWh"),
        ("On-site renewable", str(c.onsite_renewable_mwh), "MWh"),
    ]


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(report: CarbonReport, figures: _Figures) -> str:
    doc = report.to_json_dict()
    img = "<img alt='{alt}' src='data:image/png;base64,{data}'>"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>powerdesk carbon report</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}",
        "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}",
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f3f3f3}",
        "img{max-width:100%}.note{color:#8a4b08}",
        "</style></head><body>",
        "<h1>Carbon report</h1>",
        f"<p>Period {html.escape(doc['period_start'])} to {html.escape(doc['period_end'])} "
        f"(UTC, half-open), {doc['hours']} hours. Inputs SHA-256 "
        f"<code>{report.inputs_sha256}</code>.</p>",
        "<h2>Figures</h2>",
        _table(("figure", "value", "unit"), _headline(report)),
    ]
    for r in doc["residual_mix"]:
        cls = " class='note'" if r["grid_average_used"] else ""
        parts.append(f"<p{cls}>{html.escape(r['note'])}</p>")
    parts += [
        "<h2>Hourly load and matched carbon-free supply</h2>",
        img.format(
            alt="hourly load and matched supply", data=base64.b64encode(figures.hourly_png).decode()
        ),
        "<h2>Daily CFE</h2>",
        img.format(alt="daily CFE", data=base64.b64encode(figures.daily_png).decode()),
        "<h2>Monthly CFE</h2>",
        _table(
            ("month", "load [MWh]", "CFE score", "matched-only score"),
            [
                (m, load, f"{_score(cfe, load):.6f}", f"{_score(u, load):.6f}")
                for m, load, cfe, u in figures.monthly
            ],
        ),
        "<h2>Sites</h2>",
        _table(
            (
                "site",
                "zone",
                "load [MWh]",
                "LB [tCO2e]",
                "MB annual",
                "MB hourly",
                "CFE",
                "HM",
                "S annual",
                "S hourly",
            ),
            [
                (
                    s["site"],
                    s["zone"],
                    s["consumption_mwh"],
                    s["location_based_tco2e"],
                    s["market_based_annual_tco2e"],
                    s["market_based_hourly_tco2e"],
                    s["cfe_score"],
                    s["matched_only_score"],
                    s["green_share_annual"],
                    s["green_share_hourly"],
                )
                for s in doc["sites"]
            ],
        ),
        "<h2>Certificate provenance</h2>",
        _table(
            (
                "retirement",
                "certificates",
                "scheme",
                "technology",
                "zone",
                "production",
                "site",
                "consumption",
                "beneficiary",
                "MWh",
                "EF [t/MWh]",
                "status",
                "hourly",
                "applied annual [MWh]",
                "applied hourly [MWh]",
            ),
            [
                (
                    i["retirement_id"],
                    f"{i['certificate_id_first']}..{i['certificate_id_last']}",
                    i["scheme"],
                    i["technology"],
                    i["zone"],
                    f"{i['production_start']} – {i['production_end']}",
                    i["site"],
                    f"{i['consumption_start']} – {i['consumption_end']}",
                    i["beneficiary"],
                    str(Decimal(i["energy_wh"]) / 1_000_000),
                    i["ef_applied_tco2e_per_mwh"],
                    i["status"],
                    "yes" if i["hourly_eligible"] else "no",
                    i["applied_annual_mwh"],
                    i["applied_hourly_mwh"],
                )
                for i in doc["instruments"]
            ],
        ),
        "<h2>Datasets (pinned by SHA-256)</h2>",
        _table(
            ("name", "role", "source", "sha256"),
            [
                (d["name"], d["role"], d["source"], d["sha256"])
                for d in doc["emission_factor_datasets"]
            ],
        ),
        "<h2>Declared parameters</h2>",
        _table(("parameter", "value"), sorted(doc["parameters"].items())),
        _table(
            (
                "zone",
                "hourly residual [h]",
                "annual residual [h]",
                "grid average [h]",
                "annual residual factor [t/MWh]",
                "source",
            ),
            [
                (
                    r["zone"],
                    r["hours_hourly_residual"],
                    r["hours_annual_residual"],
                    r["hours_grid_average"],
                    r["annual_ef_residual_tco2e_per_mwh"],
                    r["annual_factor_source"],
                )
                for r in doc["residual_mix"]
            ],
        ),
        "<h2>Formulas</h2><pre>",
        html.escape(
            "E_LB = sum_h L[h] * EFgrid[h]\n"
            "E_MB_annual = sum_k I_applied[k] * EF_k + (C - min(C, A)) * EFres_annual\n"
            "E_MB_hourly = sum_h [sum_k I_applied[k,h] * EF_k + (L[h] - M[h]) * EFres[h]],"
            " M[h] = min(L[h], sum_k I[k,h])\n"
            "CFE[h] = U[h] + g[h] * (L[h] - U[h]), U[h] = min(L[h], G[h]);"
            " CFE score = sum CFE / sum L\n"
            "HM = sum_h min(L[h], G[h]) / sum L;  S_annual = min(1, RE / sum L);"
            "  S_hourly = sum_h min(L[h], RE[h]) / sum L"
        ),
        "</pre></body></html>\n",
    ]
    return "\n".join(parts)


def _pdf(report: CarbonReport, inputs: ReportInputs, figures: _Figures) -> bytes:
    from engine.reporting.statement import render_pdf

    return render_pdf(
        report,
        inputs,
        [lambda ax: _draw_hourly(ax, report), lambda ax: _draw_daily(ax, figures.daily)],
    )
