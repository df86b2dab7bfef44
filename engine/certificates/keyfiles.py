"""Ed25519 key files in POWERDESK_HOME: ``keys/<name>.pem`` (PKCS#8, unencrypted, mode 0600).

The key named ``ledger`` is the ledger operator's key: it starts the log, registers other keys and
signs checkpoints; :func:`rotate_ledger_key` replaces it (the old one is kept under
``keys/retired/``). Other names are party keys (``--key NAME`` on ledger commands).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from engine.core.errors import ConflictError, InputFileError, NotFoundError, PowerdeskError
from engine.core.files import write_file_atomic
from market import NAME_RULE, is_name

if TYPE_CHECKING:
    from engine.certificates.store import LedgerStore

LEDGER_KEY = "ledger"


def key_path(home: Path, name: str = LEDGER_KEY) -> Path:
    """Path of the private key ``name`` in ``home``."""
    if not is_name(name):
        raise PowerdeskError(f"bad key name {name[:80]!r}: {NAME_RULE}")
    return home / "keys" / f"{name}.pem"


def create_key(home: Path, name: str = LEDGER_KEY, *, force: bool = False) -> Path:
    """Create a new Ed25519 key file (refuses to overwrite unless ``force``)."""
    path = key_path(home, name)
    if path.exists() and not force:
        raise ConflictError(f"key {name} exists already at {path} (use --force to replace)")
    _write_private(path, Ed25519PrivateKey.generate())
    return path


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    # Written whole to a private temporary file, then renamed: never a half-written key.
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    write_file_atomic(path, pem, mode=0o600)


def rotate_ledger_key(home: Path, store: LedgerStore, at: datetime) -> tuple[str, str]:
    """Replace the ledger operator's key with a new one; returns (old key id, new key id).

    1. The new key is written to ``keys/ledger.next.pem`` (kept if it exists: a resumed run).
    2. The log records the hand-over in one transaction (:meth:`LedgerStore.rotate_operator`).
    3. The old key moves to ``keys/retired/ledger-<key id>.pem`` and the new one becomes
       ``keys/ledger.pem``.

    Stopped anywhere, running it again finishes the same rotation; nothing is lost.
    """
    from ledger.keys import key_id_of

    old = load_private_key(home)
    nxt = key_path(home, f"{LEDGER_KEY}.next")
    if not nxt.exists():
        _, _, operator = store.head()  # no new key file for a ledger that does not exist
        if operator != key_id_of(old.public_key()):
            raise ConflictError(
                f"the ledger's operator key is {operator}, not the key in {key_path(home)}"
            )
        _write_private(nxt, Ed25519PrivateKey.generate())
    new = load_private_key(home, f"{LEDGER_KEY}.next")
    old_id, new_id = key_id_of(old.public_key()), key_id_of(new.public_key())
    store.rotate_operator(old, new, at)
    retired = home / "keys" / "retired" / f"{LEDGER_KEY}-{old_id}.pem"
    if not retired.exists():
        _write_private(retired, old)
    nxt.replace(key_path(home))
    return old_id, new_id


def load_private_key(home: Path, name: str = LEDGER_KEY) -> Ed25519PrivateKey:
    """Load the private key ``name`` from ``home``."""
    path = key_path(home, name)
    if not path.exists():
        raise NotFoundError(f"no key {name} in {path.parent} (run `powerdesk keys create`)")
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InputFileError(str(path), "not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputFileError(str(path), "not an Ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM of a key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_pem(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a SubjectPublicKeyInfo PEM file."""
    try:
        key = load_pem_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputFileError(str(path), "file not found") from exc
    except ValueError as exc:
        raise InputFileError(str(path), "not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputFileError(str(path), "not an Ed25519 public key")
    return key
