"""C2SP signed notes and transparency-log checkpoints.

A checkpoint body is ``<origin>\\n<tree size>\\n<base64 root>\\n``; the note is the body, a blank
line, and signature lines ``— <name> <base64(4-byte key id || 64-byte Ed25519 signature)>``. The
key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || 32-byte public key), as in the
signed-note specification (https://c2sp.org/signed-note).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import NoteError
from ledger.keys import raw_public_key

SIG_PREFIX = "— "
ED25519_ALG = b"\x01"


def note_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """Signed-note key id [4 bytes] of an Ed25519 key under ``name``."""
    digest = hashlib.sha256(
        name.encode() + b"\n" + ED25519_ALG + raw_public_key(public_key)
    ).digest()
    return digest[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"bad signed-note key name {name!r}: no spaces or '+' allowed")


@dataclass(frozen=True)
class Checkpoint:
    """A verified (or to-be-signed) log checkpoint.

    Attributes
    ----------
    origin
        The log's origin line.
    size
        Number of leaves [count].
    root
        Merkle tree root [32 bytes].
    """

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The signed-note body text (three lines, each ending in a newline)."""
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a signed note with one signature line by ``name``."""
    _check_name(name)
    body = checkpoint.body()
    signature = private_key.sign(body.encode())
    key_id = note_key_id(name, private_key.public_key())
    return f"{body}\n{SIG_PREFIX}{name} {base64.b64encode(key_id + signature).decode()}\n"


def _parse(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    body, sep, sigs = text.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("signed note has no blank line before its signatures")
    body += "\n"
    lines = sigs[:-1].split("\n")
    out: list[tuple[str, bytes]] = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"bad signature line {line!r}")
        parts = line[len(SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise NoteError(f"bad signature line {line!r}")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except binascii.Error as exc:
            raise NoteError(f"signature line {line!r} is not base64") from exc
        if base64.b64encode(blob).decode() != parts[1] or len(blob) < 5:
            raise NoteError(f"bad signature encoding in {line!r}")
        out.append((parts[0], blob))
    return body, out


def parse_checkpoint_body(body: str) -> Checkpoint:
    """Parse the three body lines of a checkpoint (no signature check)."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint body needs origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"bad checkpoint tree size {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise NoteError("checkpoint root is not base64") from exc
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise NoteError("checkpoint root is not a base64 32-byte hash")
    if not origin:
        raise NoteError("checkpoint has an empty origin")
    return Checkpoint(origin=origin, size=int(size_text), root=root)


def verify_checkpoint(text: str, name: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """Parse a signed checkpoint and check the signature by (``name``, ``public_key``).

    Raises
    ------
    NoteError
        If the note is malformed or no signature line by this key verifies.
    """
    body, sigs = _parse(text)
    checkpoint = parse_checkpoint_body(body)
    key_id = note_key_id(name, public_key)
    for sig_name, blob in sigs:
        if sig_name == name and blob[:4] == key_id:
            if len(blob) != 68:
                raise NoteError("checkpoint signature is not 64 bytes")
            try:
                public_key.verify(blob[4:], body.encode())
            except InvalidSignature as exc:
                raise NoteError("checkpoint signature does not verify") from exc
            return checkpoint
    raise NoteError(f"checkpoint carries no signature by {name} with this public key")


def checkpoint_signer_names(text: str) -> list[str]:
    """Names on the signature lines of a note (for finding the one to verify)."""
    return [name for name, _ in _parse(text)[1]]


def unverified_signers(text: str, public_keys: Iterable[Ed25519PublicKey]) -> list[str]:
    """Names of the note's signature lines that none of ``public_keys`` verifies (an unknown
    key, or a bad signature by a known one): a verifier refuses a checkpoint carrying any."""
    body, sigs = _parse(text)
    keys = list(public_keys)
    out = []
    for name, blob in sigs:
        ok = False
        for key in keys:
            if blob[:4] == note_key_id(name, key) and len(blob) == 68:
                try:
                    key.verify(blob[4:], body.encode())
                except InvalidSignature:
                    continue
                ok = True
                break
        if not ok:
            out.append(name)
    return out
