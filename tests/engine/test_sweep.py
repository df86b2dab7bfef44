"""Scenario sweeps: each row equals the single backtest of its setting, regret is against one
perfect-foresight run, outputs are deterministic, bad grids are one-line errors."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.backtest.runner import run_backtest
from engine.backtest.sweep import run_sweep
from engine.core.errors import PowerdeskError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "caiso-dc.toml"
PRICES = FIXTURES / "prices" / "caiso_2020_03_da.csv"
RESERVES = FIXTURES / "prices" / "caiso_2020_03_reserves.csv"
PERIOD = {"start": "2020-03-08", "end": "2020-03-10"}  # the spring DST day and the next


def test_sweep_rows_equal_single_backtests_and_regret_is_against_perfect_foresight(
    tmp_path: Path,
) -> None:
    result = run_sweep(
        SITE,
        PRICES,
        reserve_prices=RESERVES,
        strategies=["forecast", "price-taker"],
        n_scenarios=[3, 2],
        seeds=[0],
        executor="inline",
        out=tmp_path / "sweep",
        progress=False,
        **PERIOD,
    )
    settings = [(r.strategy, r.n_scenarios, r.seed) for r in result.rows]
    assert settings == [("forecast", 2, 0), ("forecast", 3, 0), ("price-taker", None, None)]
    single = run_backtest(
        SITE, PRICES, strategy="forecast", reserve_prices=RESERVES, n_scenarios=3,
        executor="inline", progress=False, **PERIOD,
    )  # fmt: skip
    assert result.rows[1].totals["total_cost"] == Decimal(single.summary["total_cost"])
    assert result.perfect_total == Decimal(single.summary["perfect_foresight_total_cost"])
    for r in result.rows:
        assert r.regret == r.totals["total_cost"] - result.perfect_total
        assert r.regret >= Decimal("-0.05")  # nothing beats perfect foresight, reserves included
    assert result.rows[-1].regret > 0  # the flat schedule pays for not shifting
    # capture: the share of the value of flexibility (price taker -> perfect foresight) earned
    taker = result.rows[-1].totals["total_cost"]
    assert result.rows[-1].capture == 0
    for r in result.rows[:2]:
        share = (taker - r.totals["total_cost"]) / (taker - result.perfect_total)
        assert r.capture is not None
        assert abs(r.capture - share) <= Decimal("0.00005")
        assert Decimal(0) < r.capture <= 1
    assert single.summary["capture"] == str(result.rows[1].capture)
    assert Decimal(single.summary["price_taker_total_cost"]) == taker
    table = list(csv.DictReader(io.StringIO((tmp_path / "sweep" / "sweep.csv").read_text())))
    assert [row["strategy"] for row in table] == ["forecast", "forecast", "price-taker"]
    assert table[2]["n_scenarios"] == ""
    assert Decimal(table[0]["regret_vs_perfect_foresight"]) == result.rows[0].regret
    assert Decimal(table[0]["capture"]) == result.rows[0].capture
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    best = min(result.rows, key=lambda r: r.totals["total_cost"])
    assert Decimal(summary["best"]["total_cost"]) == best.totals["total_cost"]
    assert summary["days"] == 2
    assert summary["inputs"]["reserve_prices"]["file"] == RESERVES.name
    assert (tmp_path / "sweep" / "sweep.png").read_bytes().startswith(b"\x89PNG")
    again = run_sweep(
        SITE, PRICES, reserve_prices=RESERVES, strategies=["forecast", "price-taker"],
        n_scenarios=[2, 3], seeds=[0], executor="local:2", progress=False, **PERIOD,
    )  # fmt: skip
    assert again.files == result.files  # same inputs, same bytes, on another executor


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategies": ["oracle"]}, "unknown strategy"),
        ({"strategies": []}, "at least one strategy"),
        ({"n_scenarios": []}, "at least one scenario count"),
        ({"n_scenarios": [0]}, "at least 1"),
        ({"seeds": [-1]}, "must not be negative"),
        ({"start": "2020-03-10", "end": "2020-03-10"}, "must be after"),
    ],
)
def test_bad_sweeps_are_one_line_errors(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {**PERIOD, "executor": "inline", "progress": False}
    args.update(kwargs)
    with pytest.raises(PowerdeskError, match=message) as err:
        run_sweep(SITE, PRICES, out=tmp_path / "out", **args)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_sweep_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    base = ["sweep", "--site", str(SITE), "--prices", str(PRICES), "--start", PERIOD["start"]]
    base += ["--end", PERIOD["end"], "--executor", "inline", "--out", str(tmp_path / "s")]
    with pytest.raises(SystemExit) as bad:
        main([*base, "--scenarios", "3,x"])
    assert bad.value.code == 1
    assert "comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main([*base, "--strategies", "deterministic", "--scenarios", "2"])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "deterministic" in out
    assert "perfect foresight total_cost" in out
    assert (tmp_path / "s" / "sweep.csv").is_file()
