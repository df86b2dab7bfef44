"""Keep stdout for the JSON document of a ``--json`` command.

Native code writes to file descriptor 1 without going through :data:`sys.stdout`: HiGHS prints
its banner from C++ when a solver instance is created (highspy's constructor makes a logging
call before any option can silence it), and child processes (uvicorn, process pools) inherit the
descriptor. :func:`stdout_for_json` points descriptor 1 at stderr for the whole command and gives
:data:`sys.stdout` a stream of its own on the real stdout, so the command's ``typer.echo`` of its
JSON is the only thing there.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (text native code printed but has not written)."""
    try:
        libc = ctypes.CDLL(None)
        libc.fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library by that name (Windows)
        pass


def _writes_to_fd1() -> bool:
    try:
        return sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):  # replaced stream (pytest's capsys, ...)
        return False


@contextmanager
def stdout_for_json() -> Iterator[None]:
    """Inside: descriptor 1 is stderr; :data:`sys.stdout` writes to the real stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    saved = os.dup(1)
    replace = _writes_to_fd1()
    previous = sys.stdout
    if replace:
        sys.stdout = open(  # noqa: SIM115  (closed in the finally below)
            os.dup(saved), "w", encoding=previous.encoding, errors=previous.errors
        )
    os.dup2(2, 1)
    try:
        yield
    finally:
        if replace:
            sys.stdout.close()
            sys.stdout = previous
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)
