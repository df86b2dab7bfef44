"""Atomic file output: a reader sees the old content or the new, never half of either.

Every file powerdesk writes for people or other programs goes through one of these:
:func:`write_file_atomic` (one file), :func:`write_files_atomic` (several files into one folder,
all rendered before any is written) and :func:`replace_dir_atomic` (a whole output folder built
beside its target and renamed into place).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine.core.errors import PowerdeskError


def _temp_beside(path: Path, mode: int) -> tuple[int, Path]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, mode)
    return fd, Path(tmp)


def _write_fd(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_file_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a flushed temporary file beside it and a rename.

    ``mode`` is the new file's permission bits (``0o600`` for secrets).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path, mode)
    try:
        _write_fd(fd, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_files_atomic(files: Mapping[str, bytes], folder: Path, *, mode: int = 0o644) -> None:
    """Write several files into ``folder``: every temporary file first, then the renames.

    A failure before the renames leaves the folder as it was.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PowerdeskError(f"{folder}: cannot create folder ({exc.strerror})") from None
    temps: list[tuple[Path, Path]] = []
    try:
        for name, data in sorted(files.items()):
            target = folder / name
            fd, tmp = _temp_beside(target, mode)
            temps.append((tmp, target))
            _write_fd(fd, data)
        for tmp, target in temps:
            os.replace(tmp, target)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)


@contextmanager
def staged_files(targets: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary paths beside ``targets``, renamed onto them when the block ends without error.

    The caller writes (and may read back and check) each temporary file; an error anywhere in
    the block leaves every target as it was and removes the temporary files.
    """
    temps = [Path(t).with_name(f".{Path(t).name}.{os.getpid()}.partial") for t in targets]
    try:
        yield temps
        for tmp, target in zip(temps, targets, strict=True):
            os.replace(tmp, target)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def replace_dir_atomic(
    files: Mapping[str, bytes],
    out_dir: Path,
    *,
    may_replace: Callable[[Path], bool] = lambda d: not any(d.iterdir()),
    what: str = "an output folder",
) -> None:
    """Make ``out_dir`` hold exactly ``files``: built in a sibling folder and renamed into place.

    An existing ``out_dir`` is replaced only when ``may_replace(out_dir)`` holds (default: it is
    empty); a failed run leaves the old folder, or none.

    Raises
    ------
    PowerdeskError
        ``out_dir`` is a file, or a folder that may not be replaced.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise PowerdeskError(f"{out_dir}: exists and is not a directory")
        if not may_replace(out_dir):
            raise PowerdeskError(f"{out_dir}: not empty and not {what}")
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = parent / f".{out_dir.name}.tmp-{tag}"
    old = parent / f".{out_dir.name}.old-{tag}"
    try:
        tmp.mkdir()
        os.chmod(tmp, 0o755)
        for name, content in sorted(files.items()):
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            _write_fd(fd, content)
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out_dir.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
