"""Carbon report use case: meter and EF readers, the CLI, and the offline recomputation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from carbon import ReportInputs, compute_report
from cli import main
from engine.core.errors import InputFileError, PowerdeskError
from engine.io.emission_factors import read_ef_csv, read_generation_mix_csv, read_residual_csv
from engine.io.meter import hourly_energy_mwh, read_meter_csv
from engine.reporting.carbon import parse_period, read_retirements_jsonl
from tests.conftest import FIXTURES

CARBON = FIXTURES / "carbon"
METER = CARBON / "example-dc_2025_03_meter.csv"
RETIREMENTS = CARBON / "example-dc_2025_03_retirements.jsonl"
MIX = FIXTURES / "de_2025_03_smard_generation_hourly.csv"
EM_EF = CARBON / "de_2023_03_electricitymaps_ef.csv"


def _run(args: list[str]) -> None:
    """Run the CLI as the console script does; success exits 0."""
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 0


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_meter_quarter_hours_add_up_to_hours_on_the_spring_dst_day() -> None:
    meter = read_meter_csv(METER)
    start, end = parse_period("2025-03-30", "DE-LU")
    assert (end - start).total_seconds() == 23 * 3600
    hours = [r.interval_start for r in meter.readings if start <= r.interval_start < end][::4]
    energy = hourly_energy_mwh(meter, hours)
    assert len(energy) == 23
    quarters = [r.energy_mwh for r in meter.readings if start <= r.interval_start < end]
    assert sum(energy.values()) == sum(quarters)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("interval_start,energy_mwh\n2025-03-01T00:00:00,1\n", "row 2: naive timestamp"),
        (
            "interval_start,energy\n2025-03-01T00:00:00+00:00,1\n",
            "row 1: missing column energy_mwh",
        ),
        (
            "interval_start,energy_mwh\n2025-03-01T00:00:00+00:00,-1\n",
            "row 2: energy_mwh -1 is below",
        ),
        (
            "interval_start,energy_mwh\n2025-03-01T00:00:00+00:00,1\n2025-03-01T00:00:00+00:00,1\n",
            "row 3: duplicate interval_start",
        ),
        ("interval_start,energy_mwh\n2025-03-01T00:00:00+00:00,abc\n", "row 2: energy_mwh 'abc'"),
        ("interval_start;energy_mwh\n", "row 1: wrong separator"),
        (
            "interval_start,energy_mwh,interval_end\n"
            "2025-03-01T00:30:00+00:00,1,2025-03-01T01:30:00+00:00\n",
            "row 2: interval 2025-03-01T00:30:00+00:00..2025-03-01T01:30:00+00:00 crosses",
        ),
    ],
)
def test_bad_meter_files_give_one_line_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, "m.csv", text)
    with pytest.raises(InputFileError) as info:
        read_meter_csv(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert problem in message


def test_meter_gap_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "m.csv",
        "interval_start,energy_mwh\n2025-03-01T00:00:00+00:00,1\n2025-03-01T00:15:00+00:00,1\n"
        "2025-03-01T01:00:00+00:00,1\n",
    )
    with pytest.raises(InputFileError, match="row 4: interval starts are not evenly spaced"):
        read_meter_csv(path)
    path = _write(tmp_path, "m2.csv", "interval_start,energy_mwh\n2025-03-01T00:00:00+00:00,1\n")
    meter = read_meter_csv(path)
    hours = [datetime(2025, 3, 1, 0, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC)]
    with pytest.raises(InputFileError, match="no reading for the UTC hour starting 2025-03-01T01"):
        hourly_energy_mwh(meter, hours)


def test_electricity_maps_fixture_is_read_exactly() -> None:
    ds = read_ef_csv(EM_EF, "Electricity Maps, ODbL")
    assert len(ds.ef_tco2e_per_mwh) == 744
    first = datetime(2023, 3, 1, tzinfo=UTC)
    assert ds.ef_tco2e_per_mwh[first] == Decimal("0.56185")
    assert ds.carbon_free_share[first] == Decimal("0.3477")
    assert ds.ef_residual_tco2e_per_mwh == {}
    assert ds.pin.role == "grid-ef"
    assert len(ds.pin.sha256) == 64


def test_generation_mix_fixture_gives_plausible_factors() -> None:
    ds = read_generation_mix_csv(MIX)
    assert len(ds.ef_tco2e_per_mwh) == 743
    values = list(ds.ef_tco2e_per_mwh.values())
    shares = list(ds.carbon_free_share.values())
    # German March 2025: direct grid intensity well inside 0.1..0.8 t/MWh, mostly renewable mix.
    assert all(Decimal("0.05") < v < Decimal("0.8") for v in values)
    assert all(Decimal(0) < s < Decimal(1) for s in shares)
    assert Decimal("0.3") < sum(shares) / len(shares) < Decimal("0.9")
    assert "IPCC" in ds.pin.source


def test_residual_file_hourly_and_annual(tmp_path: Path) -> None:
    hourly = _write(
        tmp_path, "r.csv", "interval_start,ef_residual_tco2e_per_mwh\n2025-03-01T00:00:00Z,0.7\n"
    )
    assert read_residual_csv(hourly).ef_residual_tco2e_per_mwh == {
        datetime(2025, 3, 1, tzinfo=UTC): Decimal("0.7")
    }
    annual = _write(tmp_path, "a.csv", "year,ef_residual_tco2e_per_mwh\n2025,0.65\n")
    assert read_residual_csv(annual).annual_ef_residual_tco2e_per_mwh == {2025: Decimal("0.65")}
    bad = _write(tmp_path, "b.csv", "year,ef_residual_tco2e_per_mwh\n25,0.65\n")
    with pytest.raises(InputFileError, match="row 2: year '25'"):
        read_residual_csv(bad)


def test_period_parsing() -> None:
    start, end = parse_period("2025-03", "DE-LU")
    assert start == datetime(2025, 2, 28, 23, tzinfo=UTC)
    assert end == datetime(2025, 3, 31, 22, tzinfo=UTC)
    start, end = parse_period("2025-10-26", "DE-LU")
    assert (end - start).total_seconds() == 25 * 3600
    with pytest.raises(PowerdeskError):
        parse_period("2025-13", "DE-LU")
    with pytest.raises(PowerdeskError):
        parse_period("2025-03..2025-02", "DE-LU")


def test_retirements_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    assert len(read_retirements_jsonl(RETIREMENTS)) > 500
    line = RETIREMENTS.read_text(encoding="utf-8").splitlines()[0]
    path = _write(
        tmp_path, "r.jsonl", line + "\n" + line.replace('"energy_wh":', '"energy":') + "\n"
    )
    with pytest.raises(InputFileError, match=r"row 2: retirement record lacks energy_wh"):
        read_retirements_jsonl(path)


def test_cli_writes_report_that_recomputes_from_its_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    _run(
        [
            "report", "carbon", "--site", "example-dc", "--zone", "DE-LU",
            "--meter", str(METER), "--mix", str(MIX), "--retirements", str(RETIREMENTS),
            "--period", "2025-03", "--out", str(out),
        ]
    )  # fmt: skip
    assert "location-based" in capsys.readouterr().out
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for key in (
        "location_based_tco2e", "market_based_annual_tco2e", "market_based_hourly_tco2e",
        "cfe_score", "matched_only_score", "green_share_annual", "green_share_hourly",
        "unapplied_excess_mwh",
    ):  # fmt: skip
        assert Decimal(doc[key]) >= 0
    assert doc["hours"] == 743
    assert Decimal(doc["green_share_hourly"]) <= Decimal(doc["green_share_annual"])
    pins = {d["name"]: d for d in doc["emission_factor_datasets"]}
    import hashlib

    assert pins[MIX.name]["sha256"] == hashlib.sha256(MIX.read_bytes()).hexdigest()
    assert doc["residual_mix"][0]["grid_average_used"] is True
    statuses = {i["retirement_id"]: i["status"] for i in doc["instruments"]}
    assert statuses["RET-DK1-WND-1"] == "device outside the site's market boundary"
    # The auditor's recomputation from report_inputs.json gives the very same document.
    inputs = ReportInputs.from_json_dict(
        json.loads((out / "report_inputs.json").read_text(encoding="utf-8"))
    )
    assert compute_report(inputs).to_json_dict() == doc
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2
    assert "RET-GO-HYD-2025-03" in page
    assert pins[MIX.name]["sha256"] in page
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_cli_with_electricity_maps_ef_over_local_days(tmp_path: Path) -> None:
    meter = _write(
        tmp_path,
        "m.csv",
        "interval_start,energy_mwh\n"
        + "".join(
            f"2023-03-{d:02d}T{h:02d}:00:00+00:00,50\n" for d in range(1, 32) for h in range(24)
        ),
    )
    out = tmp_path / "r"
    _run(
        [
            "report", "carbon", "--site", "dc", "--zone", "DE-LU", "--meter", str(meter),
            "--ef", str(EM_EF), "--period", "2023-03-02..2023-03-31", "--out", str(out),
        ]
    )  # fmt: skip
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # Local days 03-02..03-31: UTC 03-01T23:00 .. 03-31T22:00; 03-26 has 23 hours.
    assert doc["hours"] == 30 * 24 - 1
    ef = read_ef_csv(EM_EF)
    start, end = datetime(2023, 3, 1, 23, tzinfo=UTC), datetime(2023, 3, 31, 22, tzinfo=UTC)
    expected = sum(
        (Decimal(50) * v for h, v in ef.ef_tco2e_per_mwh.items() if start <= h < end),
        Decimal(0),
    )
    assert Decimal(doc["location_based_tco2e"]) == expected


def test_cli_bad_meter_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = _write(tmp_path, "m.csv", "interval_start,energy_mwh\n2025-03-01 00:00,5\n")
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "report", "carbon", "--site", "dc", "--zone", "DE-LU", "--meter", str(meter),
                "--mix", str(MIX), "--period", "2025-03", "--out", str(out),
            ]
        )  # fmt: skip
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{meter}, row 2: naive timestamp" in err
    assert not out.exists()


def test_cli_meter_not_covering_the_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "report", "carbon", "--site", "dc", "--zone", "DE-LU", "--meter", str(METER),
                "--mix", str(MIX), "--period", "2025-04", "--out", str(tmp_path / "o"),
            ]
        )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "no reading for the UTC hour starting 2025-03-31T22:00:00+00:00" in err
