"""The scheduler's ``replan`` job: the real-time stage run by itself, once per re-plan time, with
the function ``powerdesk bid --rt-stage`` and the backtest call (the same files come out)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from cli import main
from engine.bids.submission import OutboxAdapter
from engine.core.errors import InputFileError
from engine.scheduling.jobs import default_registry
from engine.scheduling.schedule import JobKind, JobRunner, job_specs, load_config
from market import delivery_intervals, get_zone
from tests.cli.test_bid_rt_stage import _rt as rt_prices

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SITE = FIXTURES / "sites" / "example-dc.toml"
DA = FIXTURES / "prices" / "de_lu_2025_03_da.csv"
DAY = date(2025, 3, 20)


def _config(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scheduler.toml"
    path.write_text(f'[[site]]\nfile = "{SITE}"\n\n{body}\n', encoding="utf-8")
    return path


def _rt(tmp_path: Path) -> Path:
    """Quarter-hourly real-time prices: the DA price and a spread that changes every 3 hours."""
    return rt_prices(tmp_path, lambda s, q: (30 if (s.hour // 3) % 2 else -30) + q)


def test_replan_is_off_unless_enabled_and_checks_its_settings(tmp_path: Path) -> None:
    kinds = {s.kind for s in job_specs(load_config(_config(tmp_path / "a", "")))}
    assert JobKind.REPLAN not in kinds
    on = load_config(_config(tmp_path / "b", "[replan]\nenabled = true\nevery_minutes = 60"))
    (spec,) = [s for s in job_specs(on) if s.kind is JobKind.REPLAN]
    assert spec.every == timedelta(hours=1)
    assert "every 60 min" in spec.describe()
    for body, message in [
        ("every_minutes = 45", "every_minutes, DE-LU"),
        ('forecast = "magic"', "forecast must be one of"),
        ("threshold = -1", "threshold must be a number >= 0"),
        ("lookback_days = 0", "lookback_days must be >= 1"),
    ]:
        bad = _config(tmp_path / "c", f"[replan]\nenabled = true\n{body}")
        with pytest.raises(InputFileError, match=message):
            load_config(bad)


def test_the_trigger_fires_at_every_replan_time(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, "[replan]\nenabled = true\nevery_minutes = 180"))
    (spec,) = [s for s in job_specs(cfg) if s.kind is JobKind.REPLAN]
    due = spec.replan_times(DAY)
    assert len(due) == 1 + 8
    trigger = spec.trigger()
    fires: list[datetime] = []
    prev, now = None, due[0] - timedelta(hours=1)
    while now < due[-1]:
        nxt = trigger.get_next_fire_time(prev, now)
        fires.append(nxt.astimezone(UTC))
        prev = now = nxt
    assert set(due) <= set(fires)
    # Each due time is a run of its own, with a key of its own.
    for at in due:
        assert [r.due_at for r in spec.due(at)] == [at]
    assert len({spec.replan_key(DAY, at) for at in due}) == len(due)
    # A tick that finds two re-plans within their grace runs only the later: it supersedes.
    late = load_config(
        _config(tmp_path / "late", "[replan]\nenabled = true\nevery_minutes = 60\n"
                "misfire_grace_minutes = 130")
    )  # fmt: skip
    (hourly,) = [s for s in job_specs(late) if s.kind is JobKind.REPLAN]
    times = hourly.replan_times(DAY)
    now = times[6] + timedelta(minutes=5)
    assert now - times[5] <= hourly.misfire_grace
    assert [r.due_at for r in hourly.due(now)] == [times[6]]


def test_the_job_writes_what_powerdesk_bid_rt_stage_writes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmodel import Session

    from engine.marketdata.store import load_price_file

    rt = _rt(tmp_path)
    with Session(engine) as session:
        load_price_file(session, DA, "DE-LU")
        load_price_file(session, rt, "DE-LU", "IMBALANCE")
        session.commit()
    cfg = load_config(
        _config(tmp_path / "cfg", "[report]\nenabled = false\n[replan]\nenabled = true\n"
                "every_minutes = 60\nthreshold = 5.0")
    )  # fmt: skip
    home = tmp_path / "home"
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    at = delivery_intervals(DAY, get_zone("DE-LU"))[11].to_pydatetime() - timedelta(minutes=1)
    key = f"replan:example-dc:{DAY.isoformat()}:{at.strftime('%H%MZ')}"
    early = runner.run(runner.resolve(key))
    assert early.status == "failed"  # no submitted bid yet: a clean failure, retried later
    assert early.error is not None
    assert "no submitted bid" in early.error
    bid = runner.run(runner.resolve(f"bid:DE-LU:example-dc:{DAY.isoformat()}"))
    assert bid.status == "succeeded", bid.error
    done = runner.run(runner.resolve(key))
    assert done.status == "succeeded", done.error
    assert done.result is not None
    assert done.result["replans"] == 1 + 12
    assert done.result["moved_mwh"] > 0  # the spread moved load and battery
    folder = home / "replans" / "example-dc" / DAY.isoformat() / at.strftime("%H%MZ")
    assert runner.run(runner.resolve(key)).status == "skipped"  # once per key
    job_csv = (folder / "replan.csv").read_text()
    job_doc = json.loads((folder / "replan.json").read_text())

    # The command on the same prices as files, at the same instant: the same re-plan.
    argv = ["bid", "--site", str(SITE), "--day", DAY.isoformat(), "--prices", str(DA)]
    argv += ["--imbalance-prices", str(rt), "--rt-stage", "--rt-every", "60"]
    argv += ["--rt-threshold", "5", "--out", str(tmp_path / "cli")]
    code = 0
    with freeze_time(at + timedelta(seconds=30)):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    assert code == 0
    assert (tmp_path / "cli" / "replan.csv").read_text() == job_csv
    cli_doc = json.loads((tmp_path / "cli" / "replan.json").read_text())
    assert cli_doc == job_doc
    assert job_doc["as_of"] == at.isoformat()


def test_a_bid_built_with_other_settings_is_rebuilt_with_them(
    engine: Engine, tmp_path: Path
) -> None:
    """A trader's bid (the API's build with a price model and seed of its own) keeps its
    settings, so the replan job rebuilds that very plan; before api_0004 it could not."""
    from sqlmodel import Session

    from engine.bids.service import BidRequest, build_bid, submit_bid, submitted_plan
    from engine.marketdata.store import load_price_file
    from engine.scheduling.daily import register_site_file, submission_time

    with Session(engine) as session:
        load_price_file(session, DA, "DE-LU")
        load_price_file(session, _rt(tmp_path), "DE-LU", "IMBALANCE")
        session.commit()
    register_site_file(engine, SITE)
    at = submission_time(DAY, "DE-LU")
    request = BidRequest("example-dc", DAY, "forecast", n_scenarios=4, seed=3, model="naive")
    built = build_bid(engine, request, now=at)
    assert built.decision == {
        "seed": 3,
        "model": "naive",
        "offer_reserves": True,
        "allow_breaches": False,
    }
    record = submit_bid(engine, built.id, OutboxAdapter(engine, tmp_path / "home"), now=at)
    rebuilt = submitted_plan(engine, record)
    assert rebuilt.plan.provenance.parameter_hash == record.parameter_hash
    assert rebuilt.config.model == "naive"
    cfg = load_config(_config(tmp_path / "cfg", "[replan]\nenabled = true"))
    home = tmp_path / "home"
    runner = JobRunner(engine, cfg, default_registry(), OutboxAdapter(engine, home), home)
    (spec,) = [s for s in runner.specs if s.kind is JobKind.REPLAN]
    key = spec.replan_key(DAY, spec.replan_times(DAY)[0])
    done = runner.run(runner.resolve(key))
    assert done.status == "succeeded", done.error
    assert done.result is not None
    assert done.result["bid_id"] == record.id
