"""Offline verification of a whole log: signatures, state machine replay, root, conservation.

Signature checks are the expensive part (one Ed25519 verification per event), so they are
handed out in batches through a ``submit`` function; the engine passes one backed by a process
pool while this process decodes and replays the next batch. Without one they run inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import LedgerError, RejectedEventError, SignatureError
from ledger.events import decode_leaf
from ledger.merkle import leaf_hash, root_from_leaf_hashes
from ledger.state import LedgerState

SignatureItem = tuple[int, bytes, bytes, bytes]
"""(leaf index, raw public key, signature, message)."""

SubmitBatch = Callable[[list[SignatureItem]], Callable[[], list[int]]]
"""Start checking a batch; the returned function waits and gives the failing leaf indexes."""


def verify_signature_batch(items: list[SignatureItem]) -> list[int]:
    """Indexes of the items whose Ed25519 signature does not verify (picklable for pools)."""
    bad: list[int] = []
    keys: dict[bytes, Ed25519PublicKey] = {}
    for index, raw, signature, message in items:
        key = keys.get(raw)
        if key is None:
            key = keys[raw] = Ed25519PublicKey.from_public_bytes(raw)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            bad.append(index)
    return bad


def _inline(items: list[SignatureItem]) -> Callable[[], list[int]]:
    bad = verify_signature_batch(items)
    return lambda: bad


@dataclass(frozen=True)
class LogVerification:
    """Result of :func:`verify_log`: the replayed state and the log's root."""

    state: LedgerState
    size: int
    root: bytes
    leaf_hashes: list[bytes]


def verify_log(
    leaves: Sequence[bytes],
    operator_public_key: bytes,
    *,
    submit: SubmitBatch | None = None,
    batch_size: int = 20_000,
) -> LogVerification:
    """Verify every signature, replay the state machine, check conservation, compute the root.

    Parameters
    ----------
    leaves
        Every leaf of the log in index order.
    operator_public_key
        The trusted operator key [32 raw bytes]; leaf 0 must register it.
    submit
        Batch signature checker (see :data:`SubmitBatch`); inline when None.

    Raises
    ------
    RejectedEventError
        For the lowest-indexed leaf that fails (bad signature, bad format or rejected event).
    ConservationError
        If the replayed state does not conserve energy.
    """
    submit = submit or _inline
    state = LedgerState(operator_public_key)
    pending: list[Callable[[], list[int]]] = []
    failure: RejectedEventError | None = None
    hashes = [leaf_hash(x) for x in leaves]
    seen: set[tuple[bytes, bytes, bytes]] = set()
    for first in range(0, len(leaves), batch_size):
        items: list[SignatureItem] = []
        for index in range(first, min(first + batch_size, len(leaves))):
            try:
                signed = decode_leaf(leaves[index], require_canonical=False)
                signer = state.keys.get(signed.event.key_id)
                changes = state.apply(signed, verify_signature=False)
            except LedgerError as exc:
                failure = RejectedEventError(index, exc)
                break
            # The genesis key is only in the registry after its own event.
            raw = signer.public_key if signer else changes.keys[0].public_key
            item = (raw, signed.signature, signed.signed_payload)
            # Leaves of one signed batch share their signature: check it once.
            if item not in seen:
                seen.add(item)
                items.append((index, *item))
        pending.append(submit(items))
        if failure is not None:
            break
    bad = sorted(i for wait in pending for i in wait())
    if bad and (failure is None or bad[0] < failure.index):
        raise RejectedEventError(bad[0], SignatureError("event signature does not verify"))
    if failure is not None:
        raise failure
    state.check_conservation()
    return LogVerification(state, len(leaves), root_from_leaf_hashes(hashes), hashes)
