"""Every Wycheproof Ed25519 vector gives its expected result through the ledger's verifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import SignatureError
from ledger.verify import verify_signature_batch

FILE = Path(__file__).parent / "vectors" / "wycheproof" / "testvectors_v1" / "ed25519_test.json"
DATA: dict[str, Any] = json.loads(FILE.read_text())
CASES = [(g["publicKey"]["pk"], t) for g in DATA["testGroups"] for t in g["tests"]]


def test_vector_count() -> None:
    assert len(CASES) == DATA["numberOfTests"] == 151


@pytest.mark.parametrize(("pk", "case"), CASES, ids=[str(t["tcId"]) for _, t in CASES])
def test_ed25519_vector(pk: str, case: dict[str, Any]) -> None:
    raw = bytes.fromhex(pk)
    sig, msg = bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"])
    bad = verify_signature_batch([(7, raw, sig, msg)])
    assert case["result"] in {"valid", "invalid"}
    assert bad == ([] if case["result"] == "valid" else [7])


def test_leaf_with_bad_signature_is_rejected() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.events import verify_leaf_signature

    key = Ed25519PrivateKey.generate()
    leaf = b"\x01" + key.sign(b"{}") + b"{}"
    verify_leaf_signature(leaf, key.public_key())
    other: Ed25519PublicKey = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError):
        verify_leaf_signature(leaf, other)
