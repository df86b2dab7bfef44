"""Where backtest work runs: in-process, a local process pool, or a Dask cluster.

The unit of work is one task (for backtests: one strategy over a contiguous run of days), so a
worker compiles its optimisation models once and re-solves them day after day. Every executor
returns the results in task order, so the outcome never depends on which worker ran what.

Executor specs (``--executor``):

``local``
    A :class:`concurrent.futures.ProcessPoolExecutor` with 2 worker processes, started with
    ``spawn``: a worker inherits no threads or locks of the parent (a forked child of a process
    that already ran HiGHS can deadlock in HiGHS's thread pool). Each worker imports powerdesk
    and compiles its models once (a few seconds); scripts that call a backtest must use the
    ``if __name__ == "__main__":`` guard, as with any spawned pool.
``local:N``
    The same with ``N`` workers.
``inline``
    In this process, one task after the other (tests, debugging, small runs).
``dask://HOST:PORT``
    The ``distributed`` scheduler at ``tcp://HOST:PORT`` (install the ``dask`` extra); workers
    need powerdesk installed.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from engine.core.errors import PowerdeskError

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LOCAL_WORKERS = 2
_DASK = re.compile(r"^dask://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
_LOCAL = re.compile(r"^local(?::(?P<n>\d+))?$")


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """A parsed ``--executor`` value.

    Parameters
    ----------
    kind
        ``inline``, ``local`` or ``dask``.
    workers
        Worker processes of a local pool (1 for inline; 0 for dask: asked from the cluster).
    address
        Scheduler address of a Dask cluster (``tcp://HOST:PORT``).
    """

    kind: Literal["inline", "local", "dask"]
    workers: int = 1
    address: str = ""

    def __str__(self) -> str:
        if self.kind == "dask":
            return "dask://" + self.address.removeprefix("tcp://")
        if self.kind == "local":
            return f"local:{self.workers}"
        return "inline"


def parse_executor(spec: str) -> ExecutorSpec:
    """Parse an executor spec (see the module docstring).

    Raises
    ------
    PowerdeskError
        One line naming the accepted forms.
    """
    text = spec.strip()
    if text == "inline":
        return ExecutorSpec("inline", 1)
    m = _LOCAL.match(text)
    if m:
        n = int(m.group("n")) if m.group("n") else DEFAULT_LOCAL_WORKERS
        if n < 1:
            raise PowerdeskError(f"executor {spec!r}: a local pool needs at least one worker")
        return ExecutorSpec("local", n)
    m = _DASK.match(text)
    if m:
        port = int(m.group("port"))
        if not 0 < port < 65536:
            raise PowerdeskError(f"executor {spec!r}: port {port} is out of range")
        return ExecutorSpec("dask", 0, f"tcp://{m.group('host')}:{port}")
    raise PowerdeskError(
        f"unknown executor {spec!r} (expected local, local:N, inline or dask://HOST:PORT)"
    )


def run_tasks(
    spec: ExecutorSpec,
    fn: Callable[[T], R],
    make_tasks: Callable[[int], Sequence[T]],
    on_done: Callable[[T, R], None] | None = None,
) -> list[R]:
    """Run ``fn`` on every task and return the results in task order.

    Parameters
    ----------
    spec
        Where to run.
    fn
        A module-level function (it is pickled by reference for worker processes).
    make_tasks
        Builds the tasks given the executor's parallelism (number of workers), so work can be
        split into as many pieces as there are workers to keep busy.
    on_done
        Called in this process as each task finishes (progress reporting).

    Raises
    ------
    PowerdeskError
        When the Dask scheduler cannot be reached; errors raised by ``fn`` propagate unchanged.
    """
    if spec.kind == "inline":
        tasks = make_tasks(1)
        results = []
        for task in tasks:
            result = fn(task)
            if on_done is not None:
                on_done(task, result)
            results.append(result)
        return results
    if spec.kind == "local":
        return _run_local(spec.workers, fn, make_tasks, on_done)
    return _run_dask(spec.address, fn, make_tasks, on_done)


def _share_cores(threads: int) -> None:
    """Worker start-up: the solver threads of this worker (unless the user set them)."""
    from engine.core.settings import SOLVER_THREADS_ENV

    os.environ.setdefault(SOLVER_THREADS_ENV, str(threads))


def _run_local(
    workers: int,
    fn: Callable[[T], R],
    make_tasks: Callable[[int], Sequence[T]],
    on_done: Callable[[T, R], None] | None,
) -> list[R]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    tasks = list(make_tasks(workers))
    if not tasks:
        return []
    context = multiprocessing.get_context("spawn")
    n = min(workers, len(tasks))
    # The workers share the cores: each gets its share for the threads of its solves.
    threads = max(1, (os.cpu_count() or 1) // n)
    with ProcessPoolExecutor(
        max_workers=n, mp_context=context, initializer=_share_cores, initargs=(threads,)
    ) as pool:
        futures: list[Future[R]] = [pool.submit(fn, t) for t in tasks]
        index = {id(f): i for i, f in enumerate(futures)}
        pending: set[Future[R]] = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: index[id(f)]):
                    try:
                        result = f.result()  # re-raises the worker's error here
                    except BrokenProcessPool:
                        raise PowerdeskError(
                            "a worker process died (out of memory? or a script that starts a "
                            "backtest without an `if __name__ == '__main__':` guard); "
                            "try --executor inline"
                        ) from None
                    if on_done is not None:
                        on_done(tasks[index[id(f)]], result)
        except BaseException:
            for f in pending:
                f.cancel()
            raise
        return [f.result() for f in futures]


def _run_dask(
    address: str,
    fn: Callable[[T], R],
    make_tasks: Callable[[int], Sequence[T]],
    on_done: Callable[[T, R], None] | None,
) -> list[R]:
    try:
        import distributed
    except ImportError:
        raise PowerdeskError(
            "executor dask:// needs the 'distributed' package (pip install 'powerdesk[dask]')"
        ) from None
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    try:
        # Fail fast (refused, unknown host) before the client's own longer connect timeout.
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        client: Any = distributed.Client(  # type: ignore[no-untyped-call]
            address, timeout="15s", set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise PowerdeskError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    with client:
        threads: dict[str, int] = client.nthreads()
        tasks = list(make_tasks(max(1, sum(threads.values()))))
        futures: list[Any] = [client.submit(fn, t, pure=False) for t in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            done = distributed.as_completed(futures, loop=client.loop)  # type: ignore[no-untyped-call]
            for f in done:
                result = f.result()  # re-raises the worker's error here
                if on_done is not None:
                    on_done(tasks[index[f.key]], result)
            results: list[R] = client.gather(futures)
        finally:
            client.cancel(futures)
        return results


@contextmanager
def progress_bar(
    total: int, description: str, enabled: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``.

    ``enabled=None`` shows it only when stdout is a terminal (never in pipes, files, tests).
    """
    show = sys.stdout.isatty() if enabled is None else enabled
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
