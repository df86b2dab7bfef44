"""The desk in headless Chromium after the demo: sign-in by link, every page, the figures
against the API's, a bid built by a trader and refused to an auditor, retirement proofs checked
by the page's own script (and failing once tampered with), screenshots.

Screenshots go to a temporary folder; with ``POWERDESK_DESK_DOCS=1`` they are also written to
``docs/`` for docs/desk.md (and the demo then runs its backtest too, for the Backtests page).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli import app as cli_app
from engine.access.keys import create_api_key
from engine.core.db import open_database
from engine.core.settings import Settings
from engine.demo.run import DEMO_DAY, run_demo
from tests.web.cdp import Browser, Page, chromium_path
from web.session import create_signin_link

REPO = Path(__file__).resolve().parents[2]
DOCS = os.environ.get("POWERDESK_DESK_DOCS") == "1"
GRID = REPO / "fixtures" / "de_2025_03_smard_generation_hourly.csv"

# CI (.ci/run) installs Chromium and sets POWERDESK_REQUIRE_BROWSER: there, no skipping.
pytestmark = pytest.mark.skipif(
    chromium_path() is None and not os.environ.get("POWERDESK_REQUIRE_BROWSER"),
    reason="chromium is not installed (apt-get install chromium)",
)


@dataclass
class Desk:
    home: Path
    base: str
    settings: Settings
    shots: Path

    def link(self, role: str) -> str:
        return create_signin_link(open_database(self.settings), self.home, role, self.base).url

    def api_key(self, role: str) -> dict[str, str]:
        _, token = create_api_key(open_database(self.settings), role, f"browser test {role}")
        return {"Authorization": f"Bearer {token}"}

    def shot(self, page: Page, name: str) -> Path:
        path = page.screenshot(self.shots / f"desk-{name}.png")
        if DOCS:
            shutil.copy(path, REPO / "docs" / path.name)
        return path


def _job_runs(settings: Settings) -> None:
    """Two job runs as the scheduler records them: a settlement (succeeds: the demo settled the
    day already) and a bid for a day without prices (fails, with the engine's error)."""
    from engine.bids.service import BidRequest, build_bid
    from engine.scheduling.runs import run_once
    from engine.settlement.service import settle_site_day

    engine = open_database(settings)
    run_once(
        engine,
        f"settle:example-dc:{DEMO_DAY}",
        lambda _: settle_site_day(engine, "example-dc", "DE-LU", DEMO_DAY).to_json_dict(),
    )
    no_prices = date(2026, 1, 15)
    request = BidRequest(site="example-dc", day=no_prices, strategy="forecast")
    run_once(
        engine, f"bid:example-dc:{no_prices}", lambda _: {"bid": build_bid(engine, request).id}
    )


def _backtests(settings: Settings) -> None:
    """A backtest as `POST /backtests` runs it, and a sweep written under the home."""
    from engine.backtest.stored import BacktestRequest, create_backtest, run_backtest_job
    from engine.backtest.sweep import run_sweep

    engine = open_database(settings)
    request = BacktestRequest(site="example-dc", start=date(2025, 3, 10), end=date(2025, 3, 12))
    run_backtest_job(engine, create_backtest(engine, request).id, executor="inline")
    run_sweep(
        REPO / "fixtures" / "sites" / "example-dc.toml",
        REPO / "fixtures" / "prices" / "de_lu_2025_03_da.csv",
        "2025-03-10",
        "2025-03-12",
        strategies=("forecast", "price-taker"),
        n_scenarios=(3,),
        executor="inline",
        out=settings.home / "backtests" / "sweep-example-dc-2025-03",
        progress=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """The demo run into a fresh home, and `powerdesk serve`'s app on a free local port."""
    home = tmp_path_factory.mktemp("desk") / "home"
    settings = Settings(home=home, database_url=None, grid_factors=GRID)
    run_demo(settings, backtest=DOCS, echo=lambda *_: None)
    _job_runs(settings)
    _backtests(settings)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERDESK_")}
    env |= {"POWERDESK_HOME": str(home), "POWERDESK_GRID_FACTORS": str(GRID)}
    server = subprocess.Popen(
        [
            "timeout",
            "600",
            sys.executable,
            "-m",
            "uvicorn",
            "cli.serve:create_served_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the desk's server did not start")
            time.sleep(0.1)
        yield Desk(home, base, settings, tmp_path_factory.mktemp("desk-screenshots"))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


def _sign_in(browser: Browser, link: str, **viewport: int | bool) -> Page:
    page = browser.new_page(**viewport)  # type: ignore[arg-type]
    page.goto(link)
    page.wait("location.pathname === '/desk/' && document.querySelector('main h1')")
    return page


def test_without_a_session_the_desk_shows_only_the_sign_in_page(
    desk: Desk, browser: Browser
) -> None:
    page = browser.new_page()
    for path in ("/desk/", "/desk/certificates", "/desk/carbon", "/desk/positions"):
        page.goto(desk.base + path)
        text = page.text()
        assert "Sign in to the desk" in text
        for secret in ("example-dc", "700.8", "CFE", "EUR"):
            assert secret not in text, (path, secret)
    assert page.eval("document.querySelector('svg')") is None
    desk.shot(page, "signin")
    assert page.errors() == []


def test_sign_in_link_works_once_and_sets_a_strict_session_cookie(desk: Desk) -> None:
    runner = CliRunner()
    env = {"POWERDESK_HOME": str(desk.home), "POWERDESK_DATABASE_URL": None}
    out = runner.invoke(cli_app, ["desk", "url", "--role", "auditor", "--base", desk.base], env=env)
    assert out.exit_code == 0, out.output
    link = out.output.strip().splitlines()[-1]
    assert link.startswith(f"{desk.base}/desk/signin?code=")
    with httpx.Client() as client:
        first = client.get(link)
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=28800", "Path=/desk"):
            assert attribute.lower() in cookie.lower(), cookie
        csp = first.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("style-src")[0]
        assert client.get(f"{desk.base}/desk/").status_code == 200  # the session
    with httpx.Client() as other:
        again = other.get(link)
        assert again.status_code == 401
        assert "unknown, used or expired" in again.text
        # A pasted key that is not one: refused; a form without its CSRF token: refused.
        assert other.post(f"{desk.base}/desk/signin", data={"key": "pdk_x"}).status_code == 403


def test_auditor_sees_bids_certificates_and_carbon_but_may_not_bid(
    desk: Desk, browser: Browser
) -> None:
    page = _sign_in(browser, desk.link("auditor"))
    # Today: the demo site and its DA step curve drawn as a chart, one interval at a time.
    page.wait("document.querySelector('.curve-chart svg path.curve')")
    text = page.text()
    assert "example-dc" in text
    assert "Bid 1" in text
    assert "submitted" in text
    # One point per step of the first interval's curve, as stored.
    from engine.bids.service import get_bid

    steps = len(get_bid(open_database(desk.settings), 1).curves[0]["prices_per_mwh"])
    assert page.eval("document.querySelectorAll('.curve-chart svg circle').length") == steps
    options = page.eval("document.querySelectorAll('.curve-pick option').length")
    assert options == 23  # the DST day has 23 hours
    page.eval(
        "(() => { const s = document.querySelector('.curve-pick'); s.value = '12';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    page.wait("document.querySelector('.curve-chart p').innerText.includes('13:00')")
    assert page.eval("document.querySelector('form.build-bid')") is None
    desk.shot(page, "today")
    # Keyboard: the first Tab lands on the skip link.
    page.call("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Tab", "code": "Tab"})
    page.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Tab", "code": "Tab"})
    assert page.wait("document.activeElement.className") == "skip"

    # An auditor's bid is refused as the API refuses it.
    refused = page.eval(
        "fetch('/desk/bids', {method: 'POST', body: new URLSearchParams({csrf:"
        " document.querySelector('input[name=csrf]').value, site: 'example-dc',"
        " day: '2025-03-30', strategy: 'forecast'})}).then(async r => [r.status, await r.text()])"
    )
    assert refused[0] == 403
    assert "needs a trader or admin key" in refused[1]
    with httpx.Client(base_url=desk.base) as api:
        body = {"site": "example-dc", "day": DEMO_DAY.isoformat()}
        assert api.post("/bids", json=body, headers=desk.api_key("auditor")).status_code == 403

    # Certificates: 700.8 MWh retired, every retirement's proof verified by the page's script.
    page.goto(f"{desk.base}/desk/certificates")
    page.wait("document.querySelector('.proof-summary.verified, .proof-summary.failed')")
    text = page.text()
    with httpx.Client(base_url=desk.base, headers=desk.api_key("auditor")) as api:
        retired = api.get("/ledger/certificates", params={"state": "retired", "limit": 500})
    retired_mwh = Decimal(sum(c["energy_wh"] for c in retired.json()["items"])) / 1_000_000
    assert retired_mwh == Decimal("700.810578")
    assert "700.8 MWh" in text
    assert f"{retired_mwh} MWh" in text
    assert "All 23 retirement proofs verified in this browser" in text
    verified = "document.querySelectorAll('#retirements .badge.ok').length"
    assert page.eval(verified) == 23
    assert "checkpoint signature verified" in page.eval(
        "document.getElementById('signature-status').innerText"
    )
    desk.shot(page, "certificates")
    # Tamper with one proof's path: the page's own check fails it.
    page.eval(
        "(() => { const n = document.getElementById('data-proofs');"
        " const d = JSON.parse(n.textContent); const p = d.proofs[3].proof_b64;"
        " const b = atob(p[0]); p[0] = btoa(String.fromCharCode(b.charCodeAt(0) ^ 1) + b.slice(1));"
        " n.textContent = JSON.stringify(d); document.getElementById('reverify').click(); })()"
    )
    page.wait("document.querySelector('.proof-summary.failed')")
    assert "1 of 23 retirement proofs failed" in page.text()
    assert page.eval(verified) == 22
    assert page.eval("document.querySelectorAll('#retirements .badge.bad').length") == 1
    desk.shot(page, "proof-failed")

    # Carbon: the CFE score as the API computes it.
    page.goto(f"{desk.base}/desk/carbon")
    charts = (
        "document.querySelector('.load-chart svg path')",
        "document.querySelector('.cfe-chart rect')",
    )
    page.wait(" && ".join(charts))
    with httpx.Client(base_url=desk.base, headers=desk.api_key("auditor")) as api:
        params = {"site": "example-dc", "first_day": DEMO_DAY, "last_day": DEMO_DAY}
        figures = api.get("/reports/carbon", params=params).json()
    text = page.text()
    assert "CFE SCORE" in text.upper()
    assert figures["cfe_score"] in text
    assert f"{Decimal(figures['cfe_score']) * 100:.1f} %" in text
    assert page.eval("document.querySelector('a[href$=\"report.html\"]')") is not None
    desk.shot(page, "carbon")

    # Positions: the settlement's total, a chart and the CSV.
    page.goto(f"{desk.base}/desk/positions")
    page.wait("document.querySelector('.bar-chart svg rect')")
    with httpx.Client(base_url=desk.base, headers=desk.api_key("auditor")) as api:
        settled = api.get("/settlements", params={"site": "example-dc", "day": DEMO_DAY}).json()
    total = Decimal(settled["totals"]["total_cost"])
    assert f"{total:,.2f} EUR" in page.text()
    csv_text = page.eval("fetch('/desk/positions.csv').then(r => r.text())")
    assert "example-dc,2025-03-30,1,EUR" in csv_text
    assert str(total) in csv_text
    desk.shot(page, "positions")

    page.goto(f"{desk.base}/desk/operations")
    text = page.text()
    assert f"settle:example-dc:{DEMO_DAY}" in text
    assert "succeeded" in text
    assert "failed" in text
    desk.shot(page, "operations")

    page.goto(f"{desk.base}/desk/backtests")
    page.wait("document.querySelector('.backtest-chart svg path')")
    page.wait("document.querySelector('.bar-chart svg rect')")  # the sweep's regrets
    text = page.text()
    assert "backtest 1" in text
    assert "Sweep sweep-example-dc-2025-03" in text
    desk.shot(page, "backtests")
    assert page.errors() == []


def test_trader_builds_a_bid_and_is_refused_what_the_api_refuses(
    desk: Desk, browser: Browser
) -> None:
    page = _sign_in(browser, desk.link("trader"))
    page.wait("document.querySelector('form.build-bid')")
    # No CSRF token, no bid.
    status = page.eval(
        "fetch('/desk/bids', {method: 'POST', body: new URLSearchParams({site: 'example-dc',"
        " day: '2025-03-30', strategy: 'forecast'})}).then(r => r.status)"
    )
    assert status == 403
    page.eval(
        "(() => { const f = document.querySelector('form.build-bid');"
        " f.querySelector('input[name=day]').value = '2025-03-30';"
        " f.querySelector('button[type=submit]').click(); })()"
    )
    notice = page.wait(
        "document.querySelector('.flash.ok') && document.querySelector('.flash.ok').innerText",
        timeout=90,
    )
    assert notice.startswith("Built bid ")
    assert "example-dc on 2025-03-30" in notice
    bid_id = int(notice.split()[2])
    page.wait("document.querySelector('.curve-chart svg path.curve')")
    assert f"Bid {bid_id}" in page.text()
    desk.shot(page, "trader-built")
    # Submitting after gate closure: the page says no, as the API does.
    page.eval(f"document.querySelector('form[action$=\"/bids/{bid_id}/submit\"] button').click()")
    error = page.wait(
        "document.querySelector('.flash.error') && document.querySelector('.flash.error').innerText"
    )
    assert error.startswith("Not submitted:")
    assert "gate closure" in error
    with httpx.Client(base_url=desk.base) as api:
        refused = api.post(f"/bids/{bid_id}/submit", headers=desk.api_key("trader"))
    assert refused.status_code == 409
    assert page.errors() == []


def test_desk_reads_on_a_phone(desk: Desk, browser: Browser) -> None:
    page = _sign_in(browser, desk.link("auditor"), width=390, height=844, mobile=True)
    page.wait("document.querySelector('.curve-chart svg path.curve')")
    # Nothing wider than the screen: wide tables scroll inside their own box.
    assert page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    desk.shot(page, "phone")
    assert page.errors() == []


def test_admin_manages_keys(desk: Desk, browser: Browser) -> None:
    page = _sign_in(browser, desk.link("admin"))
    page.goto(f"{desk.base}/desk/keys")
    page.wait("document.querySelector('table tbody tr')")
    assert "desk sign-in link (admin)" in page.text()
    desk.shot(page, "keys")
    assert page.errors() == []
