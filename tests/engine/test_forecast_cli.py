"""``powerdesk forecast evaluate`` end to end on small synthetic files (own data)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli import main
from engine.io.epftoolbox import read_epftoolbox_csv
from tests.forecast.synthetic import ar_panel

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DE_PRICES = FIXTURES / "prices" / "de_lu_2025_03_da.csv"


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _epf_file(path: Path, n_days: int = 60) -> Path:
    panel = ar_panel(n_days)
    lines = ["date,Price,Load Forecast,Wind Forecast"]
    for i, day in enumerate(panel.days):
        for h in range(24):
            load, price = float(panel.features[i, h, 0]), float(panel.prices[i, h])
            lines.append(f"{day} {h:02d}:00:00,{price!r},{load!r},{load / 3!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _args(data: Path, out: Path, **over: str) -> list[str]:
    opts = {
        "--data": str(data),
        "--format": "epftoolbox",
        "--start": "2024-02-12",
        "--end": "2024-02-25",
        "--model": "similar-days",
        "--out": str(out),
        "--jobs": "1",
    }
    opts.update(over)
    argv = ["forecast", "evaluate"]
    for k, v in opts.items():
        argv += [k, v]
    return argv


def test_evaluate_writes_outputs_and_prints_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _epf_file(tmp_path / "epf.csv")
    out = tmp_path / "run"
    assert _run([*_args(data, out), "--json"]) == 0
    captured = capsys.readouterr()
    metrics = json.loads(captured.out)  # exactly one JSON document and nothing else
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert metrics["days"] == 14
    assert metrics["intervals"] == 14 * 24
    for key in ("mae", "rmae", "smape", "rmse", "pinball", "naive_mae"):
        assert np.isfinite(metrics[key])
    assert sorted(p.name for p in out.iterdir()) == [
        "forecast.png",
        "forecasts.csv",
        "metrics.json",
    ]
    table = pd.read_csv(out / "forecasts.csv")
    assert list(table.columns) == [
        "interval_start", "actual", "forecast", "q05", "q10", "q25", "q50", "q75", "q90", "q95"
    ]  # fmt: skip
    epf = read_epftoolbox_csv(data)
    i0 = epf.panel.index_of(pd.Timestamp("2024-02-12").date())
    expected = epf.panel.prices[i0 : i0 + 14].reshape(-1)
    assert np.array_equal(table["actual"].to_numpy(), expected)  # the dataset's price, in order
    assert table["interval_start"].iloc[0] == "2024-02-12T00:00:00"
    assert (out / "forecast.png").read_bytes()[:4] == b"\x89PNG"


def test_lear_and_a_diebold_mariano_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _epf_file(tmp_path / "epf.csv", 40)
    short = {"--start": "2024-02-07", "--end": "2024-02-09"}
    assert _run(_args(data, tmp_path / "naive", **short, **{"--model": "naive"})) == 0
    capsys.readouterr()
    argv = _args(data, tmp_path / "lear", **short, **{"--model": "lear-1456"})
    assert _run([*argv, "--compare", str(tmp_path / "naive" / "forecasts.csv"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["dm"]["compare"] == "forecasts.csv"
    assert metrics["dm"]["days"] == 3
    assert metrics["mae"] < metrics["naive_mae"]


def test_canonical_prices_on_real_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "de"
    argv = _args(
        DE_PRICES,
        out,
        **{
            "--format": "canonical",
            "--zone": "DE-LU",
            "--start": "2025-03-26",
            "--end": "2025-03-31",
        },
    )
    assert _run([*argv, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["intervals"] == 6 * 24 - 1  # 2025-03-30 has 23 hours
    table = pd.read_csv(out / "forecasts.csv")
    starts = pd.to_datetime(table["interval_start"], utc=True)
    assert (starts.diff().dropna() == timedelta(hours=1)).all()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"--model": "magic"}, "unknown model 'magic'"),
        ({"--format": "nope"}, "unknown format 'nope'"),
        ({"--start": "2024-13-01"}, "is not a date"),
        ({"--start": "2023-12-01"}, "outside the data"),
        ({"--end": "2024-02-01"}, "before --start"),
        ({"--jobs": "0"}, "at least 1"),
    ],
)
def test_bad_options_are_one_line_errors_that_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], over: dict[str, str], message: str
) -> None:
    data = _epf_file(tmp_path / "epf.csv", 30)
    out = tmp_path / "run"
    assert _run(_args(data, out, **over)) == 1
    err = capsys.readouterr().err
    assert err.startswith("powerdesk: error:")
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: lines[:5] + lines[6:], "must be hour"),
        (lambda lines: [lines[0].replace("Price", "Prices"), *lines[1:]], "missing column"),
        (lambda lines: [*lines[:3], lines[3].replace(",", ",abc,", 1), *lines[4:]], "fields"),
        (lambda lines: [*lines[:3], lines[3].rsplit(",", 1)[0] + ",nan", *lines[4:]], "finite"),
        (lambda lines: [*lines[:3], lines[3].rsplit(",", 1)[0] + ",x1", *lines[4:]], "number"),
        (lambda lines: lines[:25] + lines[49:], "does not follow"),
    ],
)
def test_bad_data_files_are_one_line_errors_that_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object, message: str
) -> None:
    data = _epf_file(tmp_path / "epf.csv", 30)
    lines = data.read_text().splitlines()
    data.write_text("\n".join(edit(lines)) + "\n")  # type: ignore[operator]
    out = tmp_path / "run"
    assert _run(_args(data, out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("powerdesk: error:")
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_a_folder_with_other_files_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _epf_file(tmp_path / "epf.csv", 30)
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    assert _run(_args(data, out, **{"--start": "2024-01-20", "--end": "2024-01-21"})) == 1
    assert "not an empty or forecast output folder" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep"
