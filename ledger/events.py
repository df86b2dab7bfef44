"""Ledger events: typed model, canonical bytes (RFC 8785 JSON), Ed25519 signatures and leaves.

An event is signed over its canonical JSON (RFC 8785); the log leaf is
``0x01 || 64-byte signature || canonical JSON``, so a verifier checks the signature over the
exact bytes in the leaf without re-serialising. Bulk clients may sign a batch of events with one
signature over the Merkle root of their messages (leaf version 2, :func:`sign_event_batch`).
Times are UTC strings ``YYYY-MM-DDTHH:MM:SSZ``, energies are integer Wh, binary values standard
base64.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import EventFormatError, SignatureError
from ledger.keys import Role
from ledger.schemes import Scheme

LEAF_VERSION = 1
SIGNATURE_SIZE = 64
EVENT_VERSION = 1
MAX_SAFE_INT = 2**53 - 1  # RFC 8785 numbers are IEEE doubles


class Kind(StrEnum):
    """Event kinds."""

    REGISTER_KEY = "register_key"
    REVOKE_KEY = "revoke_key"
    REGISTER_DEVICE = "register_device"
    ISSUE = "issue"
    SPLIT = "split"
    TRANSFER = "transfer"
    RETIRE = "retire"
    WITHDRAW = "withdraw"
    CORRECT = "correct"
    EXPIRE = "expire"
    TRANSFER_BUNDLED = "transfer_bundled"


# -- field codecs -------------------------------------------------------------------------------


def format_time(instant: datetime) -> str:
    """UTC wire form of an aware instant (whole seconds)."""
    if instant.tzinfo is UTC and not instant.microsecond:
        return instant.isoformat()[:19] + "Z"  # fast path: parse_time gives UTC instants
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise EventFormatError(f"naive datetime {instant.isoformat()} in an event")
    if instant.microsecond:
        raise EventFormatError(f"{instant.isoformat()}: event times are whole seconds")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime:
    """Parse the UTC wire form ``YYYY-MM-DDTHH:MM:SSZ`` strictly."""
    if not isinstance(value, str) or len(value) != 20 or value[-1] != "Z" or value[10] != "T":
        raise EventFormatError(f"bad UTC time {value!r} (want YYYY-MM-DDTHH:MM:SSZ)")
    return _parse_utc(value)


@functools.lru_cache(maxsize=1 << 16)
def _parse_utc(value: str) -> datetime:
    # Hourly certificates repeat the same instants many times in a log: parse each once.
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise EventFormatError(f"bad UTC time {value!r}") from exc


def _int(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_SAFE_INT:
        raise EventFormatError(f"{value!r} is not a non-negative integer below 2**53")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise EventFormatError(f"{value!r} is not a non-empty string of at most 200 characters")
    check_text(value)
    return value


def check_text(value: str) -> str:
    """``value`` if it is storable text: no NUL (PostgreSQL text cannot hold it) and no lone
    surrogate (not encodable as UTF-8); :class:`EventFormatError` otherwise."""
    if "\x00" in value:
        raise EventFormatError(f"{value[:80]!r} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EventFormatError(
                f"{value[:80]!r} contains a lone surrogate (not UTF-8 text)"
            ) from None
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise EventFormatError(f"{value!r} is not base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise EventFormatError(f"{value!r} is not base64") from exc
    return raw


def _ints(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise EventFormatError(f"{value!r} is not a list of integers")
    return tuple(_int(v) for v in value)


def _roles(value: Any) -> frozenset[Role]:
    if not isinstance(value, list) or not value:
        raise EventFormatError(f"{value!r} is not a non-empty list of roles")
    try:
        roles = frozenset(Role(v) for v in value)
    except ValueError as exc:
        raise EventFormatError(f"unknown role in {value!r}") from exc
    return roles


def _scheme(value: Any) -> Scheme:
    try:
        return Scheme(value)
    except ValueError as exc:
        raise EventFormatError(f"unknown certificate scheme {value!r}") from exc


def _out(value: Any) -> Any:
    """Field value to its JSON form."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, StrEnum):
        return str(value)
    return value


# -- bodies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """Base class of event bodies; ``CODECS`` maps each field to its JSON parser."""

    KIND: ClassVar[Kind]
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]]

    def to_json(self) -> dict[str, Any]:
        """The body as JSON-ready data."""
        return {f.name: _out(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class RegisterKey(Body):
    """Operator registers a party's key (or, as leaf 0, its own)."""

    key_id: str
    public_key: bytes
    party: str
    roles: frozenset[Role]
    valid_from: datetime
    valid_until: datetime | None
    KIND: ClassVar[Kind] = Kind.REGISTER_KEY
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "key_id": _str,
        "public_key": _b64,
        "party": _str,
        "roles": _roles,
        "valid_from": parse_time,
        "valid_until": _opt_time,
    }


@dataclass(frozen=True)
class RevokeKey(Body):
    """Operator ends a key's validity (rotation); events before ``valid_until`` stay valid."""

    key_id: str
    valid_until: datetime
    KIND: ClassVar[Kind] = Kind.REVOKE_KEY
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "key_id": _str,
        "valid_until": parse_time,
    }


@dataclass(frozen=True)
class RegisterDevice(Body):
    """Issuer registers a production device with its capacity and metering resolution."""

    device: str
    capacity_w: int
    technology: str
    zone: str
    resolution_s: int
    KIND: ClassVar[Kind] = Kind.REGISTER_DEVICE
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "device": _str,
        "capacity_w": _int,
        "technology": _str,
        "zone": _str,
        "resolution_s": _int,
    }


@dataclass(frozen=True)
class Issue(Body):
    """Issuer issues certificates for metered production of one device in one interval."""

    device: str
    scheme: Scheme
    interval_start: datetime
    interval_end: datetime
    id_start: int
    energy_wh: int
    metered_wh: int
    owner: str
    external_code: str | None
    KIND: ClassVar[Kind] = Kind.ISSUE
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "device": _str,
        "scheme": _scheme,
        "interval_start": parse_time,
        "interval_end": parse_time,
        "id_start": _int,
        "energy_wh": _int,
        "metered_wh": _int,
        "owner": _str,
        "external_code": _opt_str,
    }


@dataclass(frozen=True)
class Split(Body):
    """Owner splits a bundle into consecutive parts of the given energies [Wh]."""

    bundle: str
    amounts_wh: tuple[int, ...]
    KIND: ClassVar[Kind] = Kind.SPLIT
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"bundle": _str, "amounts_wh": _ints}


@dataclass(frozen=True)
class Transfer(Body):
    """Owner transfers a bundle to another party."""

    bundle: str
    to: str
    KIND: ClassVar[Kind] = Kind.TRANSFER
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"bundle": _str, "to": _str}


@dataclass(frozen=True)
class Retire(Body):
    """Owner retires (cancels) a bundle for a beneficiary's consumption."""

    bundle: str
    beneficiary: str
    site: str
    consumption_start: datetime
    consumption_end: datetime
    zone: str
    KIND: ClassVar[Kind] = Kind.RETIRE
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "bundle": _str,
        "beneficiary": _str,
        "site": _str,
        "consumption_start": parse_time,
        "consumption_end": parse_time,
        "zone": _str,
    }


@dataclass(frozen=True)
class Withdraw(Body):
    """Issuer withdraws an active bundle (issued in error)."""

    bundle: str
    reason: str
    KIND: ClassVar[Kind] = Kind.WITHDRAW
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"bundle": _str, "reason": _str}


@dataclass(frozen=True)
class Correct(Body):
    """Issuer replaces an active bundle by one of corrected energy (new ids, same owner)."""

    bundle: str
    energy_wh: int
    metered_wh: int
    reason: str
    KIND: ClassVar[Kind] = Kind.CORRECT
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "bundle": _str,
        "energy_wh": _int,
        "metered_wh": _int,
        "reason": _str,
    }


@dataclass(frozen=True)
class Expire(Body):
    """Issuer (or operator) marks an active bundle expired once its expiry has passed."""

    bundle: str
    KIND: ClassVar[Kind] = Kind.EXPIRE
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"bundle": _str}


@dataclass(frozen=True)
class TransferBundled(Body):
    """Owner (the plant) transfers a bundle to the buyer of a green-electricity trading contract
    (绿电交易), bundled with it: from then on the certificates move only with that contract."""

    bundle: str
    to: str
    contract: str
    KIND: ClassVar[Kind] = Kind.TRANSFER_BUNDLED
    CODECS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "bundle": _str,
        "to": _str,
        "contract": _str,
    }


BODIES: dict[Kind, type[Body]] = {
    cls.KIND: cls
    for cls in (
        RegisterKey,
        RevokeKey,
        RegisterDevice,
        Issue,
        Split,
        Transfer,
        Retire,
        Withdraw,
        Correct,
        Expire,
        TransferBundled,
    )
}
_BODY_KEYS = {kind: frozenset(cls.CODECS) for kind, cls in BODIES.items()}
# Field order of each body class, for positional construction (the codecs follow field order).
_BODY_CODECS = {kind: tuple(cls.CODECS.items()) for kind, cls in BODIES.items()}
assert all(
    [name for name, _ in _BODY_CODECS[kind]] == [f.name for f in fields(cls)]
    for kind, cls in BODIES.items()
)
_EVENT_KEYS = frozenset({"v", "kind", "at", "key_id", "seq", "idem", "body"})


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One state change, before signing.

    Attributes
    ----------
    at
        Event time [UTC] as claimed by the signer; checked against key validity and expiry.
    key_id
        Signer's key id.
    seq
        Per-key sequence number, 1, 2, 3, ... without gaps.
    idempotency_key
        Client-chosen unique key; a retry with the same key returns the original result.
    body
        Kind-specific content.
    """

    at: datetime
    key_id: str
    seq: int
    idempotency_key: str
    body: Body

    @property
    def kind(self) -> Kind:
        """The event kind (from its body)."""
        return self.body.KIND

    def to_json(self) -> dict[str, Any]:
        """The event as JSON-ready data (what is canonicalised and signed)."""
        return {
            "v": EVENT_VERSION,
            "kind": str(self.kind),
            "at": format_time(self.at),
            "key_id": self.key_id,
            "seq": self.seq,
            "idem": self.idempotency_key,
            "body": self.body.to_json(),
        }

    def canonical_bytes(self) -> bytes:
        """RFC 8785 canonical JSON of :meth:`to_json`.

        Raises
        ------
        EventFormatError
            A text field that cannot be stored (NUL, lone surrogate): the same rule as for
            parsed events, so no such event is ever signed.
        """
        data = self.to_json()
        for value in (self.key_id, self.idempotency_key, *data["body"].values()):
            if isinstance(value, str):
                check_text(value)
        try:
            return bytes(rfc8785.dumps(data))
        except rfc8785.CanonicalizationError as exc:
            raise EventFormatError(f"event cannot be canonicalised: {exc}") from None


def event_from_json(data: Any) -> Event:
    """Build an :class:`Event` from parsed JSON, refusing unknown or missing fields."""
    if not isinstance(data, dict) or data.keys() != _EVENT_KEYS:
        raise EventFormatError("event must have exactly v, kind, at, key_id, seq, idem, body")
    if type(data["v"]) is not int or data["v"] != EVENT_VERSION:
        raise EventFormatError(f"unsupported event version {data['v']!r}")
    try:
        kind = Kind(data["kind"])
    except ValueError as exc:
        raise EventFormatError(f"unknown event kind {data['kind']!r}") from exc
    raw = data["body"]
    if not isinstance(raw, dict) or raw.keys() != _BODY_KEYS[kind]:
        raise EventFormatError(f"{kind} body must have exactly {sorted(_BODY_KEYS[kind])}")
    cls = BODIES[kind]
    body = cls(*[codec(raw[name]) for name, codec in _BODY_CODECS[kind]])
    return Event(
        at=parse_time(data["at"]),
        key_id=_str(data["key_id"]),
        seq=_int(data["seq"]),
        idempotency_key=_str(data["idem"]),
        body=body,
    )


@dataclass(frozen=True)
class SignedEvent:
    """An event with its signature and the exact bytes of its log leaf.

    Attributes
    ----------
    message
        The event's canonical JSON.
    signed_payload
        The bytes the signature is over: ``message`` for a single signature (leaf version 1),
        or :data:`BATCH_DOMAIN` + the batch root for a batch signature (leaf version 2).
    """

    event: Event
    signature: bytes
    message: bytes
    leaf: bytes
    signed_payload: bytes

    @property
    def leaf_hash(self) -> bytes:
        """RFC 6962 leaf hash [32 bytes] (also the event's hash)."""
        return hashlib.sha256(b"\x00" + self.leaf).digest()


BATCH_VERSION = 2
BATCH_DOMAIN = b"powerdesk-ledger event batch v1\n"
"""Prefix of what a batch signature signs (never valid JSON, so never an event message)."""
MAX_BATCH = 1 << 16


def sign_event(event: Event, private_key: Ed25519PrivateKey) -> SignedEvent:
    """Sign ``event`` and build its version-1 leaf ``0x01 || signature || message``."""
    message = event.canonical_bytes()
    signature = private_key.sign(message)
    leaf = bytes([LEAF_VERSION]) + signature + message
    return SignedEvent(event, signature, message, leaf, message)


def sign_event_batch(events: Sequence[Event], private_key: Ed25519PrivateKey) -> list[SignedEvent]:
    """Sign several events with one signature over the RFC 6962 root of their messages.

    Each version-2 leaf is ``0x02 || signature || u32 position || u32 batch size || u8 path
    length || path (32-byte hashes) || message``: it carries the inclusion path of its message
    in the batch tree, so every leaf is verifiable on its own, while a verifier checks each
    batch signature once. Bulk clients (an hourly issuance run) use it to sign thousands of
    events per second.
    """
    from ledger.merkle import MerkleTree, leaf_hash

    if not 0 < len(events) <= MAX_BATCH:
        raise EventFormatError(f"a batch holds 1..{MAX_BATCH} events")
    messages = [e.canonical_bytes() for e in events]
    tree = MerkleTree([leaf_hash(m) for m in messages])
    payload = BATCH_DOMAIN + tree.root()
    signature = private_key.sign(payload)
    out = []
    for i, (event, message) in enumerate(zip(events, messages, strict=True)):
        path = tree.inclusion_proof(i)
        header = struct.pack(">IIB", i, len(events), len(path))
        leaf = bytes([BATCH_VERSION]) + signature + header + b"".join(path) + message
        out.append(SignedEvent(event, signature, message, leaf, payload))
    return out


def _parse_leaf(leaf: bytes) -> tuple[bytes, bytes, tuple[int, int, list[bytes]] | None]:
    """(signature, message, batch position/size/path or None) without any hashing."""
    version = leaf[0] if leaf else 0
    if version == LEAF_VERSION and len(leaf) > 1 + SIGNATURE_SIZE:
        return leaf[1 : 1 + SIGNATURE_SIZE], leaf[1 + SIGNATURE_SIZE :], None
    if version == BATCH_VERSION and len(leaf) > 1 + SIGNATURE_SIZE + 9:
        at = 1 + SIGNATURE_SIZE
        position, size, depth = struct.unpack(">IIB", leaf[at : at + 9])
        at += 9
        path = [leaf[at + 32 * k : at + 32 * (k + 1)] for k in range(depth)]
        message = leaf[at + 32 * depth :]
        if not message or not 0 < size <= MAX_BATCH:
            raise EventFormatError("malformed batch leaf")
        return leaf[1 : 1 + SIGNATURE_SIZE], message, (position, size, path)
    raise EventFormatError("leaf is not a version-1 or version-2 signed event")


def split_leaf(leaf: bytes) -> tuple[bytes, bytes]:
    """(signature, event message) of a version-1 or version-2 leaf (see :func:`open_leaf`)."""
    signature, message, _ = _parse_leaf(leaf)
    return signature, message


def open_leaf(leaf: bytes) -> tuple[bytes, bytes, bytes]:
    """(signature, signed payload, message) of a version-1 or version-2 leaf.

    For version 2 the payload is recomputed from the message and its batch path, so a change
    anywhere in the leaf changes what the signature must cover.
    """
    from ledger.errors import ProofError
    from ledger.merkle import root_from_inclusion

    signature, message, batch = _parse_leaf(leaf)
    if batch is None:
        return signature, message, message
    position, size, path = batch
    try:
        root = root_from_inclusion(position, size, hashlib.sha256(b"\x00" + message).digest(), path)
    except ProofError as exc:
        raise EventFormatError(f"malformed batch leaf: {exc}") from exc
    return signature, BATCH_DOMAIN + root, message


def decode_leaf(leaf: bytes, *, require_canonical: bool = True) -> SignedEvent:
    """Parse a leaf into a :class:`SignedEvent` (the signature is not checked here).

    ``require_canonical`` re-serialises the event and insists on byte equality; the signature
    already binds the exact bytes, so bulk verification may skip this for speed.
    """
    signature, payload, message = open_leaf(leaf)
    return decode_opened(leaf, signature, payload, message, require_canonical=require_canonical)


def decode_opened(
    leaf: bytes,
    signature: bytes,
    payload: bytes,
    message: bytes,
    *,
    require_canonical: bool = True,
) -> SignedEvent:
    """:func:`decode_leaf` for a leaf already split by :func:`open_leaf` (e.g. on a worker)."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventFormatError("event is not JSON") from exc
    event = event_from_json(data)
    if require_canonical and canonical_event_json(data) != message:
        raise EventFormatError("event bytes are not RFC 8785 canonical JSON")
    return SignedEvent(event, signature, message, leaf, payload)


def canonical_event_json(data: Any) -> bytes:
    """RFC 8785 bytes of a *validated* event's JSON, fast.

    For what :func:`event_from_json` accepts – ASCII keys, integers (no floats), strings, null,
    booleans, lists – Python's sorted, compact, non-ASCII-escaping JSON is byte-identical to
    RFC 8785 (same escapes, code-point key order equals UTF-16 order for ASCII keys); the
    property is tested against the ``rfc8785`` package. Signing uses ``rfc8785`` itself.
    """
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def verify_leaf_signature(leaf: bytes, public_key: Ed25519PublicKey) -> None:
    """Check the Ed25519 signature in ``leaf``; raise :class:`SignatureError` if it fails."""
    signature, payload, _ = open_leaf(leaf)
    try:
        public_key.verify(signature, payload)
    except InvalidSignature as exc:
        raise SignatureError("event signature does not verify") from exc
