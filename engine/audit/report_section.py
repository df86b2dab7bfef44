"""The carbon report's section of the audit bundle.

Export copies ``report.json`` and ``report_inputs.json`` (canonical JSON) from a report directory.
Verification, offline, after the ledger section has been verified:

1. recomputes every figure of ``report.json`` from ``report_inputs.json`` with
   :func:`carbon.compute_report` and fails on the first difference;
2. checks that every retirement the report relies on is a retired bundle of the verified ledger
   with the same certificates, energy, production interval, technology, zone, site and
   consumption interval (so no certificate is claimed that the log does not hold);
3. the emission-factor datasets are pinned by SHA-256 in the inputs and the report, which must
   agree (the factor values themselves are in the inputs, so the recomputation uses exactly them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from carbon import ReportInputs, compute_report
from engine.audit.bundle import (
    AuditError,
    BundleSection,
    ExportContext,
    VerifyContext,
    canonical_json,
)
from engine.certificates.ppa_delivery import retirement_record
from ledger.state import Status
from market import NAME_RULE, is_name

REPORT_FILES = ("report.json", "report_inputs.json")


def _export_report(ctx: ExportContext) -> dict[str, bytes]:
    report_dir = ctx.options.get("report_dir")
    if report_dir is None:
        raise AuditError("the report section needs a report directory")
    out: dict[str, bytes] = {}
    for name in REPORT_FILES:
        path = Path(report_dir) / name
        try:
            out[name] = canonical_json(json.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise AuditError(f"{path}: cannot read the report ({exc})") from exc
    return out


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}".lstrip(".")
            found = _first_difference(a[key], b[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length)"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b else path.lstrip(".")


def _verify_report(ctx: VerifyContext) -> None:
    raw_inputs = ctx.json("report_inputs.json")
    report = ctx.json("report.json")
    try:
        inputs = ReportInputs.from_json_dict(raw_inputs)
        recomputed = json.loads(canonical_json(compute_report(inputs).to_json_dict()))
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
        raise AuditError(f"report_inputs.json: cannot recompute the report ({exc})") from exc
    diff = _first_difference(report, recomputed)
    if diff is not None:
        raise AuditError(f"report.json: {diff} differs from the figure recomputed from its inputs")
    if ctx.log is None:
        raise AuditError("report: the ledger section must be verified first")
    bundles = ctx.log.state.bundles
    # Every retirement the report cites needs its inclusion proof in the bundle (a third party
    # checks one retirement against the checkpoint with it, without the whole log).
    try:
        proved = {int(item["index"]) for item in ctx.json("proofs.json")["inclusion"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditError(f"proofs.json: unreadable inclusion proofs ({exc})") from exc
    for record in inputs.retirements:
        bundle = bundles.get(record.retirement_id)
        if bundle is None or bundle.status is not Status.RETIRED:
            raise AuditError(
                f"report_inputs.json: retirement {record.retirement_id} is not a retired "
                "bundle of the ledger"
            )
        if retirement_record(bundle).to_json_dict() != record.to_json_dict():
            raise AuditError(
                f"report_inputs.json: retirement {record.retirement_id} differs from the ledger"
            )
        if bundle.updated_index not in proved:
            raise AuditError(
                f"proofs.json: no inclusion proof of retirement {record.retirement_id} "
                f"(leaf {bundle.updated_index}), which the report cites"
            )


REPORT_SECTION = BundleSection("report", REPORT_FILES, _export_report, _verify_report)


def stored_report_dir(home: Path, period: str, site: str | None = None) -> Path:
    """The carbon report stored in ``home`` for month ``period`` (``YYYY-MM``) and ``site``
    (needed only when several sites have a report for the month).

    Reports live where :func:`engine.core.layout.report_dir` puts them (the monthly job's
    ``reports/<site>/<YYYY-MM>/report``; the demo keeps its day's report there too); a one-line
    error names what is missing.
    """
    from engine.core.errors import PowerdeskError
    from engine.core.layout import month_label, report_dir, reports_root

    try:
        month = month_label(period)
    except ValueError:
        raise PowerdeskError(f"--period {period[:80]!r}: expected a month YYYY-MM") from None
    if site is not None and not is_name(site):  # a folder name, never a path (``../../x``)
        raise PowerdeskError(f"site {site[:80]!r} is not a valid name ({NAME_RULE})")
    root = reports_root(home)
    names = (
        [site]
        if site is not None
        else sorted(p.name for p in root.glob("*") if p.is_dir() and is_name(p.name))
    )
    found = {
        name: report_dir(home, name, month)
        for name in names
        if all((report_dir(home, name, month) / f).is_file() for f in REPORT_FILES)
    }
    if not found:
        whose = f" of site {site!r}" if site is not None else ""
        raise PowerdeskError(
            f"no carbon report{whose} for {month} under {root} (run the monthly report job, "
            "`powerdesk demo`, or give --report DIR)"
        )
    if len(found) > 1:
        raise PowerdeskError(
            f"several sites have a report for {month} ({', '.join(sorted(found))}): choose one "
            "with --site"
        )
    return next(iter(found.values()))
