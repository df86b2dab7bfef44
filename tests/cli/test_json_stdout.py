"""``--json``: exactly one JSON document on stdout, whatever native code prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.jsonout import stdout_for_json


def _powerdesk(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POWERDESK_HOME": str(home)}
    env.pop("POWERDESK_DATABASE_URL", None)
    code = "from cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_bench_bid_json_stdout_is_one_json_document(home: Path) -> None:
    done = _powerdesk(home, "bench", "bid", "--jobs", "3", "--scenarios", "2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of stdout, nothing before or after
    assert result["problem"] == {
        "kind": "synthetic",
        "jobs": 3,
        "scenarios": 2,
        "job_recourse": False,
    }
    for key in ("cold_s", "warm_median_s", "warm_solver_median_s", "variables", "constraints"):
        assert result[key] > 0
    assert result["warm_runs"] == 10
    # HiGHS announces itself from C++ on descriptor 1: that text must have gone to stderr.
    assert "Running HiGHS" not in done.stdout


def test_json_errors_stay_one_line_on_stderr(home: Path) -> None:
    done = _powerdesk(home, "bench", "bid", "--warm", "3", "--json")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == "powerdesk: error: --warm must be at least 10, got 3"


def test_native_writes_go_to_stderr_and_sys_stdout_to_stdout(
    capfd: pytest.CaptureFixture[str],
) -> None:
    print("before", flush=True)
    with stdout_for_json():
        os.write(1, b"native banner\n")
        print('{"ok": true}')
    os.write(1, b"after\n")
    out, err = capfd.readouterr()
    assert out == 'before\n{"ok": true}\nafter\n'
    assert err == "native banner\n"


def test_zones_json_in_process(capfd: pytest.CaptureFixture[str]) -> None:
    from cli import main

    with pytest.raises(SystemExit) as done:
        main(["zones", "--json"])
    assert done.value.code in (0, None)
    out, _ = capfd.readouterr()
    assert {z["key"] for z in json.loads(out)} >= {"DE-LU"}
