"""``powerdesk prices import`` and ``powerdesk prices load`` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from engine.io.canonical import read_price_csv

DATA = Path(__file__).resolve().parent / "data" / "prices"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prices"


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_import_prints_rows_and_span(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rebap.csv"
    src = str(DATA / "rebap_2024_10_27.csv")
    code = _run(["prices", "import", src, "--format", "rebap", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "100 rows" in printed
    assert "UTC 2024-10-26T22:00:00+00:00 to 2024-10-27T23:00:00+00:00" in printed
    series = read_price_csv(out, "DE-LU", series="IMBALANCE")
    assert len(series.frame) == 100
    assert out.read_text().splitlines()[0] == "interval_start,price,interval_end"


def test_import_bad_file_one_line_error_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    lines = (DATA / "greendcc_2022_11_06.csv").read_text().splitlines()
    lines[5] = lines[5].replace(",", ",abc", 1)
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    code = _run(["prices", "import", str(bad), "--format", "greendcc", "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"powerdesk: error: {bad}, row 6: ")
    assert "is not a number" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_import_unknown_zone_and_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = str(DATA / "energinet_2023_10_28_30.csv")
    out = str(tmp_path / "o.csv")
    code = _run(["prices", "import", src, "--format", "energinet", "--zone", "XX", "--out", out])
    assert code == 1
    assert "unknown zone 'XX'" in capsys.readouterr().err
    code = _run(["prices", "import", src, "--format", "nope", "--out", out])
    assert code == 2  # usage error from the option parser, lists the choices
    assert "entsoe" in capsys.readouterr().err


def test_load_twice_is_a_no_op(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    da = str(FIXTURES / "dk1_2023_10_da.csv")
    assert _run(["prices", "load", da, "--zone", "DK1", "--series", "DA"]) == 0
    assert "loaded as dataset 1 (745 rows" in capsys.readouterr().out
    assert _run(["prices", "load", da, "--zone", "DK1", "--series", "DA"]) == 0
    assert "already loaded as dataset 1" in capsys.readouterr().out
    # the same file as another zone: DK1 and DE-LU share the grid, so it is a conflict, not a
    # silent second copy
    assert _run(["prices", "load", da, "--zone", "DE-LU"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "loaded before as price DK1/DA" in err
