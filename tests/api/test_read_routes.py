"""Read-only routes through the real app: market data, sites, bids, auth on every route.

One desk is prepared per module (prices, a site and three bids: a normal day and both DST days);
no test here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bidding import DACurve, clear_curve
from engine.bids.service import BidRequest, build_bid
from engine.sites.registry import register_site
from market import delivery_intervals, gate_closure_utc, get_zone
from tests.api.conftest import SITE_TOML, Desk, TestClient, assert_error, make_app, prepare_home

DK1_SITE = SITE_TOML.replace('name = "example-dc"', 'name = "dk1-dc"').replace(
    'zone = "DE-LU"', 'zone = "DK1"'
)
DAYS = {
    "normal": ("example-dc", date(2025, 3, 20), 24),
    "spring": ("example-dc", date(2025, 3, 30), 23),
    "autumn": ("dk1-dc", date(2023, 10, 29), 25),
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    d = prepare_home(tmp_path_factory.mktemp("read") / "home")
    register_site(d.engine, SITE_TOML, "toml")
    register_site(d.engine, DK1_SITE, "toml")
    for site, day, _ in DAYS.values():
        build_bid(d.engine, BidRequest(site=site, day=day, n_scenarios=3))
    return d


@pytest.fixture(scope="module")
def client(desk: Desk) -> Iterator[TestClient]:
    with TestClient(make_app(desk)) as c:
        yield c


def _bid_id(client: TestClient, desk: Desk, site: str, day: date) -> int:
    r = client.get(
        "/bids", params={"site": site, "day": day.isoformat()}, headers=desk.auth("auditor")
    )
    assert r.status_code == 200
    (item,) = r.json()["items"]
    return int(item["id"])


READ_ROUTES = [
    "/zones",
    "/zones/DE-LU",
    "/zones/DE-LU/products",
    "/prices?zone=DE-LU&as_of=2025-03-10T00:00:00%2B00:00",
    "/sites",
    "/sites/example-dc",
    "/bids",
    "/ledger/ppas",
    "/ledger/certificates",
    "/ledger/entries",
    "/jobs/runs",
    "/ledger/keys",
]


def test_health_needs_no_key_and_schema_is_served(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    assert "/bids" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize("path", READ_ROUTES)
def test_read_routes_need_a_valid_key(client: TestClient, desk: Desk, path: str) -> None:
    err = assert_error(client.get(path), 401, "unauthorized")
    assert "API key" in err["message"]
    assert client.get(path).headers["www-authenticate"] == "Bearer"
    assert_error(client.get(path, headers={"Authorization": "Bearer pdk_0_x"}), 401)
    assert_error(client.get(path, headers={"Authorization": "Basic abc"}), 401)
    forged = desk.tokens["auditor"][:-4] + "AAAA"
    assert_error(client.get(path, headers={"Authorization": f"Bearer {forged}"}), 401)
    for role in ("auditor", "trader", "admin"):
        assert client.get(path, headers=desk.auth(role)).status_code == 200


def test_zones_page_and_detail(client: TestClient, desk: Desk) -> None:
    h = desk.auth("auditor")
    first = client.get("/zones", params={"limit": 3}, headers=h).json()
    assert len(first["items"]) == 3
    assert first["next_offset"] == 3
    assert first["total"] >= 5
    rest = client.get("/zones", params={"limit": 100, "offset": 3}, headers=h).json()
    keys = [z["key"] for z in first["items"] + rest["items"]]
    assert len(keys) == first["total"]
    assert rest["next_offset"] is None
    de = client.get("/zones/DE-LU", headers=h).json()
    assert de["currency"] == "EUR"
    assert de["time_zone"] == "Europe/Berlin"
    assert Decimal(de["price_cap_per_mwh"]) == get_zone("DE-LU").price_cap
    assert [r["minutes"] for r in de["da_resolutions"]] == [60, 15]
    products = client.get("/zones/ERCOT/products", headers=h).json()
    assert {"REGUP", "REGDN"} <= {p["key"] for p in products["items"]}
    assert_error(client.get("/zones/NOPE", headers=h), 404, "unknown_market_key")
    assert_error(client.get("/zones/NOPE/products", headers=h), 404)
    assert_error(client.get("/zones", params={"limit": 0}, headers=h), 422, "validation_error")
    assert_error(client.get("/zones", params={"offset": -1}, headers=h), 422)


def test_prices_as_of_show_only_what_was_published(client: TestClient, desk: Desk) -> None:
    h = desk.auth("auditor")
    day = date(2025, 3, 20)
    gate = gate_closure_utc(day, "DE-LU")
    start = delivery_intervals(day, "DE-LU")[0]
    params: dict[str, Any] = {"zone": "DE-LU", "limit": 5000, "start": start.isoformat()}
    before = client.get("/prices", params={**params, "as_of": gate.isoformat()}, headers=h).json()
    assert before["items"] == []  # the D auction result is published after gate closure of D
    after = client.get(
        "/prices", params={**params, "as_of": "2025-03-19T12:00:00+00:00"}, headers=h
    ).json()
    starts = [p["interval_start"] for p in after["items"]]
    assert len(starts) == 24
    assert after["unit"] == "EUR/MWh"
    assert all(p["price_per_mwh"] is not None and p["price_per_mw"] is None for p in after["items"])
    paged = client.get(
        "/prices",
        params={**params, "as_of": "2025-03-19T12:00:00+00:00", "limit": 10, "offset": 20},
        headers=h,
    ).json()
    assert len(paged["items"]) == 4
    assert paged["next_offset"] is None
    assert paged["total"] == 24


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"zone": "DE-LU", "as_of": "2025-03-19T12:00:00"}, 422),  # naive
        ({"zone": "DE-LU", "as_of": "not a time"}, 422),
        ({"zone": "DE-LU"}, 422),  # as_of missing
        ({"as_of": "2025-03-19T12:00:00Z"}, 422),  # zone missing
        ({"zone": "DE-LU", "as_of": "0001-01-01T00:00:00Z"}, 422),
        ({"zone": "DE-LU", "as_of": "2025-03-19T12:00:00Z", "start": "2025-03-19"}, 422),
        ({"zone": "XX", "as_of": "2025-03-19T12:00:00Z"}, 404),
        ({"zone": "DE-LU", "series": "FCR", "as_of": "2025-03-19T12:00:00Z"}, 404),
    ],
)
def test_prices_bad_input(
    client: TestClient, desk: Desk, params: dict[str, str], status: int
) -> None:
    assert_error(client.get("/prices", params=params, headers=desk.auth("trader")), status)


def test_sites_list_and_detail(client: TestClient, desk: Desk) -> None:
    h = desk.auth("auditor")
    page = client.get("/sites", headers=h).json()
    assert [s["name"] for s in page["items"]] == ["dk1-dc", "example-dc"]
    assert client.get("/sites", params={"zone": "DK1"}, headers=h).json()["total"] == 1
    site = client.get("/sites/example-dc", headers=h).json()
    assert site["content"] == SITE_TOML
    assert site["jobs"] == ["training", "nightly-eval"]
    assert site["reserve_products"] == ["FCR", "AFRR_UP", "AFRR_DOWN"]
    assert_error(client.get("/sites/nope", headers=h), 404, "not_found")


@pytest.mark.parametrize("case", sorted(DAYS))
def test_bid_detail_on_normal_and_dst_days(client: TestClient, desk: Desk, case: str) -> None:
    site, day, n_intervals = DAYS[case]
    bid = client.get(f"/bids/{_bid_id(client, desk, site, day)}", headers=desk.auth("auditor"))
    assert bid.status_code == 200
    body = bid.json()
    zone = get_zone(body["zone"])
    intervals = delivery_intervals(day, zone)
    assert len(intervals) == n_intervals
    assert [c["interval_start"] for c in body["curves"]] == [
        t.isoformat().replace("+00:00", "Z") for t in intervals
    ]
    assert len(body["schedule"]) == n_intervals
    for c in body["curves"]:
        prices = [Decimal(p) for p in c["prices_per_mwh"]]
        assert prices == sorted(prices)
        assert prices[-1] == zone.price_cap
        assert all(a >= b for a, b in zip(c["quantities_mw"], c["quantities_mw"][1:], strict=False))
        curve = DACurve(intervals[0].to_pydatetime(), tuple(prices), tuple(c["quantities_mw"]))
        assert clear_curve(curve, zone.price_cap) == c["quantities_mw"][-1]
    prov = body["provenance"]
    assert prov["inputs_as_of"] == gate_closure_utc(day, zone).isoformat().replace("+00:00", "Z")
    assert prov["solver"] == "HIGHS"
    assert prov["solver_status"] == "optimal"
    assert len(prov["parameter_hash"]) == 64
    assert prov["code_version"]
    assert prov["price_sources"][0].startswith("DA: ")
    assert body["submission"]["status"] == "built"
    (block,) = body["block_bids"]
    assert block["job"] == "nightly-eval"
    # The night job runs 4 h at 10 MW IT, so its block holds at least 4 h of 10 MW times PUE.
    assert block["quantity_mw"] >= 10.0 * 1.25 - 1e-9
    assert body["day"] == day.isoformat()
    assert body["strategy"] == "forecast"


def test_bid_list_filters_and_bad_ids(client: TestClient, desk: Desk) -> None:
    h = desk.auth("trader")
    everything = client.get("/bids", headers=h).json()
    assert everything["total"] == 3
    ids = [b["id"] for b in everything["items"]]
    assert ids == sorted(ids, reverse=True)
    assert "curves" not in everything["items"][0]
    assert client.get("/bids", params={"site": "dk1-dc"}, headers=h).json()["total"] == 1
    assert client.get("/bids", params={"zone": "DE-LU"}, headers=h).json()["total"] == 2
    assert client.get("/bids", params={"status": "submitted"}, headers=h).json()["total"] == 0
    page = client.get("/bids", params={"limit": 2}, headers=h).json()
    assert len(page["items"]) == 2
    assert page["next_offset"] == 2
    assert_error(client.get("/bids", params={"day": "2025-13-01"}, headers=h), 422)
    assert_error(client.get("/bids", params={"strategy": "magic"}, headers=h), 422)
    assert_error(client.get("/bids/999999", headers=h), 404, "not_found")
    assert_error(client.get("/bids/abc", headers=h), 422, "validation_error")
    assert_error(client.get(f"/bids/{10**30}", headers=h), 422)
    assert_error(client.get("/bids/0", headers=h), 422)


def test_unknown_route_and_method_are_json(client: TestClient, desk: Desk) -> None:
    assert_error(client.get("/nope", headers=desk.auth("trader")), 404, "not_found")
    err = client.delete("/zones", headers=desk.auth("trader"))
    assert_error(err, 405, "method_not_allowed")


def test_empty_ledger_reads(client: TestClient, desk: Desk) -> None:
    h = desk.auth("auditor")
    entries = client.get("/ledger/entries", headers=h).json()
    assert entries == {"items": [], "tree_size": 0, "next": None}
    assert_error(client.get("/ledger/checkpoint", headers=h), 404)
    bad = {"index": 0, "tree_size": 1}
    assert_error(client.get("/ledger/proofs/inclusion", params=bad, headers=h), 404)
    assert_error(client.get("/ledger/ppas/none", headers=h), 404)
