"""C2SP signed-note checkpoints: exact format, key id, and rejection of any alteration."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import NoteError
from ledger.keys import raw_public_key
from ledger.note import Checkpoint, note_key_id, sign_checkpoint, verify_checkpoint


def test_checkpoint_format_and_key_id() -> None:
    key = Ed25519PrivateKey.generate()
    root = hashlib.sha256(b"x").digest()
    note = sign_checkpoint(Checkpoint("example.com/log", 42, root), "example.com/log", key)
    body, sig_line = note.split("\n\n")
    assert body + "\n" == f"example.com/log\n42\n{base64.b64encode(root).decode()}\n"
    assert sig_line.startswith("— example.com/log ")
    assert sig_line.endswith("\n")
    blob = base64.b64decode(sig_line.split(" ")[2])
    expected_id = hashlib.sha256(
        b"example.com/log\n\x01" + raw_public_key(key.public_key())
    ).digest()[:4]
    assert blob[:4] == expected_id == note_key_id("example.com/log", key.public_key())
    assert len(blob) == 68
    key.public_key().verify(blob[4:], (body + "\n").encode())
    assert verify_checkpoint(note, "example.com/log", key.public_key()) == Checkpoint(
        "example.com/log", 42, root
    )


def test_altered_or_foreign_checkpoints_are_refused() -> None:
    key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint("log", 3, bytes(32)), "log", key)
    with pytest.raises(NoteError):
        verify_checkpoint(note.replace("\n3\n", "\n4\n"), "log", key.public_key())
    with pytest.raises(NoteError):
        verify_checkpoint(note, "log", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteError):
        verify_checkpoint(note, "other", key.public_key())
    with pytest.raises(NoteError):
        sign_checkpoint(Checkpoint("log", 3, bytes(32)), "bad name", key)
