"""The daily cycle end to end on the fixtures: bid, settle, PPA certificates, report, audit."""

from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.audit.bundle import AuditError, verify_bundle
from engine.certificates.keyfiles import load_private_key
from engine.certificates.store import LedgerStore
from engine.core.db import open_database
from engine.core.settings import Settings
from engine.demo.run import DEMO_DAY, run_demo
from engine.settlement.service import latest_settlement, settle_site_day


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home)
    return settings, run_demo(settings, backtest=False, echo=lambda *_: None)


def test_settlement_lines_reconcile_to_the_total(cycle: tuple[Settings, dict[str, Any]]) -> None:
    settings, _ = cycle
    record = latest_settlement(open_database(settings), "example-dc", DEMO_DAY)
    assert record is not None
    amounts = [Decimal(line["amount"]) for line in record.lines]
    assert all(a == a.quantize(Decimal("0.01")) for a in amounts)
    assert sum(amounts, Decimal(0)) == Decimal(record.totals["total_cost"])
    # One DA and one imbalance line per interval of the 23-hour DST day.
    assert sum(1 for line in record.lines if line["category"] == "da_energy") == 23
    parts = Decimal(record.totals["energy_cost"]) + Decimal(record.totals["imbalance_cost"])
    parts -= Decimal(record.totals["reserve_revenue"])
    assert parts + Decimal(record.totals["ppa_cost"]) == Decimal(record.totals["total_cost"])


def test_certificates_never_exceed_metered_output(cycle: tuple[Settings, dict[str, Any]]) -> None:
    settings, summary = cycle
    store = LedgerStore(open_database(settings))
    cells = store.cells()
    assert len(cells) == 23
    for cell in cells:
        assert 0 < cell.issued_wh <= cell.metered_wh
        assert cell.retired_wh == cell.issued_wh  # all retired for the data centre's hours
    issued = sum(c.issued_wh for c in cells)
    assert Decimal(issued) / 1_000_000 == Decimal(summary["certificates"]["certificates_mwh"])


def test_rerunning_the_cycle_changes_nothing(cycle: tuple[Settings, dict[str, Any]]) -> None:
    settings, first = cycle
    engine = open_database(settings)
    size_before = LedgerStore(engine).head()[0]
    again = run_demo(settings, backtest=False, echo=lambda *_: None)
    assert again["settlement"]["run"] == first["settlement"]["run"] == 1
    assert again["settlement"]["created"] is False
    assert again["bid"]["bid_id"] == first["bid"]["bid_id"]
    assert LedgerStore(engine).head()[0] == size_before
    assert again["report"]["figures"] == first["report"]["figures"]


def test_forced_settlement_is_a_superseding_run(cycle: tuple[Settings, dict[str, Any]]) -> None:
    settings, _ = cycle
    engine = open_database(settings)
    record = settle_site_day(engine, "example-dc", "DE-LU", DEMO_DAY, force=True, reason="test")
    assert (record.run, record.supersedes_run, record.created) == (2, 1, True)
    latest = latest_settlement(engine, "example-dc", DEMO_DAY)
    assert latest is not None
    assert (latest.run, latest.totals) == (2, record.totals)
    # A plain re-run after the correction returns the correction, not a third run.
    assert settle_site_day(engine, "example-dc", "DE-LU", DEMO_DAY).run == 2


def test_audit_bundle_verifies_and_catches_an_edited_figure(
    cycle: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, summary = cycle
    bundle = Path(summary["audit"]["bundle"])
    public = load_private_key(settings.home).public_key()
    ctx = verify_bundle(bundle, public, workers=1)
    assert ctx.log is not None
    edited = tmp_path / "edited"
    shutil.copytree(bundle, edited)
    report = json.loads((edited / "report.json").read_bytes())
    report["cfe_score"] = str(Decimal(report["cfe_score"]) + Decimal("0.000001"))
    raw = (json.dumps(report, sort_keys=True, separators=(",", ":")) + "\n").encode()
    (edited / "report.json").write_bytes(raw)
    manifest = json.loads((edited / "manifest.json").read_bytes())
    manifest["files"]["report.json"] = hashlib.sha256(raw).hexdigest()
    (edited / "manifest.json").write_bytes(
        (json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n").encode()
    )
    with pytest.raises(AuditError, match="cfe_score differs"):
        verify_bundle(edited, public, workers=1)


def test_report_cites_only_the_ledger_retirements(cycle: tuple[Settings, dict[str, Any]]) -> None:
    _, summary = cycle
    inputs = json.loads(Path(summary["report"]["inputs"]).read_bytes())
    assert len(inputs["retirements"]) == 23
    report = json.loads(Path(summary["report"]["json"]).read_bytes())
    assert Decimal(report["matched_only_score"]) <= Decimal(report["cfe_score"])
    assert Decimal(report["green_share_hourly"]) <= Decimal(report["green_share_annual"])


def test_virtual_ppa_settles_the_difference_exactly(tmp_path: Path) -> None:
    from datetime import timedelta

    from engine.certificates.ppa_contracts import add_ppa
    from engine.settlement.service import device_meter_site, import_meter
    from market import delivery_day_bounds

    settings = Settings(home=tmp_path / "home")
    run_demo(settings, backtest=False, echo=lambda *_: None)
    engine = open_database(settings)
    contract = tmp_path / "vppa.toml"
    contract.write_text(
        'id = "vppa-test"\nsettlement = "virtual"\nvolume = "baseload"\nbuyer = "example-dc"\n'
        'counterparty = "Sun AG"\nzone = "DE-LU"\ncurrency = "EUR"\nstrike_per_mwh = "55.00"\n'
        "start = 2025-01-01T00:00:00+01:00\nend = 2026-01-01T00:00:00+01:00\n"
        'devices = ["DE-PV-9"]\nbaseload_mw = "10"\nshortfall_price_per_mwh = "90"\n'
        '[collar]\nfloor_per_mwh = "0"\ncap_per_mwh = "150"\n'
    )
    add_ppa(engine, contract)
    lo, hi = delivery_day_bounds(DEMO_DAY, "DE-LU")
    gen = tmp_path / "pv.csv"
    rows, t = [], lo
    while t < hi:
        rows.append(f"{t.isoformat()},{'4' if t.hour % 2 else '12'}")
        t += timedelta(hours=1)
    gen.write_text("interval_start,energy_mwh\n" + "\n".join(rows) + "\n")
    import_meter(engine, gen, device_meter_site("DE-PV-9"), "DE-LU")
    record = settle_site_day(engine, "example-dc", "DE-LU", DEMO_DAY, force=True)
    lines = [ln for ln in record.lines if ln["product"] == "vppa-test"]
    assert len(lines) == 23
    prices = {
        ln["interval_start"]: Decimal(ln["price"])
        for ln in record.lines
        if ln["category"] == "da_energy"
    }
    for ln in lines:
        market = min(max(prices[ln["interval_start"]], Decimal(0)), Decimal(150))
        hour = datetime_of(ln["interval_start"])
        shortfall = Decimal(6) if hour.hour % 2 else Decimal(0)  # 10 MWh due, 4 produced
        expected = -(market - Decimal(55)) * 10 - shortfall * 90
        assert Decimal(ln["amount"]) == expected.quantize(Decimal("0.01"))
    assert record.provenance["ppas"]["vppa-test"].startswith("settled virtual-baseload")
    total = sum((Decimal(ln["amount"]) for ln in lines), Decimal(0))
    assert Decimal(record.totals["ppa_cost"]) - total == sum(
        (Decimal(ln["amount"]) for ln in record.lines if ln["product"] == "ppa-demo-wind-2025"),
        Decimal(0),
    )


def datetime_of(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_cli_report_from_the_database_and_audit_round_trip(
    cycle: tuple[Settings, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import main

    settings, summary = cycle
    monkeypatch.setenv("POWERDESK_HOME", str(settings.home))
    mix = (
        Path(__file__).resolve().parents[2] / "fixtures" / "de_2025_03_smard_generation_hourly.csv"
    )
    report_dir, bundle = tmp_path / "report", tmp_path / "bundle"
    for argv in (
        [
            "report",
            "carbon",
            "--site",
            "example-dc",
            "--zone",
            "DE-LU",
            "--period",
            "2025-03-30",
            "--mix",
            str(mix),
            "--from-ledger",
            "--out",
            str(report_dir),
        ],
        ["audit", "export", "--out", str(bundle), "--report", str(report_dir)],
        ["audit", "verify", str(bundle), "--public-key", summary["public_key"]],
    ):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code in (0, None), capsys.readouterr().err
    inputs = json.loads((report_dir / "report_inputs.json").read_bytes())
    assert len(inputs["retirements"]) == 23
    (bundle / "report_inputs.json").write_bytes(b"{}\n")
    capsys.readouterr()
    with pytest.raises(SystemExit) as failed:
        main(["audit", "verify", str(bundle), "--public-key", summary["public_key"]])
    assert failed.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "report_inputs.json" in err


def test_cli_audit_export_period_takes_the_report_the_demo_wrote(
    cycle: tuple[Settings, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import main
    from engine.core.layout import report_dir

    settings, summary = cycle
    monkeypatch.setenv("POWERDESK_HOME", str(settings.home))

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(list(argv))
        return int(done.value.code or 0), capsys.readouterr().err.strip()

    # The demo keeps its day's report where the monthly job keeps a month's.
    stored = settings.home / "reports" / "example-dc" / "2025-03" / "report"
    assert report_dir(settings.home, "example-dc", DEMO_DAY) == stored
    assert summary["report"]["json"] == str(stored / "report.json")
    for argv in (("--site", "example-dc"), ()):
        bundle = tmp_path / f"bundle{len(argv)}"
        code, err = run("audit", "export", "--period", "2025-03", *argv, "--out", str(bundle))
        assert (code, err) == (0, "")
        assert json.loads((bundle / "report.json").read_bytes()) == json.loads(
            (stored / "report.json").read_bytes()
        )
        code, err = run("audit", "verify", str(bundle), "--public-key", summary["public_key"])
        assert code == 0, err
    # One-line errors, nothing written.
    for argv, needle in (
        (("--period", "2024-01"), "no carbon report for 2024-01"),
        (("--period", "2025-03", "--site", "other-dc"), "of site 'other-dc'"),
        (("--period", "2025-03", "--report", str(stored)), "not both"),
        (("--site", "example-dc"), "give --period too"),
        (("--period", "../x"), "expected a month YYYY-MM"),
        (("--period", "2025-03-30"), "expected a month YYYY-MM"),
    ):
        out = tmp_path / "refused"
        code, err = run("audit", "export", "--out", str(out), *argv)
        assert code == 1
        assert needle in err
        assert "\n" not in err
        assert not out.exists()


def test_scheduler_jobs_works_after_the_demo(
    cycle: tuple[Settings, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import main

    settings, summary = cycle
    monkeypatch.setenv("POWERDESK_HOME", str(settings.home))
    config = settings.home / "scheduler.toml"
    assert summary["scheduler_config"] == str(config)
    # The site file the demo used, kept inside the home and named relative to the config.
    assert (settings.home / "sites" / "example-dc.toml").read_bytes() == (
        Path(__file__).resolve().parents[2] / "fixtures" / "sites" / "example-dc.toml"
    ).read_bytes()
    assert 'file = "sites/example-dc.toml"' in config.read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["scheduler", "jobs", "--json"])
    assert done.value.code in (0, None)
    jobs = {j["id"] for j in json.loads(capsys.readouterr().out)}
    assert jobs == {"bid:example-dc", "settle:example-dc", "report:example-dc"}
    # A second demo run keeps the operator's configuration.
    config.write_text(config.read_text().replace("lead_minutes = 60", "lead_minutes = 90"))
    run_demo(settings, backtest=False, echo=lambda *_: None)
    assert "lead_minutes = 90" in config.read_text()


def _rebuilt(files: dict[str, bytes], **changed: bytes) -> dict[str, bytes]:
    """The bundle with files replaced and its manifest rebuilt over them, as a forger would."""
    from engine.audit.bundle import MANIFEST, canonical_json

    out = {k: v for k, v in files.items() if k != MANIFEST} | changed
    manifest = json.loads(files[MANIFEST])
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(out.items())}
    out[MANIFEST] = canonical_json(manifest)
    return out


def test_dropped_proofs_and_extra_signature_lines_are_caught(
    cycle: tuple[Settings, dict[str, Any]],
) -> None:
    """Issue 11, "also close": removing the inclusion proofs of cited retirements, or adding a
    signature line to the checkpoint, no longer verifies."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.audit.bundle import read_bundle, verify_files
    from ledger.note import parse_checkpoint_body, sign_checkpoint

    settings, summary = cycle
    files = read_bundle(Path(summary["audit"]["bundle"]))
    public = load_private_key(settings.home).public_key()
    assert verify_files(files, public).checkpoint is not None
    proofs = json.loads(files["proofs.json"])
    for kept in ([], proofs["inclusion"][1:]):
        dropped = json.dumps(proofs | {"inclusion": kept}, sort_keys=True, separators=(",", ":"))
        with pytest.raises(AuditError, match="no inclusion proof of retirement"):
            verify_files(_rebuilt(files, **{"proofs.json": (dropped + "\n").encode()}), public)
    note = files["checkpoint"].decode()
    body = note.partition("\n\n")[0] + "\n"
    stranger = sign_checkpoint(parse_checkpoint_body(body), "witness", Ed25519PrivateKey.generate())
    extra = note + stranger.rpartition("\n\n")[2]
    assert extra.count("\n— ") == 2
    with pytest.raises(AuditError, match="signature line by 'witness'"):
        verify_files(_rebuilt(files, checkpoint=extra.encode()), public)
