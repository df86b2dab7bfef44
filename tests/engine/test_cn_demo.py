"""``powerdesk demo --region cn`` from a fresh home: it runs on the synthetic Gansu series, its
audit bundle verifies offline, and the Chinese figures recomputed from the bundle are the
report's; a retirement relabelled as bundled in the bundle fails verification."""

from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carbon import ReportInputs, compute_report
from engine.audit.bundle import AuditError, verify_bundle
from engine.certificates.keyfiles import load_private_key
from engine.core.jsonio import canonical_json
from engine.core.settings import Settings
from engine.demo.cn import CAP, FLOOR, synthetic_prices
from engine.demo.cn import run_cn_demo as run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any]]:
    settings = Settings(home=tmp_path_factory.mktemp("cn") / "home")
    return settings, run(settings, echo=lambda *_: None)


def test_the_cn_demo_bids_settles_and_reports(demo: tuple[Settings, dict[str, Any]]) -> None:
    _, out = demo
    assert out["prices"]["synthetic"] is True
    assert "synthetic" in out["prices"]["provenance"]
    assert "synthetic" in out["bid"]["price_provenance"]
    assert out["bid"]["freq_reg_offers"] > 0
    assert out["settlement"]["currency"] == "CNY"
    figures = out["report"]["figures"]
    # 15,000 bundled GECs through green-electricity trading, 5,000 bought unbundled.
    assert Decimal(figures["green_power_trading_mwh"]) == 15000
    assert Decimal(figures["gec_unbundled_mwh"]) == 5000
    assert Decimal(figures["gec_unclassified_mwh"]) == 0
    for key in ("pue", "cue_location_kg_per_kwh", "cue_market_kg_per_kwh"):
        assert Decimal(figures[key]) > 0
    assert 0 < Decimal(figures["green_electricity_share"]) < 1
    statement = out["green_power"]["statement"]["result"]
    # 7,500 MWh at 262.30 + 7,500 MWh at 258.90 CNY/MWh
    assert statement["payment"] == "3909000.00"


def test_the_cn_bundle_verifies_and_its_figures_recompute(
    demo: tuple[Settings, dict[str, Any]],
) -> None:
    settings, out = demo
    bundle = Path(out["audit"]["bundle"])
    key = load_private_key(settings.home).public_key()
    verify_bundle(bundle, key, workers=1)
    inputs = ReportInputs.from_json_dict(json.loads((bundle / "report_inputs.json").read_text()))
    recomputed = compute_report(inputs).to_json_dict()
    for name, value in out["report"]["figures"].items():
        assert recomputed[name] == value, name


def test_relabelling_a_purchase_as_green_power_trading_fails_verification(
    demo: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, out = demo
    bundle = tmp_path / "bundle"
    shutil.copytree(out["audit"]["bundle"], bundle)
    path = bundle / "report_inputs.json"
    data = json.loads(path.read_text())
    flipped = 0
    for r in data["retirements"]:
        if r.get("bundled") is False:
            r["bundled"] = True
            flipped += 1
    assert flipped
    path.write_bytes(canonical_json(data))
    # Recompute report.json too, so only the ledger check can catch the relabelling.
    report = compute_report(ReportInputs.from_json_dict(data)).to_json_dict()
    (bundle / "report.json").write_bytes(canonical_json(report))
    manifest = json.loads((bundle / "manifest.json").read_text())
    for name in ("report_inputs.json", "report.json"):
        manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_bytes(canonical_json(manifest))
    key = load_private_key(settings.home).public_key()
    with pytest.raises(AuditError, match="differs from the ledger"):
        verify_bundle(bundle, key, workers=1)


def test_the_synthetic_series_is_gansu_shaped_within_the_limits() -> None:
    from datetime import date

    da, rt = synthetic_prices(date(2024, 6, 1), date(2024, 6, 3))
    for text in (da, rt):
        rows = text.strip().split("\n")[1:]
        assert len(rows) == 2 * 96
        prices = [Decimal(r.split(",")[1]) for r in rows]
        assert all(FLOOR <= p <= CAP for p in prices)
    da_prices = [Decimal(r.split(",")[1]) for r in da.strip().split("\n")[1:]]
    # Beijing 13:00 (solar trough) below 20:00 (evening peak) on the first day.
    assert da_prices[13 * 4] < da_prices[20 * 4]
