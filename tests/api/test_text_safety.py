"""Text that cannot be stored is a 4xx with nothing written (issue 11, defect 9): a lone
surrogate in a JSON body or a ledger leaf, a NUL inside a base64 leaf, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.core.errors import InputFileError
from engine.sites.registry import parse_site
from ledger.errors import EventFormatError
from ledger.events import Event, Transfer, decode_leaf
from tests.api.conftest import (
    SITE_TOML,
    Desk,
    TestClient,
    assert_error,
    make_app,
    prepare_home,
    row_counts,
)
from tests.api.test_ledger_routes import T0, Clock, Parties, _issue, _leaf, use_clock

JSON = {"Content-Type": "application/json"}


def _raw_leaf(signer: Ed25519PrivateKey, message: bytes) -> dict[str, str]:
    leaf = b"\x01" + signer.sign(message) + message
    return {"leaf_b64": base64.b64encode(leaf).decode()}


def _check(desk: Desk) -> None:
    clock = Clock()
    parties = Parties(desk, clock)
    h = desk.auth("trader")
    with TestClient(make_app(desk)) as client:
        use_clock(client, clock)
        issued = client.post("/ledger/events", json=_leaf(_issue(parties)), headers=h)
        assert issued.status_code == 201, issued.text
        bundle = issued.json()["certificates"][0]["bundle_id"]
        before = row_counts(desk.engine)
        # JSON bodies: a lone surrogate anywhere is a 422 before any route runs.
        site = json.dumps({"content": SITE_TOML + "# \ud800\n"}).encode()
        assert b"\\ud800" in site
        assert_error(client.post("/sites", content=site, headers={**h, **JSON}), 422)
        name = b'{"role": "trader", "name": "\\udfff"}'
        assert_error(
            client.post("/admin/keys", content=name, headers={**desk.auth("admin"), **JSON}), 422
        )
        # Ledger leaves: the text is inside base64, where no body filter can see it.
        good = parties.signers["alice"].sign(Transfer(bundle, "bob"), T0)
        key = parties.keys["alice"]
        for bad in (b'"\\ud800"', b'"b\\u0000b"'):
            message = good.message.replace(b'"bob"', bad)
            assert message != good.message
            r = client.post("/ledger/events", json=_raw_leaf(key, message), headers=h)
            err = assert_error(r, 422)
            assert "surrogate" in err["message"] or "NUL" in err["message"]
            r = client.post(
                "/ledger/events/batch",
                json={"leaves_b64": [_raw_leaf(key, message)["leaf_b64"]]},
                headers=h,
            )
            assert_error(r, 422)
        assert row_counts(desk.engine) == before
        # A paired surrogate is one character (U+1F600): accepted.
        emoji = json.dumps({"content": SITE_TOML + "# \U0001f600\n"}).encode()
        assert b"\\ud83d\\ude00" in emoji
        assert client.post("/sites", content=emoji, headers={**h, **JSON}).status_code == 201


def test_unstorable_text_is_refused_on_sqlite(desk: Desk) -> None:
    _check(desk)


@pytest.mark.postgres
def test_unstorable_text_is_refused_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    desk = prepare_home(tmp_path / "home", prices=False, database_url=postgres_url)
    try:
        _check(desk)
    finally:
        desk.engine.dispose()


def test_the_ledger_library_refuses_unstorable_text() -> None:
    key = Ed25519PrivateKey.generate()
    for bad in ("a\x00b", "\ud800"):
        event = Event(T0, "k" * 16, 1, "idem", Transfer("B-1", bad))
        with pytest.raises(EventFormatError):
            event.canonical_bytes()
    message = Event(T0, "k" * 16, 1, "idem", Transfer("B-1", "bob")).canonical_bytes()
    for bad in (b'"\\ud800"', b'"b\\u0000b"'):
        forged = message.replace(b'"bob"', bad)
        with pytest.raises(EventFormatError):
            decode_leaf(b"\x01" + key.sign(forged) + forged)


def test_site_content_with_unstorable_text_is_an_input_error() -> None:
    for bad in (SITE_TOML + "# \ud800\n", SITE_TOML + "# \x00\n"):
        with pytest.raises(InputFileError):
            parse_site(bad, "toml")
