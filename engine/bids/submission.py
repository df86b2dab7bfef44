"""Handing bid files to the exchange: the submission adapter and its default, the outbox.

The default :class:`OutboxAdapter` writes the exchange files into
``POWERDESK_HOME/outbox/<zone>/<day>/`` (each file to a temporary name, flushed, then renamed, so a
reader never sees half a file) and records one ``submission`` row per file with its SHA-256. A
transport (SFTP upload, an exchange API) picks the files up from there, or replaces this adapter.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from engine.core.errors import ConflictError, PowerdeskError
from engine.core.files import write_file_atomic
from engine.models.jobs import Submission

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class SubmittedFile:
    """One file handed to the exchange: where it is, its SHA-256 and size [bytes]."""

    path: str
    sha256: str
    size_bytes: int
    new: bool  # False when the very same bytes had been submitted before (idempotent no-op)


class SubmissionAdapter(Protocol):
    """Hands a day's exchange files to the market operator.

    Implementations must be idempotent by ``key``: submitting the same files again is a no-op;
    different bytes for a file already submitted are a :class:`~engine.core.errors.ConflictError`
    unless ``replace`` is set (a forced re-run), which records a new submission.
    """

    def submit(
        self,
        key: str,
        zone: str,
        day: date,
        files: Mapping[str, bytes],
        *,
        replace: bool = False,
    ) -> list[SubmittedFile]:
        """Submit ``files`` (file name -> exact bytes) for business ``key``."""
        ...


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OutboxAdapter:
    """Writes exchange files into ``<home>/outbox/<zone>/<day>/`` and records them.

    Parameters
    ----------
    engine
        Database holding the ``submission`` table.
    home
        ``POWERDESK_HOME``; paths are recorded relative to it.
    """

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.home = home

    def submit(
        self,
        key: str,
        zone: str,
        day: date,
        files: Mapping[str, bytes],
        *,
        replace: bool = False,
    ) -> list[SubmittedFile]:
        """Write ``files`` atomically and record them; idempotent by ``key`` and content."""
        if not files:
            raise PowerdeskError(f"{key}: no exchange files to submit")
        for name, data in files.items():
            if not _SAFE_NAME.match(name):
                raise PowerdeskError(f"{key}: bad exchange file name {name!r}")
            if not isinstance(data, bytes):
                raise PowerdeskError(f"{key}: exchange file {name} must be bytes")
        folder = self.home / "outbox" / zone / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        planned: list[tuple[str, Path, bytes, str]] = []
        for name, data in sorted(files.items()):
            rel = f"outbox/{zone}/{day.isoformat()}/{name}"
            target = folder / name
            digest = _sha256(data)
            if target.exists() and _sha256(target.read_bytes()) != digest and not replace:
                raise ConflictError(
                    f"{key}: {rel} was already submitted with other content "
                    f"(sha256 {_sha256(target.read_bytes())}); re-run with force to replace it"
                )
            planned.append((rel, target, data, digest))
        # Check every file before writing any, so a conflict leaves the outbox untouched.
        out: list[SubmittedFile] = []
        for rel, target, data, digest in planned:
            if not (target.exists() and _sha256(target.read_bytes()) == digest):
                write_file_atomic(target, data)
            out.append(self._record(key, zone, rel, digest, len(data)))
        return out

    def _record(self, key: str, zone: str, rel: str, digest: str, size: int) -> SubmittedFile:
        with self.engine.begin() as conn:
            seen = conn.execute(
                select(col(Submission.id)).where(
                    col(Submission.key) == key,
                    col(Submission.path) == rel,
                    col(Submission.sha256) == digest,
                )
            ).first()
        if seen is not None:
            return SubmittedFile(path=rel, sha256=digest, size_bytes=size, new=False)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(Submission).values(
                        key=key,
                        zone=zone,
                        path=rel,
                        sha256=digest,
                        size_bytes=size,
                        submitted_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            return SubmittedFile(path=rel, sha256=digest, size_bytes=size, new=False)
        return SubmittedFile(path=rel, sha256=digest, size_bytes=size, new=True)
