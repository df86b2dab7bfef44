"""``powerdesk keys``, ``ledger`` and ``audit`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ledger"
HOUR_1 = ["--interval-start", "2026-10-25T00:00:00+00:00", "--interval-end", "2026-10-25T01:00:00Z"]
BUNDLE = "DEV-1/2026-10-25T00:00:00Z/0-5000000"
DEVICE = ["ledger", "register-device", "DEV-1", "--capacity-w", "8000000"]
ISSUE = ["ledger", "issue", "DEV-1", *HOUR_1, "--energy-wh", "5000000", "--metered-wh", "5000000"]
SPLIT = ["ledger", "split", BUNDLE, "--amount-wh", "2000000", "--amount-wh", "3000000"]


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert _run(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert _run(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("powerdesk: error: ")
    return err


def test_keys_create_and_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["keys", "create"]) == 0
    assert "key_id=" in capsys.readouterr().out
    assert (home / "keys" / "ledger.pem").stat().st_mode & 0o777 == 0o600
    _error(capsys, ["keys", "create"])  # refuses to overwrite
    assert _run(["keys", "show", "--public"]) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pem.endswith("-----END PUBLIC KEY-----\n")
    assert "no key other" in _error(capsys, ["keys", "show", "--name", "other"])


def test_certificate_lifecycle_and_audit(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["keys", "create"]) == 0
    assert _run(["keys", "create", "--name", "acme"]) == 0
    capsys.readouterr()
    _json(capsys, ["ledger", "register-key", "acme", "--party", "acme", "--role", "owner"])
    _json(
        capsys,
        [*DEVICE, "--technology", "solar", "--zone", "DE-LU"],
    )
    out = _json(
        capsys,
        [*ISSUE, "--owner", "acme", "--idempotency-key", "meter-2026-10-25T00"],
    )
    assert out["bundles"][0]["bundle_id"] == BUNDLE
    again = _json(
        capsys,
        [*ISSUE, "--owner", "acme", "--idempotency-key", "meter-2026-10-25T00"],
    )
    # The retry of a command with the same idempotency key returns the original event.
    assert again["replayed"] is True
    assert (again["index"], again["leaf_hash_hex"]) == (out["index"], out["leaf_hash_hex"])
    err = _error(capsys, ["ledger", "transfer", BUNDLE, "--to", "bob"])  # ledger key: not owner
    assert "owned by acme" in err
    split = _json(
        capsys,
        [*SPLIT, "--key", "acme"],
    )
    part = split["bundles"][1]["bundle_id"]
    retire = ["ledger", "retire", part, "--beneficiary", "acme", "--site", "dc1"]
    retire += ["--consumption-start", "2026-10-25T00:00:00Z"]
    retire += ["--consumption-end", "2026-10-25T01:00:00Z", "--zone", "DE-LU", "--key", "acme"]
    _json(capsys, retire)
    assert "is retired: cannot retire" in _error(capsys, retire)
    assert "naive" in _error(capsys, [*retire[:-2], "--at", "2026-10-25T05:00:00"])
    shown = _json(capsys, ["ledger", "show", "--status", "retired"])
    assert [b["bundle_id"] for b in shown] == [part]
    proof = _json(capsys, ["ledger", "proof", "--index", "3", "--from-size", "2"])
    assert proof["tree_size"] == 6
    assert "proof" in _error(capsys, ["ledger", "proof", "--index", "99"])
    assert _run(["ledger", "checkpoint"]) == 0
    assert capsys.readouterr().out.split("\n")[1] == "6"
    bundle = tmp_path / "bundle"
    _json(capsys, ["audit", "export", "--out", str(bundle)])
    assert "not an empty directory" in _error(capsys, ["audit", "export", "--out", str(bundle)])
    assert _run(["keys", "show", "--public"]) == 0
    pem = tmp_path / "ledger.pem"
    pem.write_text(capsys.readouterr().out)
    result = _json(capsys, ["audit", "verify", str(bundle), "--public-key", str(pem)])
    assert result["ok"] is True
    assert (result["issued_wh"], result["retired_wh"]) == (5_000_000, 2_000_000)
    entries = (bundle / "entries.jsonl").read_bytes()
    (bundle / "entries.jsonl").write_bytes(entries.replace(b'"site":"dc1"', b'"site":"dc2"'))
    err = _error(capsys, ["audit", "verify", str(bundle), "--public-key", str(pem)])
    assert "entries.jsonl" in err
    assert _run(["keys", "show", "--name", "acme", "--public"]) == 0
    (tmp_path / "acme.pem").write_text(capsys.readouterr().out)
    (bundle / "entries.jsonl").write_bytes(entries)
    err = _error(
        capsys, ["audit", "verify", str(bundle), "--public-key", str(tmp_path / "acme.pem")]
    )
    assert "checkpoint" in err


def test_ppa_add_list_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ppa-wind-physical.toml", "ppa-solar-virtual.toml"):
        _json(capsys, ["ledger", "ppa", "add", str(FIXTURES / name)])
    listed = _json(capsys, ["ledger", "ppa", "list"])
    assert [p["id"] for p in listed] == ["ppa-nordwind-2026", "ppa-sonne-vppa"]
    shown = _json(capsys, ["ledger", "ppa", "show", "ppa-sonne-vppa"])
    assert shown["strike_per_mwh"] == "55.00"
    assert shown["collar"] == {"floor_per_mwh": "0", "cap_per_mwh": "150"}
    assert "exists already" in _error(
        capsys, ["ledger", "ppa", "add", str(FIXTURES / "ppa-wind-physical.toml")]
    )
    assert "no PPA" in _error(capsys, ["ledger", "ppa", "show", "nope"])


def test_bad_ppa_file_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    text = (FIXTURES / "ppa-wind-physical.toml").read_text()
    bad.write_text(text.replace('zone = "DE-LU"', 'zone = "XX"'))
    assert str(bad) in _error(capsys, ["ledger", "ppa", "add", str(bad)])
    bad.write_text(text.replace("strike_per_mwh", "strike"))
    assert "strike" in _error(capsys, ["ledger", "ppa", "add", str(bad)])
