"""Audit bundles: export the ledger (and later other sections) and verify it offline.

A bundle is a directory of files. ``manifest.json`` lists the sections and the SHA-256 of every
file; each section owns some files and has an ``export`` and a ``verify`` function. Sections run
in the order of :func:`known_sections`, so a later section can use what an earlier one verified:

- ``ledger`` writes ``checkpoint`` (C2SP signed note), ``entries.jsonl`` (one line per leaf:
  ``{"index":N,"leaf_b64":"...","event":{...}}``), ``keys.json`` (the public keys of every event
  signer, as registered in the log) and ``proofs.json`` (inclusion proofs of every retirement and
  consistency proofs from every earlier checkpoint). Verification checks every signature, the
  checkpoint, every proof, replays the state machine and checks conservation, and leaves the
  replayed :class:`ledger.state.LedgerState` in ``ctx.log.state``.

A section is a :class:`BundleSection` (its files, an ``export(ctx) -> {name: bytes}`` and a
``verify(ctx)`` that raises :class:`AuditError`), listed in :func:`known_sections`: the carbon
report (:mod:`engine.audit.report_section`) is the second. Nothing registers itself on import.

Every JSON file is written canonically (sorted keys, no spaces, one trailing newline) and must be
byte-identical to that form when verified, so any single-byte change is caught.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.core.errors import PowerdeskError
from engine.core.files import replace_dir_atomic
from engine.core.jsonio import canonical_json
from ledger.errors import LedgerError
from ledger.events import Kind, format_time, split_leaf
from ledger.keys import KeyRecord, key_id_of, raw_public_key
from ledger.merkle import (
    MerkleTree,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from ledger.note import (
    Checkpoint,
    checkpoint_signer_names,
    parse_checkpoint_body,
    unverified_signers,
    verify_checkpoint,
)
from ledger.verify import (
    LogVerification,
    OpenedLeaf,
    SubmitBatch,
    checkpoint_signers,
    genesis_public_key,
    open_leaves,
    verify_log,
    verify_signature_batch,
)

BUNDLE_FORMAT = "powerdesk-audit-bundle/1"
MANIFEST = "manifest.json"


class AuditError(PowerdeskError):
    """An audit bundle failed verification (the message names the first failure)."""


@dataclass
class ExportContext:
    """What a section's ``export`` sees: the ledger snapshot being exported."""

    store: Any  # engine.certificates.store.LedgerStore (Any keeps this module import-light)
    operator: Ed25519PrivateKey
    tree: MerkleTree
    checkpoint: str
    leaves: list[bytes]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifyContext:
    """What a section's ``verify`` sees; earlier sections fill ``checkpoint`` and ``log``."""

    files: Mapping[str, bytes]
    public_key: Ed25519PublicKey
    pool: Executor | None = None
    checkpoint: Checkpoint | None = None
    log: LogVerification | None = None

    def json(self, name: str) -> Any:
        """Parse a canonical JSON file of the bundle (refusing any other byte form)."""
        raw = self.files.get(name)
        if raw is None:
            raise AuditError(f"{name}: missing from the bundle")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuditError(f"{name}: not JSON ({exc})") from exc
        if canonical_json(data) != raw:
            raise AuditError(f"{name}: not in canonical form (altered?)")
        return data


@dataclass(frozen=True)
class BundleSection:
    """One part of an audit bundle: its files, how to write them and how to check them."""

    name: str
    files: tuple[str, ...]
    export: Callable[[ExportContext], Mapping[str, bytes]]
    verify: Callable[[VerifyContext], None]


# -- the ledger section ---------------------------------------------------------------------------


def entry_line(index: int, leaf: bytes) -> bytes:
    """The ``entries.jsonl`` line of a leaf (the decoded event is the leaf's canonical JSON)."""
    _, message = split_leaf(leaf)
    return b'{"index":%d,"leaf_b64":"%s","event":%s}\n' % (
        index,
        base64.b64encode(leaf),
        message,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _keys_json(records: Iterable[KeyRecord]) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    keys = []
    for k in sorted(records, key=lambda k: k.key_id):
        pem = (
            Ed25519PublicKey.from_public_bytes(k.public_key)
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        keys.append(
            {
                "key_id": k.key_id,
                "party": k.party,
                "roles": sorted(k.roles),
                "valid_from": format_time(k.valid_from),
                "valid_until": format_time(k.valid_until) if k.valid_until else None,
                "public_key_pem": pem,
            }
        )
    return canonical_json({"keys": keys})


def _export_ledger(ctx: ExportContext) -> dict[str, bytes]:
    from ledger.events import decode_leaf
    from ledger.state import replay

    # The log was verified event by event when it was written; export only needs its state.
    # It is anchored at the genesis key (leaf 0), whichever operator key signs now.
    state = replay(
        genesis_public_key(ctx.leaves[0]),
        (decode_leaf(x, require_canonical=False) for x in ctx.leaves),
        verify_signatures=False,
    )
    retirements = sorted(
        b.updated_index for b in state.bundles.values() if b.retirement is not None
    )
    # ``inclusion_every`` thins the inclusion proofs for very large logs (1 = every retirement).
    every = int(ctx.options.get("inclusion_every", 1))
    inclusion = [
        {"index": i, "proof_b64": [_b64(p) for p in ctx.tree.inclusion_proof(i)]}
        for i in retirements[::every]
    ]
    consistency = [
        {
            "from_size": size,
            "from_checkpoint": note,
            "proof_b64": [_b64(p) for p in ctx.tree.consistency_proof(size)],
        }
        for size, note in ctx.store.checkpoints()
        if 0 < size < ctx.tree.size
    ]
    proofs = {"tree_size": ctx.tree.size, "inclusion": inclusion, "consistency": consistency}
    return {
        "checkpoint": ctx.checkpoint.encode(),
        "entries.jsonl": b"".join(entry_line(i, leaf) for i, leaf in enumerate(ctx.leaves)),
        "keys.json": _keys_json(state.keys.values()),
        "proofs.json": canonical_json(proofs),
    }


def _read_entries(raw: bytes, first_index: int = 0) -> list[bytes]:
    if raw and not raw.endswith(b"\n"):
        raise AuditError("entries.jsonl: last line has no newline")
    lines = raw.split(b"\n")[:-1] if raw else []
    leaves: list[bytes] = []
    for i, line in enumerate(lines, first_index):
        prefix = b'{"index":%d,"leaf_b64":"' % i
        end = line.find(b'"', len(prefix))
        if not line.startswith(prefix) or end < 0:
            raise AuditError(f"entries.jsonl line {i + 1}: not the entry of leaf {i}")
        try:
            leaf = base64.b64decode(line[len(prefix) : end], validate=True)
            expected = entry_line(i, leaf)
        except (binascii.Error, LedgerError) as exc:
            raise AuditError(f"entries.jsonl line {i + 1}: bad leaf ({exc})") from exc
        if line + b"\n" != expected:
            raise AuditError(f"entries.jsonl line {i + 1}: event does not match its leaf bytes")
        leaves.append(leaf)
    return leaves


def _open_entry_chunk(first_index: int, data: bytes) -> list[OpenedLeaf]:
    """Worker: check the entry lines of a chunk of entries.jsonl and open their leaves."""
    return open_leaves(_read_entries(data, first_index))


_CHUNK_BYTES = 8 << 20


def _entry_chunks(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(first leaf index, bytes) chunks of entries.jsonl, cut at line ends."""
    if raw and not raw.endswith(b"\n"):
        raise AuditError("entries.jsonl: last line has no newline")
    start, index = 0, 0
    while start < len(raw):
        end = raw.find(b"\n", min(start + _CHUNK_BYTES, len(raw) - 1)) + 1
        yield index, raw[start:end]
        index += raw.count(b"\n", start, end)
        start = end


def _prefetch(
    pool: Executor, tasks: Iterator[tuple[int, bytes]], depth: int = 3
) -> Iterator[list[OpenedLeaf]]:
    """Results of ``_open_entry_chunk`` in order, at most ``depth`` chunks ahead, so that
    signature batches submitted meanwhile are not queued behind the whole file."""
    queue: deque[Future[list[OpenedLeaf]]] = deque()
    for first, data in itertools.islice(tasks, depth):
        queue.append(pool.submit(_open_entry_chunk, first, data))
    while queue:
        future = queue.popleft()
        for first, data in itertools.islice(tasks, 1):
            queue.append(pool.submit(_open_entry_chunk, first, data))
        yield future.result()


def _signed_by(note: str, keys: Mapping[str, bytes]) -> Checkpoint | None:
    """The checkpoint of ``note`` if one of its signatures verifies with one of ``keys``."""
    for name in checkpoint_signer_names(note):
        for raw in keys.values():
            try:
                return verify_checkpoint(note, name, Ed25519PublicKey.from_public_bytes(raw))
            except LedgerError:
                continue
    return None


def _verify_ledger(ctx: VerifyContext) -> None:
    # Trust: the given key is either the genesis operator key (leaf 0), from which the log's own
    # key events lead to whichever operator key signed the checkpoint (key rotation), or an
    # operator key of the log that signed the checkpoint itself, which then vouches for it all.
    text = ctx.files.get("checkpoint")
    if text is None:
        raise AuditError("checkpoint: missing from the bundle")
    raw = ctx.files.get("entries.jsonl", b"")
    given = raw_public_key(ctx.public_key)
    if not raw:
        raise AuditError("entries.jsonl: the log is empty")
    first_line = raw[: raw.find(b"\n") + 1]
    if not first_line:
        raise AuditError("entries.jsonl: last line has no newline")
    try:
        genesis = genesis_public_key(_read_entries(first_line)[0])
    except LedgerError as exc:
        raise AuditError(f"entries.jsonl: leaf 0: {exc}") from exc
    try:
        note = text.decode()
        by_given = _signed_by(note, {key_id_of(given): given})
    except (UnicodeDecodeError, LedgerError) as exc:
        raise AuditError(f"checkpoint: {exc}") from exc
    if by_given is None and given != genesis:
        raise AuditError(
            "checkpoint: no signature verifies with the given public key, and it is not the "
            "ledger's genesis key"
        )
    try:
        if ctx.pool is None:
            log = verify_log(_read_entries(raw), genesis)
        else:
            chunks = _prefetch(ctx.pool, _entry_chunks(raw))
            log = verify_log([], genesis, submit=pool_submit(ctx.pool), opened=chunks)
    except LedgerError as exc:
        raise AuditError(f"entries.jsonl: {exc}") from exc
    signers = checkpoint_signers(log.key_history, log.size)
    if given == genesis:
        found = _signed_by(note, signers)
        if found is None:
            raise AuditError("checkpoint: not signed by an operator key of the log at its size")
        checkpoint = found
    else:
        assert by_given is not None
        if key_id_of(given) not in signers:
            raise AuditError(
                "checkpoint: the given public key is not an operator key of the log at its size"
            )
        checkpoint = by_given
    # Every signature line must be a known key's (no witnesses are configured): an extra line
    # claims a co-signer that never signed.
    known = [Ed25519PublicKey.from_public_bytes(k) for k in {given, *signers.values()}]
    try:
        strangers = unverified_signers(note, known)
    except LedgerError as exc:
        raise AuditError(f"checkpoint: {exc}") from exc
    if strangers:
        raise AuditError(
            f"checkpoint: signature line by {strangers[0]!r} verifies with no operator key of the "
            "log (nor a known witness)"
        )
    if log.size != checkpoint.size:
        raise AuditError(f"entries.jsonl has {log.size} entries, the checkpoint {checkpoint.size}")
    if log.root != checkpoint.root:
        raise AuditError("entries.jsonl: Merkle root differs from the signed checkpoint")
    if ctx.files.get("keys.json") != _keys_json(log.state.keys.values()):
        raise AuditError("keys.json: differs from the keys registered in the log")
    proofs = ctx.json("proofs.json")
    try:
        _verify_proofs(proofs, log, checkpoint)
    except (LedgerError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise AuditError(f"proofs.json: {exc}") from exc
    ctx.checkpoint = checkpoint
    ctx.log = log


def _strict_b64(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise ValueError(f"{text!r} is not canonical base64")
    return raw


def _verify_proofs(proofs: Any, log: LogVerification, checkpoint: Checkpoint) -> None:
    if set(proofs) != {"tree_size", "inclusion", "consistency"}:
        raise ValueError("needs exactly tree_size, inclusion, consistency")
    if proofs["tree_size"] != checkpoint.size:
        raise ValueError("tree_size differs from the checkpoint")
    for item in proofs["inclusion"]:
        index = item["index"]
        if type(index) is not int or not 0 <= index < log.size:
            raise ValueError(f"inclusion index {index!r} is not a leaf")
        proof = [_strict_b64(p) for p in item["proof_b64"]]
        verify_inclusion(index, checkpoint.size, log.leaf_hashes[index], proof, checkpoint.root)
    for item in proofs["consistency"]:
        # An earlier checkpoint is signed by the operator key of its own time.
        size = item["from_size"]
        if type(size) is not int or not 0 < size <= log.size:
            raise ValueError(f"from_size {size!r} is outside the log")
        old = _signed_by(item["from_checkpoint"], checkpoint_signers(log.key_history, size))
        if old is None:
            raise ValueError(f"the checkpoint of size {size} is not signed by an operator key")
        if old.size != size:
            raise ValueError("from_size differs from its checkpoint")
        proof = [_strict_b64(p) for p in item["proof_b64"]]
        verify_consistency(old.size, checkpoint.size, proof, old.root, checkpoint.root)


LEDGER_SECTION = BundleSection(
    "ledger",
    ("checkpoint", "entries.jsonl", "keys.json", "proofs.json"),
    _export_ledger,
    _verify_ledger,
)


def known_sections() -> tuple[BundleSection, ...]:
    """Every section a bundle may hold, in export and verification order."""
    # The report section is built on this module, so it is imported here, not at the top.
    from engine.audit.report_section import REPORT_SECTION

    return (LEDGER_SECTION, REPORT_SECTION)


# -- export / verify ------------------------------------------------------------------------------


def build_bundle(
    ctx: ExportContext, sections: Sequence[BundleSection] | None = None
) -> dict[str, bytes]:
    """All files of a bundle (name -> bytes), manifest included."""
    files: dict[str, bytes] = {}
    # By default only the ledger: other sections need inputs of their own (options).
    used = [LEDGER_SECTION] if sections is None else list(sections)
    for section in used:
        out = section.export(ctx)
        if set(out) != set(section.files):
            raise PowerdeskError(f"bundle section {section.name} wrote unexpected files")
        files.update(out)
    manifest = {
        "format": BUNDLE_FORMAT,
        "sections": [s.name for s in used],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    files[MANIFEST] = canonical_json(manifest)
    return files


def export_bundle(
    store: Any,
    operator: Ed25519PrivateKey,
    out: Path,
    *,
    sections: Sequence[str] = ("ledger",),
    options: Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """Checkpoint the log now and write its audit bundle to ``out`` (atomically, via rename).

    ``sections`` names the sections (:func:`known_sections`) to include (the ledger always
    comes first);
    ``options`` reach every section's export (e.g. ``report_dir`` for the report section).
    """
    known = {s.name: s for s in known_sections()}
    unknown = [n for n in sections if n not in known]
    if unknown:
        raise PowerdeskError(f"unknown bundle section {unknown[0]!r}")
    chosen = [known["ledger"]] + [known[n] for n in sections if n != "ledger"]
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PowerdeskError(f"{out} exists and is not an empty directory")
    note = store.checkpoint(operator)
    size = int(note.split("\n")[1])
    tree = store.snapshot(size)
    leaves = store.leaves(0, size)
    files = build_bundle(
        ExportContext(store, operator, tree, note, leaves, dict(options or {})), chosen
    )
    replace_dir_atomic(files, out, what="an empty directory")
    return files


def verify_files(
    files: Mapping[str, bytes], public_key: Ed25519PublicKey, *, pool: Executor | None = None
) -> VerifyContext:
    """Verify a bundle given as name -> bytes; raises :class:`AuditError` on the first failure.

    With a process ``pool`` the entry lines are checked and leaves hashed on it, and signatures
    verified there in batches, while this process replays the state machine.
    """
    ctx = VerifyContext(files, public_key, pool)
    manifest = ctx.json(MANIFEST)
    if not isinstance(manifest, dict) or set(manifest) != {"format", "sections", "files"}:
        raise AuditError("manifest.json: needs exactly format, sections, files")
    if manifest["format"] != BUNDLE_FORMAT:
        raise AuditError(f"manifest.json: unknown format {manifest['format']!r}")
    known = {s.name: s for s in known_sections()}
    names = manifest["sections"]
    if not isinstance(names, list) or "ledger" not in names or len(set(names)) != len(names):
        raise AuditError("manifest.json: sections must list 'ledger' once")
    for name in names:
        if name not in known:
            raise AuditError(f"manifest.json: unknown section {name!r}")
    listed = manifest["files"]
    needed = {f for n in names for f in known[n].files}
    if not isinstance(listed, dict) or set(listed) != needed:
        raise AuditError("manifest.json: file list does not match its sections")
    if set(files) - {MANIFEST} != needed:
        extra = sorted(set(files) - needed - {MANIFEST})
        missing = sorted(needed - set(files))
        raise AuditError(
            f"bundle files differ from the manifest (extra {extra}, missing {missing})"
        )
    # Large files are hashed on a thread (hashlib releases the GIL) while sections verify.
    large = {n for n in listed if len(files[n]) > _CHUNK_BYTES}
    for name in sorted(set(listed) - large):
        _check_digest(files, name, listed[name])
    with ThreadPoolExecutor(1) as hasher:
        pending = [hasher.submit(_check_digest, files, n, listed[n]) for n in sorted(large)]
        try:
            for name in names:
                known[name].verify(ctx)
        finally:
            for future in pending:
                future.result()  # a manifest mismatch is reported before any later error
    return ctx


def verify_after(ctx: VerifyContext, earlier: str) -> Checkpoint:
    """Check that the verified bundle's log extends ``earlier``, a checkpoint the auditor kept
    from a previous bundle (rollback detection); returns it.

    A log truncated to before the kept checkpoint, or one whose first leaves differ from those
    the kept checkpoint commits to (a fork), fails with :class:`AuditError`. The kept checkpoint
    must be signed by an operator key of the log at its size (or by the given public key).
    """
    if ctx.log is None or ctx.checkpoint is None:
        raise AuditError("--after: the ledger section must be verified first")
    try:
        body = earlier.partition("\n\n")[0] + "\n"
        kept = parse_checkpoint_body(body)
    except LedgerError as exc:
        raise AuditError(f"--after: not a checkpoint ({exc})") from exc
    if kept.origin != ctx.checkpoint.origin:
        raise AuditError(f"--after: a checkpoint of log {kept.origin!r}, not of this one")
    if kept.size > ctx.log.size:
        raise AuditError(
            f"rolled back: the bundle's log has {ctx.log.size} leaves, the checkpoint you kept "
            f"has {kept.size}"
        )
    signers = checkpoint_signers(ctx.log.key_history, kept.size) if kept.size else {}
    given = raw_public_key(ctx.public_key)
    try:
        signed = _signed_by(earlier, {**signers, key_id_of(given): given})
    except LedgerError as exc:
        raise AuditError(f"--after: {exc}") from exc
    if signed is None:
        raise AuditError("--after: the kept checkpoint is not signed by an operator key of the log")
    if root_from_leaf_hashes(ctx.log.leaf_hashes[: kept.size]) != kept.root:
        raise AuditError(
            f"forked: the bundle's first {kept.size} leaves are not those of the checkpoint you "
            "kept"
        )
    return kept


def _check_digest(files: Mapping[str, bytes], name: str, digest: str) -> None:
    if hashlib.sha256(files[name]).hexdigest() != digest:
        raise AuditError(f"{name}: SHA-256 differs from manifest.json")


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every regular file of a bundle directory."""
    if not path.is_dir():
        raise AuditError(f"{path}: not a bundle directory")
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def pool_submit(pool: Executor) -> SubmitBatch:
    """A :data:`ledger.verify.SubmitBatch` that checks signatures on a process pool."""

    def submit(items: list[tuple[int, bytes, bytes, bytes]]) -> Callable[[], list[int]]:
        future = pool.submit(verify_signature_batch, items)
        return future.result

    return submit


def verify_bundle(path: Path, public_key: Ed25519PublicKey, *, workers: int = 2) -> VerifyContext:
    """Verify a bundle directory offline, checking signatures on ``workers`` processes."""
    files = read_bundle(path)
    if workers <= 1 or files.get("entries.jsonl", b"").count(b"\n") < 20_000:
        return verify_files(files, public_key)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return verify_files(files, public_key, pool=pool)


def summary(ctx: VerifyContext) -> dict[str, Any]:
    """Short JSON summary of a verified bundle."""
    assert ctx.checkpoint is not None
    assert ctx.log is not None
    cells = ctx.log.state.cells.values()
    return {
        "tree_size": ctx.checkpoint.size,
        "root_b64": _b64(ctx.checkpoint.root),
        "origin": ctx.checkpoint.origin,
        "bundles": len(ctx.log.state.bundles),
        "issued_wh": sum(c.issued_wh for c in cells),
        "retired_wh": sum(c.retired_wh for c in cells),
        "active_wh": sum(c.active_wh for c in cells),
        "events_by_kind": _count(ctx),
    }


def _count(ctx: VerifyContext) -> dict[str, int]:
    counts: dict[str, int] = {}
    entries = ctx.files["entries.jsonl"]
    for kind in Kind:
        n = entries.count(b'"kind":"%s"' % str(kind).encode())
        if n:
            counts[str(kind)] = n
    return counts


__all__ = [
    "LEDGER_SECTION",
    "AuditError",
    "BundleSection",
    "ExportContext",
    "VerifyContext",
    "build_bundle",
    "canonical_json",
    "export_bundle",
    "known_sections",
    "leaf_hash",
    "verify_bundle",
    "verify_files",
]
