"""The PDF carbon report reads as an auditor's statement: title block, figures, instruments,
dataset hashes, how to verify; the plots after it; the same inputs give the same bytes."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from carbon import ReportInputs, compute_report
from cli import main
from engine.reporting.carbon import write_report
from tests.conftest import FIXTURES

CARBON = FIXTURES / "carbon"
METER = CARBON / "example-dc_2025_03_meter.csv"
RETIREMENTS = CARBON / "example-dc_2025_03_retirements.jsonl"
MIX = FIXTURES / "de_2025_03_smard_generation_hourly.csv"

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_SHOW = re.compile(rb"\[(.*?)\]\s*TJ|\((.*?)(?<!\\)\)\s*Tj", re.S)
_PIECE = re.compile(rb"\((.*?)(?<!\\)\)", re.S)


def _unescape(raw: bytes) -> str:
    out = re.sub(rb"\\([()\\])", rb"\1", raw)
    return out.decode("latin-1")


def pdf_pages(data: bytes) -> list[str]:
    """Text shown on each page, in content order (kerned pieces joined)."""
    pages: list[str] = []
    for body in _STREAM.findall(data):
        try:
            content = zlib.decompress(body)
        except zlib.error:
            continue
        if b"BT" not in content:
            continue
        lines = []
        for tj, tj_single in _SHOW.findall(content):
            pieces = _PIECE.findall(tj) if tj else [tj_single]
            lines.append("".join(_unescape(p) for p in pieces))
        pages.append("\n".join(lines))
    return pages


@pytest.fixture(scope="module")
def month_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("statement") / "report"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "report", "carbon", "--site", "example-dc", "--zone", "DE-LU",
                "--meter", str(METER), "--mix", str(MIX), "--retirements", str(RETIREMENTS),
                "--period", "2025-03", "--out", str(out),
            ]
        )  # fmt: skip
    assert done.value.code in (0, None)
    return out


def test_page_one_is_the_statement(month_report: Path) -> None:
    data = (month_report / "report.pdf").read_bytes()
    assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 2
    doc = json.loads((month_report / "report.json").read_text(encoding="utf-8"))
    pages = pdf_pages(data)
    assert len(pages) >= 2
    page1 = pages[0]
    # Title block: site, zone, period, methodology, generated-at from the inputs.
    for text in (
        "SCOPE 2 CARBON STATEMENT",
        "example-dc",
        "DE-LU (Europe/Berlin)",
        "2025-03 (local calendar of DE-LU)",
        "743 hours",
        "powerdesk.carbon.report/1",
        "Generated at",
        "2025-03-31 22:00Z",
        doc["inputs_sha256"],
    ):
        assert text in page1, text
    # The figures with their units.
    for key, places, unit in (
        ("consumption_mwh", 3, "MWh"),
        ("location_based_tco2e", 3, "tCO2e"),
        ("market_based_annual_tco2e", 3, "tCO2e"),
        ("market_based_hourly_tco2e", 3, "tCO2e"),
        ("cfe_score", 4, "ratio 0-1"),
        ("matched_only_score", 4, "ratio 0-1"),
        ("green_share_annual", 4, "ratio 0-1"),
        ("green_share_hourly", 4, "ratio 0-1"),
        ("unapplied_excess_mwh", 3, "MWh"),
    ):
        value = f"{Decimal(doc[key]):,.{places}f}"
        assert re.search(rf"{re.escape(value)}\n{re.escape(unit)}\n", page1), (key, value)
    # Instruments retired by scheme: count and MWh.
    retired = [i for i in doc["instruments"] if i["scheme"] == "GO"]
    mwh = sum(Decimal(i["energy_wh"]) for i in retired) / 1_000_000
    assert f"GO\nhydro\n{len(retired)}\n{mwh:,.3f}\n" in page1
    # Every dataset by its SHA-256, and how to verify the bundle.
    assert hashlib.sha256(MIX.read_bytes()).hexdigest() in page1
    assert hashlib.sha256(METER.read_bytes()).hexdigest() in page1
    assert "powerdesk audit verify DIR --public-key PEM" in page1
    assert "Signature" in page1
    # The plots come after the statement.
    assert "Hourly load and matched carbon-free supply" not in page1
    assert any("Hourly load and matched carbon-free supply" in p for p in pages[1:])


def test_the_same_inputs_give_the_same_pdf(month_report: Path, tmp_path: Path) -> None:
    inputs = ReportInputs.from_json_dict(
        json.loads((month_report / "report_inputs.json").read_text(encoding="utf-8"))
    )
    files = write_report(compute_report(inputs), inputs, tmp_path / "again")
    assert files.pdf.read_bytes() == (month_report / "report.pdf").read_bytes()
