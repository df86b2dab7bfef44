"""The API on PostgreSQL: the same routes, the same JSON, the same refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import create_app
from api.settings import ApiSettings
from engine.access.keys import create_api_key
from engine.core.db import open_database, session_scope
from engine.core.settings import Settings
from engine.marketdata.store import load_price_file
from tests.api.conftest import FIXTURES, SITE_TOML, TestClient, assert_error, row_counts


@pytest.mark.postgres
def test_api_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=postgres_url)
    eng = open_database(settings)
    try:
        with session_scope(eng) as session:
            load_price_file(session, FIXTURES / "prices" / "de_lu_2025_03_da.csv", "DE-LU")
        h = {"Authorization": f"Bearer {create_api_key(eng, 'trader')[1]}"}
        app = create_app(settings, ApiSettings(bid_processes=0, gc_freeze=False))
        with TestClient(app) as client:
            assert client.post("/sites", json={"content": SITE_TOML}, headers=h).status_code == 201
            body = {"site": "example-dc", "day": "2025-03-30", "n_scenarios": 2}
            idem = {**h, "Idempotency-Key": "pg-1"}
            first = client.post("/bids", json=body, headers=idem)
            assert first.status_code == 201, first.text
            assert len(first.json()["curves"]) == 23  # spring DST day
            counts = row_counts(eng)
            replay = client.post("/bids", json=body, headers=idem)
            assert replay.json() == first.json()
            assert_error(client.post("/bids", json={**body, "n_scenarios": 3}, headers=idem), 422)
            assert_error(
                client.post("/bids", json={"site": "x" * 201, "day": "2025-03-30"}, headers=h), 422
            )
            assert row_counts(eng) == counts
            listed = client.get("/bids", params={"day": "2025-03-30"}, headers=h).json()
            assert listed["total"] == 1
            shown = client.get(f"/bids/{first.json()['id']}", headers=h).json()
            assert shown["provenance"] == first.json()["provenance"]
            assert client.get("/ledger/entries", headers=h).json()["tree_size"] == 0
    finally:
        eng.dispose()
