"""Ed25519 keys of ledger parties: fingerprints, roles and validity windows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class Role(StrEnum):
    """What a key may sign: register keys (operator), issue/withdraw (issuer), hold (owner)."""

    OPERATOR = "operator"
    ISSUER = "issuer"
    OWNER = "owner"


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey | bytes) -> str:
    """Event key id: the first 16 bytes of SHA-256 of the raw public key, hex [32 chars]."""
    raw = public_key if isinstance(public_key, bytes) else raw_public_key(public_key)
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class KeyRecord:
    """A registered signing key.

    Attributes
    ----------
    key_id
        :func:`key_id_of` the public key.
    public_key
        Raw Ed25519 public key [32 bytes].
    party
        The account the key signs for (issuer or certificate owner).
    roles
        What it may sign.
    valid_from, valid_until
        Validity window [UTC, half-open]; ``valid_until`` None means open-ended. Events are
        checked against their own time, so rotating a key keeps its old events verifiable.
    """

    key_id: str
    public_key: bytes
    party: str
    roles: frozenset[Role]
    valid_from: datetime
    valid_until: datetime | None

    def valid_at(self, at: datetime) -> bool:
        """Whether the key may sign an event dated ``at``."""
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)
