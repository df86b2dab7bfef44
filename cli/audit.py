"""``powerdesk audit``: export an audit bundle and verify one offline with a public key."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(help="Audit bundles: export, and verify offline with one public key.")


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="New (or empty) bundle directory.")],
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Carbon report directory (report.json + inputs) to include."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="Include the carbon report stored in POWERDESK_HOME/reports for this month "
            "(YYYY-MM; the monthly job and the demo write it there).",
        ),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option("--site", help="With --period: the site whose report to include."),
    ] = None,
) -> None:
    """Checkpoint the ledger and write its audit bundle (with a carbon report) to --out."""
    from datetime import UTC, datetime

    from engine.audit.bundle import export_bundle
    from engine.certificates.keyfiles import load_private_key
    from engine.certificates.store import LedgerStore
    from engine.core.db import open_database
    from engine.core.errors import PowerdeskError
    from engine.core.settings import Settings

    if period is not None and report is not None:
        raise PowerdeskError("give either --report DIR or --period PERIOD, not both")
    if site is not None and period is None:
        raise PowerdeskError("--site selects the report of a --period; give --period too")
    settings = Settings()
    if period is not None:
        from engine.audit.report_section import stored_report_dir

        report = stored_report_dir(settings.home, period, site)
    operator = load_private_key(settings.home)
    store = LedgerStore(open_database(settings))
    store.initialise(operator, datetime.now(UTC).replace(microsecond=0))
    if report is not None:
        files = export_bundle(
            store, operator, out, sections=("ledger", "report"), options={"report_dir": report}
        )
    else:
        files = export_bundle(store, operator, out)
    typer.echo(json.dumps({"out": str(out), "files": sorted(files)}))


@audit_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory.")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The ledger's public key (PEM).")
    ],
    workers: Annotated[int, typer.Option("--workers", help="Signature-check processes.")] = 2,
    after: Annotated[
        Path | None,
        typer.Option(
            "--after",
            help="A checkpoint you kept from an earlier bundle: the log must extend it "
            "(detects a rollback or a fork).",
        ),
    ] = None,
) -> None:
    """Verify every signature, proof, the checkpoint, the state machine and conservation."""
    import engine.audit.report_section  # noqa: F401  (the report section, if the bundle has one)
    from engine.audit.bundle import summary, verify_after, verify_bundle
    from engine.certificates.keyfiles import load_public_pem
    from engine.core.errors import InputFileError

    earlier = None
    if after is not None:
        try:
            earlier = after.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(str(after), f"cannot read the checkpoint ({exc})") from None
    ctx = verify_bundle(bundle, load_public_pem(public_key), workers=workers)
    out = {"ok": True, **summary(ctx)}
    if earlier is not None:
        kept = verify_after(ctx, earlier)
        out["after"] = {"size": kept.size, "root_b64": base64.b64encode(kept.root).decode()}
    typer.echo(json.dumps(out, indent=2))
