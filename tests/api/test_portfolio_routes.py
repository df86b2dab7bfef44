"""Portfolios over the API: roles, idempotent builds, reads of the allocation and the settled
results, submission to each zone's outbox, and bad input that writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from api.deps import utc_now
from engine.core.db import session_scope
from engine.marketdata.store import load_price_file
from engine.settlement.service import import_meter
from market import delivery_day_bounds, gate_closure_utc
from tests.api.conftest import (
    FIXTURES,
    Desk,
    TestClient,
    assert_error,
    make_app,
    prepare_home,
    row_counts,
)

PORTFOLIO = FIXTURES / "portfolio" / "nordics.toml"
DAY = "2023-10-20"
BODY = {"content": PORTFOLIO.read_text(encoding="utf-8"), "sites": ["dk1-dc", "dk2-dc"]}


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    d = prepare_home(tmp_path / "home")
    with session_scope(d.engine) as session:
        load_price_file(session, FIXTURES / "prices" / "dk2_2023_10_da.csv", "DK2")
    return d


@pytest.fixture
def client(desk: Desk) -> Iterator[TestClient]:
    with TestClient(make_app(desk)) as c:
        yield c


def _sites(client: TestClient, desk: Desk) -> None:
    for name in ("dk1-dc", "dk2-dc"):
        content = (PORTFOLIO.parent / f"{name}.toml").read_text(encoding="utf-8")
        r = client.post("/sites", json={"content": content}, headers=desk.auth("trader"))
        assert r.status_code == 201, r.text


def _registered(client: TestClient, desk: Desk) -> None:
    _sites(client, desk)
    r = client.post("/portfolios", json=BODY, headers=desk.auth("trader"))
    assert r.status_code == 201, r.text


def test_roles_are_enforced(client: TestClient, desk: Desk) -> None:
    _sites(client, desk)
    before = row_counts(desk.engine)
    assert_error(client.post("/portfolios", json=BODY), 401, "unauthorized")
    assert_error(client.post("/portfolios", json=BODY, headers=desk.auth("auditor")), 403)
    assert row_counts(desk.engine) == before
    assert client.post("/portfolios", json=BODY, headers=desk.auth("admin")).status_code == 201
    bid = {"day": DAY, "n_scenarios": 2}
    for path in ("/portfolios/nordics/bids", "/portfolios/nordics/settlements"):
        assert_error(client.post(path, json=bid, headers=desk.auth("auditor")), 403, "forbidden")
    assert_error(
        client.post("/portfolios/nordics/bids/1/submit", headers=desk.auth("auditor")), 403
    )
    for path in ("/portfolios", "/portfolios/nordics", "/portfolios/nordics/bids"):
        assert client.get(path, headers=desk.auth("auditor")).status_code == 200
        assert_error(client.get(path), 401)


def test_build_read_submit_settle(client: TestClient, desk: Desk, tmp_path: Path) -> None:
    _registered(client, desk)
    h = desk.auth("trader")
    again = client.post("/portfolios", json=BODY, headers=h)
    assert again.status_code == 200  # stored before as given
    listed = client.get("/portfolios", headers=h).json()
    assert [p["name"] for p in listed["items"]] == ["nordics"]
    shown = client.get("/portfolios/nordics", headers=h).json()
    assert (shown["sites"], shown["zones"], shown["currency"]) == (
        ["dk1-dc", "dk2-dc"],
        ["DK1", "DK2"],
        "EUR",
    )
    assert shown["migratable_jobs"][0]["name"] == "training-pool"

    key = {"Idempotency-Key": "nordics-2023-10-20"}
    body = {"day": DAY, "n_scenarios": 2}
    built = client.post("/portfolios/nordics/bids", json=body, headers=h | key)
    assert built.status_code == 201, built.text
    b = built.json()
    replay = client.post("/portfolios/nordics/bids", json=body, headers=h | key)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == b
    assert client.get("/portfolios/nordics/bids", headers=h).json()["total"] == 1
    assert b["status"] == "built"
    assert [(x["site"], x["zone"]) for x in b["bids"]] == [("dk1-dc", "DK1"), ("dk2-dc", "DK2")]
    for x in b["bids"]:  # each site's bid is an ordinary bid in its zone
        site_bid = client.get(f"/bids/{x['bid_id']}", headers=h).json()
        assert (site_bid["site"], site_bid["zone"], site_bid["day"]) == (x["site"], x["zone"], DAY)
        assert site_bid["curves"]
    placed = {k: Decimal(v) for k, v in b["migratable_energy_mwh"].items()}
    assert sum(placed.values()) == Decimal("600.000000")

    alloc = client.get(f"/portfolios/nordics/bids/{b['id']}/allocation", headers=h).json()
    assert {(j["job"], j["site"]) for j in alloc["jobs"]} == {
        ("training-pool", "dk1-dc"),
        ("training-pool", "dk2-dc"),
    }
    for j in alloc["jobs"]:
        assert len(j["intervals"]) == 24
        assert Decimal(j["energy_mwh"]) == placed[f"{j['job']}@{j['site']}"]
        assert all(0 <= i["it_mw"] <= 35.0 + 1e-6 for i in j["intervals"])
    assert Decimal(alloc["placement_cost"]["dk1-dc"]) == 0
    assert_error(client.get("/portfolios/other/bids/1", headers=h), 404)
    assert_error(client.get(f"/portfolios/nordics/bids/{b['id'] + 1}", headers=h), 404)

    # submit before the earliest gate closure: every site's bid goes to its zone's outbox
    gate = gate_closure_utc(date.fromisoformat(DAY), "DK1")
    client.app.dependency_overrides[utc_now] = lambda: gate - timedelta(hours=2)  # type: ignore[attr-defined]
    try:
        sub = client.post(f"/portfolios/nordics/bids/{b['id']}/submit", headers=h)
    finally:
        client.app.dependency_overrides.pop(utc_now)  # type: ignore[attr-defined]
    assert sub.status_code == 200, sub.text
    assert sub.json()["status"] == "submitted"
    home = desk.settings.home
    for site, zone in (("dk1-dc", "DK1"), ("dk2-dc", "DK2")):
        assert (home / "outbox" / zone / DAY / f"bid-{site}-{DAY}.json").is_file()

    # results are a 404 until every site is settled; settlement needs the meter of each site
    assert_error(client.get("/portfolios/nordics/results", params={"day": DAY}, headers=h), 404)
    for site, zone, mwh in (("dk1-dc", "DK1", "70"), ("dk2-dc", "DK2", "60")):
        lo, hi = delivery_day_bounds(date.fromisoformat(DAY), zone)
        lines = ["interval_start,energy_mwh"]
        t = lo
        while t < hi:
            lines.append(f"{t.isoformat()},{mwh}")
            t += timedelta(hours=1)
        meter = tmp_path / f"{site}.csv"
        meter.write_text("\n".join(lines) + "\n", encoding="utf-8")
        import_meter(desk.engine, meter, site, zone)
    settled = client.post("/portfolios/nordics/settlements", json={"day": DAY}, headers=h)
    assert settled.status_code == 201, settled.text
    result = settled.json()
    assert client.post("/portfolios/nordics/settlements", json={"day": DAY}, headers=h).json() == (
        result
    )
    read = client.get("/portfolios/nordics/results", params={"day": DAY}, headers=h).json()
    assert read == result
    for name, total in result["totals"].items():
        assert Decimal(total) == sum(Decimal(s[name]) for s in result["sites"])
    for s in result["sites"]:
        site = client.get("/settlements", params={"site": s["site"], "day": DAY}, headers=h)
        own = site.json()["totals"]
        assert Decimal(s["total_cost"]) == Decimal(own["total_cost"]) + Decimal(s["placement_cost"])
        assert Decimal(s["placement_cost"]) == Decimal(alloc["placement_cost"][s["site"]])
    # the carbon report needs configured grid factors: a one-line 422, nothing written
    carbon = client.get(
        "/portfolios/nordics/reports/carbon",
        params={"first_day": DAY, "last_day": DAY},
        headers=desk.auth("auditor"),
    )
    assert_error(carbon, 422, "invalid_request")


def test_bad_input_writes_nothing(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    before = row_counts(desk.engine)
    unknown = client.post("/portfolios", json=BODY, headers=h)  # sites not registered
    assert "no site 'dk1-dc'" in assert_error(unknown, 404, "not_found")["message"]
    assert row_counts(desk.engine) == before
    _sites(client, desk)
    before = row_counts(desk.engine)
    cases = [
        (BODY["content"].replace("dk2-dc = {", "dk9-dc = {"), "unknown site 'dk9-dc'"),
        (BODY["content"].replace("energy_mwh = 600.0", "energy_mwh = 6000.0"), "does not fit"),
        ("name = ", "not valid TOML"),
    ]
    for content, message in cases:
        r = client.post("/portfolios", json={**BODY, "content": content}, headers=h)
        error = assert_error(r, 422, "invalid_input")
        assert message in error["message"]
        assert "\n" not in error["message"]
    assert row_counts(desk.engine) == before
    assert_error(client.post("/portfolios/nordics/bids", json={"day": DAY}, headers=h), 404)
    r = client.post("/portfolios", json=BODY, headers=h)
    assert r.status_code == 201
    before = row_counts(desk.engine)
    for body, status in (
        ({"day": "2023-10-20", "as_of": "2023-10-19T13:00:00+00:00"}, 422),  # after gate
        ({"day": "2023-10-20", "as_of": "2023-10-19T10:00:00"}, 422),  # naive
        ({"day": "2023-10-20", "strategy": "nonsense"}, 422),
        ({"day": "2026-01-05"}, 422),  # no prices before the decision time this late
    ):
        r = client.post("/portfolios/nordics/bids", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert "\n" not in r.json()["error"]["message"]
    assert row_counts(desk.engine) == before
    # a portfolio with another content of the same name: 409 unless replace
    other = BODY["content"].replace("cost_per_mwh = 2.0", "cost_per_mwh = 3.0")
    assert_error(client.post("/portfolios", json={**BODY, "content": other}, headers=h), 409)
    assert row_counts(desk.engine) == before
    replaced = client.post(
        "/portfolios", json={**BODY, "content": other, "replace": True}, headers=h
    )
    assert replaced.status_code == 201
    assert replaced.json()["migratable_jobs"][0]["placements"][1]["cost_per_mwh"] == 3.0
    # a submitted hindsight build is refused and submits nothing
    hind = client.post(
        "/portfolios/nordics/bids",
        json={"day": DAY, "strategy": "perfect-foresight"},
        headers=h,
    )
    assert hind.status_code == 201, hind.text
    before = row_counts(desk.engine)
    refused = client.post(f"/portfolios/nordics/bids/{hind.json()['id']}/submit", headers=h)
    assert "hindsight" in assert_error(refused, 409, "conflict")["message"]
    assert row_counts(desk.engine) == before


def test_portfolio_builds_in_a_worker_process(desk: Desk) -> None:
    from api.app import create_app
    from api.settings import ApiSettings

    app = create_app(
        desk.settings, ApiSettings(bid_processes=1, backtest_executor="inline", gc_freeze=False)
    )
    h = desk.auth("trader")
    with TestClient(app) as client:
        _registered(client, desk)
        built = client.post("/portfolios/nordics/bids", json={"day": DAY}, headers=h)
        assert built.status_code == 201, built.text
        assert [b["site"] for b in built.json()["bids"]] == ["dk1-dc", "dk2-dc"]
        before = row_counts(desk.engine)
        late = client.post("/portfolios/nordics/bids", json={"day": "2026-01-05"}, headers=h)
        assert_error(late, 422, "no_price_scenarios")  # raised in the worker, mapped the same
        assert_error(client.post("/portfolios/none/bids", json={"day": DAY}, headers=h), 404)
        assert row_counts(desk.engine) == before
