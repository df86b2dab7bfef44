"""``powerdesk scheduler``: jobs, runs, run --once, trigger, bad configuration, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import main
from tests.scheduler.conftest import write_config


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_jobs_lists_next_runs_in_utc_and_local(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(home, (("example-dc", "DE-LU"), ("tx-dc", "ERCOT")))
    code, out, _ = _run(["scheduler", "jobs", "--json"], capsys)
    assert code == 0
    jobs = {j["id"]: j for j in json.loads(out)}
    assert set(jobs) == {
        "bid:example-dc",
        "settle:example-dc",
        "report:example-dc",
        "bid:tx-dc",
        "settle:tx-dc",
        "report:tx-dc",
    }
    tx = jobs["bid:tx-dc"]
    assert tx["time_zone"] == "America/Chicago"
    assert tx["next_run_local"][11:16] == "09:00"
    assert tx["misfire_grace_s"] == 30 * 60
    code, out, _ = _run(["scheduler", "jobs"], capsys)
    assert code == 0
    assert "bid:example-dc" in out


def test_run_once_records_failures_and_runs_lists_them(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(home, body="catch_up_days = 2\n[bid]\nenabled = false\n[report]\nenabled = false")
    code, out, err = _run(["scheduler", "run", "--once", "--json"], capsys)
    # engine.services is not wired here: every due run fails cleanly, the exit code says so
    assert code == 1
    outcomes = json.loads(out)
    assert len(outcomes) == 2
    assert {o["status"] for o in outcomes} == {"failed"}
    assert err.startswith("powerdesk: error: 2 of 2 due job(s) failed")
    assert err.count("\n") == 1
    code, out, _ = _run(["scheduler", "runs", "--json"], capsys)
    assert code == 0
    runs = json.loads(out)
    assert sorted(r["key"] for r in runs) == sorted(o["key"] for o in outcomes)
    assert all(r["attempt"] == 1 and r["status"] == "failed" for r in runs)
    # a manual trigger of one of them is the next attempt
    code, _, err = _run(["scheduler", "trigger", runs[0]["key"]], capsys)
    assert code == 1
    assert "attempt 2 failed" in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("catch_up_days = -1", "catch_up_days must be >= 0"),
        ('[settle]\ntime = "25:00"', "must be a local time HH:MM"),
        ("[report]\nday_of_month = 31", "day_of_month must be within 1..28"),
        ("[bid]\nlead_minutes = 900", "use a shorter lead"),
        ("bogus = 1", "unknown setting(s): bogus"),
    ],
)
def test_bad_configuration_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    write_config(home, body=body)
    code, _, err = _run(["scheduler", "jobs"], capsys)
    assert code == 1
    assert message in err
    assert err.count("\n") == 1


def test_missing_configuration_and_unknown_zone(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["scheduler", "jobs"], capsys)
    assert code == 1
    assert "no scheduler configuration" in err
    path = write_config(tmp_path / "x", (("dc", "XX-NOWHERE"),))
    code, _, err = _run(["scheduler", "jobs", "--config", str(path)], capsys)
    assert code == 1
    assert "dc.toml" in err


def test_scheduler_process_stops_cleanly_on_sigterm(home: Path) -> None:
    # only a monthly report with no catch-up: nothing is due, the process just waits
    write_config(
        home,
        body="catch_up_days = 0\n[bid]\nenabled = false\n"
        "[settle]\nenabled = false\n[report]\ncatch_up_days = 0",
    )
    env = dict(os.environ, POWERDESK_HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "scheduler", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        assert proc.stderr is not None
        while "Scheduler started" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
        assert "Scheduler started" in seen
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # close the pipes: no unraisable warning in a later test
    assert proc.returncode == 0, seen + rest
    assert "finishing running jobs, then stopping" in rest
