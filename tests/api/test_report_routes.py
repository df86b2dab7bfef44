"""GET /reports/carbon: the stored cycle's carbon figures, read-only roles, JSON errors."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from engine.access.keys import create_api_key
from engine.core.settings import Settings
from engine.demo.run import DEMO_DAY, run_demo
from tests.api.conftest import FIXTURES, Desk, assert_error, make_app, row_counts


def _desk(tmp_path: Path, grid: Path | None) -> tuple[Desk, dict[str, object]]:
    settings = Settings(home=tmp_path / "home", grid_factors=grid)
    summary = run_demo(settings, backtest=False, echo=lambda *_: None)
    from engine.core.db import open_database

    engine = open_database(settings)
    tokens = {r: create_api_key(engine, r, f"test {r}")[1] for r in ("trader", "auditor")}
    return Desk(settings, engine, tokens), summary


def test_carbon_report_matches_the_demo_report(tmp_path: Path) -> None:
    desk, summary = _desk(tmp_path, FIXTURES / "de_2025_03_smard_generation_hourly.csv")
    with TestClient(make_app(desk)) as client:
        params = {"site": "example-dc", "first_day": DEMO_DAY, "last_day": DEMO_DAY}
        assert_error(client.get("/reports/carbon", params=params), 401)
        before = row_counts(desk.engine)
        got = client.get("/reports/carbon", params=params, headers=desk.auth("auditor"))
        assert got.status_code == 200, got.text
        assert row_counts(desk.engine) == before
    report = summary["report"]
    assert isinstance(report, dict)
    written = json.loads(Path(report["json"]).read_bytes())
    for key in ("location_based_tco2e", "market_based_hourly_tco2e", "cfe_score"):
        assert got.json()[key] == written[key]


def test_carbon_report_errors_are_json(tmp_path: Path) -> None:
    desk, _ = _desk(tmp_path, None)
    with TestClient(make_app(desk)) as client:
        auth = desk.auth("auditor")
        day = DEMO_DAY.isoformat()
        params = {"site": "example-dc", "first_day": day, "last_day": day}
        assert_error(client.get("/reports/carbon", params=params, headers=auth), 422)
        unknown = {**params, "site": "nope"}
        assert_error(client.get("/reports/carbon", params=unknown, headers=auth), 404)
        naive = {**params, "first_day": "2025-03-30T00:00"}
        assert_error(client.get("/reports/carbon", params=naive, headers=auth), 422)
