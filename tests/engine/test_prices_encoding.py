"""``prices load`` of a file that is not UTF-8 text is a one-line error, exit 1, nothing stored
(issue 11, defect 11), whatever kind of canonical file and wherever the bad byte is."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from cli import main
from engine.core.db import make_engine
from engine.models.market import Dataset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prices"
DE = (FIXTURES / "de_lu_2025_03_da.csv").read_bytes()
RESERVES = (FIXTURES / "caiso_2020_03_reserves.csv").read_bytes()

CASES = {
    "latin-1 header": ("DE-LU", b"interval_start,pr\xe9is\n2025-03-01T00:00:00+00:00,1\n"),
    "bad byte in the first row": ("DE-LU", DE.replace(b"128.19", b"12\xff.19", 1)),
    "bad byte deep in the file": ("DE-LU", DE + b"2025-04-01T00:00:00+00:00,1\xff2\n"),
    "utf-16": ("DE-LU", DE[:2000].decode().encode("utf-16")),
    "reserve file": ("CAISO", RESERVES.replace(b"REGDN", b"REG\x80N", 1)),
    "feature file": ("DE-LU", b"interval_start,wind\n2025-04-01T00:00:00+00:00,1\xff2\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_prices_load_refuses_non_utf8(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("POWERDESK_HOME", str(home))
    monkeypatch.delenv("POWERDESK_DATABASE_URL", raising=False)
    zone, data = CASES[case]
    path = tmp_path / "prices.csv"
    path.write_bytes(data)
    with pytest.raises(SystemExit) as info:
        main(["prices", "load", str(path), "--zone", zone])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "not UTF-8 text" in err
    assert "Traceback" not in err
    assert "internal error" not in err
    db = next(home.glob("*.db"), None)
    if db is not None:
        engine = make_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Dataset)).scalar_one() == 0
        engine.dispose()
