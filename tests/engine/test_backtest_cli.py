"""``powerdesk backtest`` through the real entry point, and executors giving identical results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from engine.backtest.executors import ExecutorSpec, parse_executor
from engine.backtest.runner import run_backtest
from engine.core.errors import PowerdeskError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DE_PRICES = FIXTURES / "prices" / "de_lu_2025_03_da.csv"
EXAMPLE_SITE = FIXTURES / "sites" / "example-dc.toml"


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _args(out: Path, **over: str) -> list[str]:
    opts = {
        "--site": str(EXAMPLE_SITE),
        "--prices": str(DE_PRICES),
        "--start": "2025-03-10",
        "--end": "2025-03-12",
        "--out": str(out),
        "--executor": "inline",
        "--scenarios": "3",
    }
    opts.update(over)
    argv = ["backtest"]
    for k, v in opts.items():
        argv += [k, v]
    return argv


def test_cli_writes_outputs_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bt"
    assert _run(_args(out, **{"--strategy": "deterministic"})) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategy"] == "deterministic"
    assert summary["days"] == 2
    assert f"total_cost                     {summary['total_cost']} EUR" in printed
    assert "regret_vs_perfect_foresight" in printed
    rows = (out / "days.csv").read_text().splitlines()
    assert rows[0] == (
        "day,energy_cost,reserve_revenue,imbalance_cost,degradation_cost,total_cost,grid_energy_mwh"
    )
    assert [r.split(",")[0] for r in rows[1:]] == ["2025-03-10", "2025-03-11"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"--strategy": "oracle"}, "unknown strategy 'oracle'"),
        ({"--end": "2025-03-10"}, "end 2025-03-10 must be after start 2025-03-10"),
        ({"--start": "2025-03-10T00:00"}, "is not a delivery day YYYY-MM-DD"),
        ({"--end": "2025-04-03"}, "do not cover delivery day 2025-04-01"),
        ({"--start": "2025-03-01"}, "do not cover the history needed for delivery day 2025-03-01"),
        ({"--executor": "cluster"}, "unknown executor 'cluster'"),
        ({"--scenarios": "0"}, "scenarios must be at least 1"),
        ({"--site": "missing.toml"}, "missing.toml: no such file"),
    ],
)
def test_cli_bad_input_one_line_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], over: dict[str, str], message: str
) -> None:
    out = tmp_path / "bt"
    assert _run(_args(out, **over)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("powerdesk: error: ")
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_price_file_names_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "naive.csv"
    lines = DE_PRICES.read_text().splitlines()
    lines[3] = lines[3].replace("+00:00", "")
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "bt"
    assert _run(_args(out, **{"--prices": str(bad)})) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{bad}, row 4: naive timestamp" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["naive.csv"]


def test_failed_rerun_keeps_previous_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bt"
    assert _run(_args(out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _run(_args(out, **{"--end": "2025-04-05"})) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bt"]
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "todo.txt").write_text("keep me")
    assert _run(_args(stranger)) == 1
    assert "not a backtest output directory" in capsys.readouterr().err
    assert (stranger / "todo.txt").read_text() == "keep me"


def test_executor_specs() -> None:
    assert parse_executor("local") == ExecutorSpec("local", 2)
    assert parse_executor("local:3") == ExecutorSpec("local", 3)
    assert parse_executor("inline") == ExecutorSpec("inline", 1)
    assert parse_executor("dask://127.0.0.1:8786") == ExecutorSpec(
        "dask", 0, "tcp://127.0.0.1:8786"
    )
    for bad in ("dask://host", "local:0", "threads", "dask://h:99999"):
        with pytest.raises(PowerdeskError):
            parse_executor(bad)


def test_local_pool_and_dask_give_the_inline_bytes(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")

    def run(executor: str, out: Path) -> dict[str, bytes]:
        result = run_backtest(
            EXAMPLE_SITE,
            DE_PRICES,
            "2025-03-27",
            "2025-04-01",  # five days across the DST switch, split over workers
            n_scenarios=3,
            executor=executor,
            out=out,
            progress=False,
        )
        run_info = json.loads((out / "run.json").read_text())
        assert run_info["executor"] == result.executor
        return result.files

    inline = run("inline", tmp_path / "inline")
    pooled = run("local", tmp_path / "local")
    assert pooled == inline
    with distributed.LocalCluster(
        processes=False,
        n_workers=1,
        threads_per_worker=2,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        dask = run(f"dask://{address}", tmp_path / "dask")
    assert dask == inline


def test_unreachable_dask_scheduler_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "bt"
    code = _run(_args(out, **{"--executor": f"dask://127.0.0.1:{port}"}))
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot reach the dask scheduler" in err
    assert not out.exists()
