"""Offline verification of a whole log: signatures, state machine replay, root, conservation.

Signature checks are the expensive part (one Ed25519 verification per event), so they are
handed out in batches through a ``submit`` function; the engine passes one backed by a process
pool while this process decodes and replays the next batch. Without one they run inline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import EventFormatError, LedgerError, RejectedEventError, SignatureError
from ledger.events import RegisterKey, decode_leaf, decode_opened, open_leaf
from ledger.keys import KeyRecord, Role
from ledger.merkle import root_from_leaf_hashes
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


OpenedLeaf = tuple[bytes, bytes, bytes, bytes, bytes]
"""(leaf, leaf hash, signature, signed payload, message); a malformed leaf has an empty
signature and its error text as payload."""


def open_leaves(leaves: Sequence[bytes]) -> list[OpenedLeaf]:
    """Hash and split leaves (the parallelisable part of verification; picklable)."""
    out: list[OpenedLeaf] = []
    sha = hashlib.sha256
    for leaf in leaves:
        digest = sha(b"\x00" + leaf).digest()
        try:
            signature, payload, message = open_leaf(leaf)
        except LedgerError as exc:
            out.append((leaf, digest, b"", str(exc).encode(), b""))
            continue
        out.append((leaf, digest, signature, payload, message))
    return out


@dataclass(frozen=True)
class LogVerification:
    """Result of :func:`verify_log`: the replayed state and the log's root.

    ``key_history`` holds every key registration and revocation as (leaf index, the key's
    record after it), in index order: :func:`checkpoint_signers` reads it.
    """

    state: LedgerState
    size: int
    root: bytes
    leaf_hashes: list[bytes]
    key_history: tuple[tuple[int, KeyRecord], ...] = ()


def checkpoint_signers(history: Sequence[tuple[int, KeyRecord]], size: int) -> dict[str, bytes]:
    """Keys that may sign a checkpoint of the first ``size`` leaves: key id -> raw public key.

    A key may, when in the log of that size it holds the operator role and its validity has not
    been ended: the genesis key until a rotation revokes it (the checkpoints it signed before
    stay verifiable), each rotated-in operator key from its registration on.
    """
    latest: dict[str, KeyRecord] = {}
    for index, record in history:
        if index >= size:
            break
        latest[record.key_id] = record
    return {
        k: r.public_key
        for k, r in latest.items()
        if Role.OPERATOR in r.roles and r.valid_until is None
    }


def genesis_public_key(leaf: bytes) -> bytes:
    """The operator key that leaf 0 registers [32 raw bytes] (unverified: :func:`verify_log`
    checks it); :class:`EventFormatError` if the leaf is no key registration."""
    body = decode_leaf(leaf, require_canonical=False).event.body
    if not isinstance(body, RegisterKey):
        raise EventFormatError("leaf 0 must be the operator registering its own key")
    return body.public_key


def verify_log(
    leaves: Sequence[bytes],
    operator_public_key: bytes,
    *,
    submit: SubmitBatch | None = None,
    batch_size: int = 20_000,
    opened: Iterable[Sequence[OpenedLeaf]] | None = None,
) -> LogVerification:
    """Verify every signature, replay the state machine, check conservation, compute the root.

    Parameters
    ----------
    leaves
        Every leaf of the log in index order (ignored when ``opened`` is given).
    operator_public_key
        The trusted operator key [32 raw bytes]; leaf 0 must register it.
    submit
        Batch signature checker (see :data:`SubmitBatch`); inline when None.
    opened
        The leaves already run through :func:`open_leaves`, in index order and in chunks
        (e.g. prepared on a process pool); by default they are opened here.

    Raises
    ------
    RejectedEventError
        For the lowest-indexed leaf that fails (bad signature, bad format or rejected event).
    ConservationError
        If the replayed state does not conserve energy.
    """
    submit = submit or _inline
    if opened is None:
        opened = (
            open_leaves(leaves[i : i + batch_size]) for i in range(0, len(leaves), batch_size)
        )
    state = LedgerState(operator_public_key)
    pending: list[Callable[[], list[int]]] = []
    failure: RejectedEventError | None = None
    hashes: list[bytes] = []
    history: list[tuple[int, KeyRecord]] = []
    seen: set[tuple[bytes, bytes, bytes]] = set()
    index = 0
    for chunk in opened:
        items: list[SignatureItem] = []
        for leaf, digest, signature, payload, message in chunk:
            hashes.append(digest)
            try:
                if not signature:
                    raise EventFormatError(payload.decode())
                signed = decode_opened(leaf, signature, payload, message, require_canonical=False)
                signer = state.keys.get(signed.event.key_id)
                changes = state.apply(signed, verify_signature=False)
            except LedgerError as exc:
                failure = RejectedEventError(index, exc)
                break
            if changes.keys:
                history.extend((index, k) for k in changes.keys)
            # The genesis key is only in the registry after its own event.
            raw = signer.public_key if signer else changes.keys[0].public_key
            item = (raw, signature, payload)
            # Leaves of one signed batch share their signature: check it once.
            if item not in seen:
                seen.add(item)
                items.append((index, *item))
            index += 1
        pending.append(submit(items))
        if failure is not None:
            break
    bad = sorted(i for wait in pending for i in wait())
    if bad and (failure is None or bad[0] < failure.index):
        raise RejectedEventError(bad[0], SignatureError("event signature does not verify"))
    if failure is not None:
        raise failure
    state.check_conservation()
    return LogVerification(state, index, root_from_leaf_hashes(hashes), hashes, tuple(history))
