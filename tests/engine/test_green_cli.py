"""``powerdesk ledger green`` and ``ledger gec`` through the real entry point: signed with the
parties' key files, one-line errors that write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_ledger_cli import _error, _json, _run

MONTH = [
    "--interval-start",
    "2026-10-01T00:00:00+08:00",
    "--interval-end",
    "2026-11-01T00:00+08:00",
]
CONTRACT = """
id = "GT-1"
buyer = "dc"
seller = "windco"
plant = "GS-WIND"
site = "dc"
zone = "CN-GS"
currency = "CNY"

[[period]]
start = 2026-10-01T00:00:00+08:00
end = 2026-11-01T00:00:00+08:00
energy_mwh = 30
price_per_mwh = "250"
"""
STATEMENT = """
contract = "GT-1"
month = "2026-10"
[[metered]]
start = 2026-10-01T00:00:00+08:00
generation_mwh = "25.5"
"""
PURCHASE = """
id = "P-1"
buyer = "dc"
seller = "windco"
plant = "GS-WIND"
month = "2026-10"
amount_mwh = 10
price_per_mwh = "3"
currency = "CNY"
site = "dc-js"
zone = "CN-JS"
"""


def test_green_contract_statement_and_purchase(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (None, "registry", "windco", "dc"):
        assert _run(["keys", "create"] + ([] if name is None else ["--name", name])) == 0
    capsys.readouterr()
    for name, role in (("registry", "issuer"), ("windco", "owner"), ("dc", "owner")):
        _json(capsys, ["ledger", "register-key", name, "--party", name, "--role", role])
    _json(
        capsys,
        ["ledger", "register-device", "GS-WIND", "--capacity-w", "50000000", "--technology",
         "wind", "--zone", "CN-GS", "--key", "registry"],
    )  # fmt: skip
    issued = _json(
        capsys,
        ["ledger", "issue", "GS-WIND", *MONTH, "--energy-wh", "40000000", "--metered-wh",
         "40300000", "--owner", "windco", "--scheme", "china-gec", "--external-code", "GEC-1",
         "--key", "registry"],
    )  # fmt: skip
    assert issued["bundles"][0]["energy_wh"] == 40_000_000
    files = {}
    for name, text in (("c", CONTRACT), ("s", STATEMENT), ("p", PURCHASE)):
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(text)
    keys = ["--seller-key", "windco", "--buyer-key", "dc"]
    # Bad files first: one line, nothing written.
    bad = tmp_path / "bad.toml"
    bad.write_text(CONTRACT.replace('currency = "CNY"', 'currency = "cny"'))
    assert "3-letter" in _error(capsys, ["ledger", "green", "add", str(bad)])
    assert _json(capsys, ["ledger", "green", "list"]) == []
    assert _json(capsys, ["ledger", "green", "add", str(files["c"])])["id"] == "GT-1"
    before = _json(capsys, ["ledger", "show"])
    bad.write_text(STATEMENT.replace('"GT-1"', '"GT-2"'))
    argv = ["ledger", "green", "settle", "GT-1", "--statement", str(bad), *keys]
    assert "not 'GT-1'" in _error(capsys, argv)
    bad.write_text(STATEMENT.replace('"25.5"', '"x"'))
    assert "not a number" in _error(capsys, argv)
    assert _json(capsys, ["ledger", "show"]) == before
    done = _json(
        capsys, ["ledger", "green", "settle", "GT-1", "--statement", str(files["s"]), *keys]
    )
    # Q = 30 MWh x 250; generation 25.5 MWh -> 25 bundled GECs
    assert done["result"]["payment"] == "7500"
    assert done["result"]["gec_bundled_wh"] == 25_000_000
    before = _json(capsys, ["ledger", "show"])
    bad.write_text(PURCHASE.replace("amount_mwh = 10", "amount_mwh = 16"))
    assert "holds 15 MWh" in _error(capsys, ["ledger", "gec", "buy", str(bad), *keys])
    assert _json(capsys, ["ledger", "show"]) == before
    bought = _json(capsys, ["ledger", "gec", "buy", str(files["p"]), *keys])
    assert bought["result"]["cost"] == "30"
    again = _json(capsys, ["ledger", "gec", "buy", str(files["p"]), *keys])
    assert again["replayed"] is True
    assert again["ledger_indexes"] == bought["ledger_indexes"]
