"""Event encoding: canonical bytes, single and batch-signed leaves, tamper evidence."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import EventFormatError, LedgerError, SignatureError
from ledger.events import (
    Issue,
    Retire,
    Transfer,
    decode_leaf,
    event_from_json,
    open_leaf,
    verify_leaf_signature,
)
from ledger.merkle import root_from_leaves
from ledger.schemes import Scheme
from ledger.verify import verify_log
from tests.ledger.conftest import HOUR, T0, World


def _issues(world: World, hours: int) -> list[tuple[Issue, object]]:
    return [
        (
            Issue(
                "DEV", Scheme.EECS_GO, T0 + h * HOUR, T0 + (h + 1) * HOUR, 0, 7, 7, "alice", None
            ),
            T0 + 30 * HOUR,
        )
        for h in range(hours)
    ]


def test_event_bytes_are_rfc8785_and_round_trip(world: World) -> None:
    signed = world.sign(world.alice, Transfer("B/ü/1-2", "bøb"))
    assert signed.message == rfc8785.dumps(json.loads(signed.message))
    assert event_from_json(json.loads(signed.message)) == signed.event
    assert decode_leaf(signed.leaf) == signed
    verify_leaf_signature(signed.leaf, world.alice.private_key.public_key())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d | {"v": 2},
        lambda d: d | {"kind": "mint"},
        lambda d: d | {"extra": 1},
        lambda d: d | {"seq": -1},
        lambda d: d | {"seq": True},
        lambda d: d | {"at": "2026-03-29T00:00:00+00:00"},
        lambda d: d | {"body": d["body"] | {"energy_wh": 1.5}},
        lambda d: d | {"body": {k: v for k, v in d["body"].items() if k != "owner"}},
        lambda d: d | {"body": d["body"] | {"scheme": "rec"}},
    ],
)
def test_malformed_events_are_refused(world: World, mutate: object) -> None:
    ((body, _at),) = _issues(world, 1)
    data = world.issuer.sign(body, T0 + 30 * HOUR).event.to_json()
    with pytest.raises(EventFormatError):
        event_from_json(mutate(data))  # type: ignore[operator]


def test_non_canonical_leaf_is_refused(world: World) -> None:
    signed = world.sign(world.alice, Transfer("b", "bob"))
    spaced = json.dumps(json.loads(signed.message)).encode()
    leaf = signed.leaf[:65] + spaced
    with pytest.raises(EventFormatError, match="canonical"):
        decode_leaf(leaf)


def test_batch_signed_leaves_apply_and_verify(world: World) -> None:
    batch = world.issuer.sign_batch(_issues(world, 5))  # type: ignore[arg-type]
    assert len({s.signature for s in batch}) == 1
    assert [s.event.seq for s in batch] == list(range(batch[0].event.seq, batch[0].event.seq + 5))
    for s in batch:
        assert decode_leaf(s.leaf) == s
        verify_leaf_signature(s.leaf, world.issuer.private_key.public_key())
        world.apply(s)
    retire = [
        (Retire(b.bundle_id, "acme", "dc", T0, T0 + HOUR, "DE-LU"), T0 + 31 * HOUR)
        for b in sorted(world.state.bundles.values(), key=lambda b: b.interval_start)
    ]
    for s in world.alice.sign_batch(retire):
        world.apply(s)
    leaves = [s.leaf for s in world.log]
    result = verify_log(leaves, world.state.operator_public_key)
    assert result.root == root_from_leaves(leaves)
    assert result.state.bundles == world.state.bundles


def test_every_byte_of_a_batch_leaf_is_bound(world: World) -> None:
    batch = world.issuer.sign_batch(_issues(world, 3))  # type: ignore[arg-type]
    leaf = batch[1].leaf
    public = world.issuer.private_key.public_key()
    for i in range(len(leaf)):
        tampered = bytearray(leaf)
        tampered[i] ^= 0x01
        with pytest.raises(LedgerError):
            verify_leaf_signature(bytes(tampered), public)
    # Every leaf of the batch carries the same signed root; another key's signature fails.
    _, payload, _ = open_leaf(leaf)
    assert payload.endswith(open_leaf(batch[0].leaf)[1][-32:])
    with pytest.raises(SignatureError):
        verify_leaf_signature(batch[0].leaf, world.alice.private_key.public_key())


@given(
    # Every storable text: no NUL, no lone surrogate (refused; see tests/api/test_text_safety).
    text=st.text(
        st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
        min_size=1,
        max_size=40,
    ),
    number=st.integers(0, 2**53 - 1),
)
@settings(max_examples=300, deadline=None)
def test_fast_canonical_form_equals_rfc8785(text: str, number: int) -> None:
    from ledger.events import Event, canonical_event_json

    event = Event(
        T0,
        "k" * 32,
        number or 1,
        text[:200],
        Retire(text, text[::-1] or "x", "site", T0, T0 + HOUR, "DE-LU"),
    )
    data = event.to_json()
    assert canonical_event_json(data) == rfc8785.dumps(data) == event.canonical_bytes()


def test_float_version_is_not_canonical(world: World) -> None:
    signed = world.sign(world.alice, Transfer("b", "bob"))
    data = json.loads(signed.message) | {"v": 1.0}
    with pytest.raises(EventFormatError):
        event_from_json(data)
