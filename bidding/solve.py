"""Solve a :class:`~bidding.model.BidModel`: HiGHS with a hot start by default, any cvxpy solver.

The default path compiles through cvxpy's DPP cache (``get_problem_data`` only multiplies the
cached parameter tensor by the new values), then hands the matrices to one ``highspy.Highs``
object kept per model. When only costs and bounds changed (new prices in the same order, new
reserve prices, a new penalty) they are pushed in place and HiGHS hot-starts from its previous
optimal basis; when coefficients changed (the price order behind the monotone-curve rows) the
model is passed again and solved from scratch, which measured faster than a basis restart.
The result is unpacked by cvxpy's own chain, so variable values are identical to a plain
``problem.solve``. Other solvers (``CLARABEL``, ``ECOS``, or ``HIGHS_CVXPY`` for HiGHS through
cvxpy's own interface) go through ``problem.solve`` and serve as cross-checks.

A block-angular problem (a portfolio: sites coupled only by a few linking rows) can be started
from its blocks (:class:`BlockSplit`, :func:`_block_basis`): each block is solved alone, in
parallel on the threads the caller gives, with the linking rows priced by a guess of their duals
(a Lagrangian relaxation); the blocks' optimal bases, plus one basic column per linking row, form
a starting basis of the whole problem, from which HiGHS's dual simplex finishes the exact solve
of the one joint problem. The result is an optimum of the same LP as a cold solve (the start
only saves work); when the start fails in any way the joint problem is solved cold.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from bidding.errors import SolverFailedError
from bidding.model import Solvable

# Chosen by measurement (docs/benchmarks.md, "Bidding"). With one shared job schedule (the
# default) dual simplex restarted from the previous basis is fastest, cold and warm; with a job
# schedule per scenario the monotone-curve rows couple dense per-scenario blocks and HiGHS's
# interior point without crossover is 2-4x faster than simplex (whose restarts then do not pay).
# Primal simplex and PDLP were an order of magnitude slower in both modes.
DEFAULT_HIGHS_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("solver", "simplex"),
    ("simplex_strategy", 1),
)
RECOURSE_HIGHS_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("solver", "ipm"),
    ("run_crossover", "off"),
)
# LP-algorithm options that do not apply when the model has binary variables (HiGHS MIP).
_LP_ONLY_OPTIONS = {"solver", "run_crossover", "simplex_strategy"}

_PACKAGES = {"HIGHS": "highspy", "HIGHS_CVXPY": "highspy", "CLARABEL": "clarabel", "ECOS": "ecos"}

# HiGHS's dual simplex edge weights while finishing from a block start: Devex. Steepest edge
# (the default) first computes exact weights for every basic row, 0.7 s on the 123,000-row
# benchmark portfolio for a finish of about a hundred iterations (docs/benchmarks.md).
_FINISH_EDGE_WEIGHTS = 1


@dataclass(frozen=True, slots=True)
class BlockSplit:
    """How a block-angular problem splits, for a block start (see the module docstring).

    Parameters
    ----------
    owners
        Block (0, 1, ...) of every variable by cvxpy variable id; -1 for a linking variable
        (one that only the linking rows hold, e.g. a shortfall). A constraint row is a block's
        when all its variables are that block's, else it is a linking row.
    cost_shift
        Per variable id, an amount added to every entry's cost in the block problems: minus
        the linking rows' guessed duals times the variable's coefficients there. A good guess
        makes the start nearly optimal; any guess gives the same optimum.
    threads
        Threads that solve the blocks (the caller's share of the machine's cores).
    """

    owners: Mapping[int, int]
    cost_shift: Mapping[int, npt.NDArray[np.float64]]
    threads: int = 1


@dataclass(frozen=True, slots=True)
class SolveStats:
    """What the solver did.

    Parameters
    ----------
    solver
        Solver name as requested (``HIGHS``, ``CLARABEL``, ...).
    solver_version
        Version of the solver package.
    status
        cvxpy status string (``optimal``).
    objective
        Objective value [currency].
    wall_s
        Wall time of the whole solve call, compilation included [s].
    solver_s
        Time spent inside the solver [s].
    hot_start
        Whether HiGHS restarted from the previous basis.
    """

    solver: str
    solver_version: str
    status: str
    objective: float
    wall_s: float
    solver_s: float
    hot_start: bool


def solver_version(solver: str) -> str:
    """Version of the package behind ``solver``."""
    try:
        return importlib.metadata.version(_PACKAGES.get(solver, solver.lower()))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def solve_model(
    model: Solvable,
    solver: str = "HIGHS",
    highs_options: tuple[tuple[str, Any], ...] = DEFAULT_HIGHS_OPTIONS,
    warm_start: bool = True,
    blocks: BlockSplit | None = None,
) -> SolveStats:
    """Solve ``model`` with its current parameter values; variables hold the solution after.

    ``blocks`` (HiGHS only, LP only) starts a cold solve from the blocks' optimal bases.

    Raises
    ------
    SolverFailedError
        When the solver returns no optimal solution.
    """
    start = time.perf_counter()
    if solver == "HIGHS":
        solver_s, hot = _solve_highs(model, dict(highs_options), warm_start, blocks)
    else:
        backend = "HIGHS" if solver == "HIGHS_CVXPY" else solver
        kwargs: dict[str, Any] = {}
        if backend == "HIGHS":
            kwargs["highs_options"] = dict(highs_options)
        try:
            model.problem.solve(  # type: ignore[no-untyped-call]
                solver=backend, canon_backend=cp.COO_CANON_BACKEND, enforce_dpp=True, **kwargs
            )
        except cp.error.SolverError as exc:
            raise SolverFailedError(solver, "solver_error", str(exc).splitlines()[0]) from None
        stats = model.problem.solver_stats
        solver_s = float(stats.solve_time) if stats and stats.solve_time else 0.0
        hot = False
    status = str(model.problem.status)
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise SolverFailedError(solver, status)
    wall = time.perf_counter() - start
    return SolveStats(
        solver=solver,
        solver_version=solver_version(solver),
        status=status,
        objective=float(model.problem.value),
        wall_s=wall,
        solver_s=solver_s,
        hot_start=hot,
    )


def _solve_highs(
    model: Solvable, options: dict[str, Any], warm_start: bool, blocks: BlockSplit | None = None
) -> tuple[float, bool]:
    import highspy

    data, chain, inverse = model.problem.get_problem_data(
        cp.HIGHS, enforce_dpp=True, canon_backend=cp.COO_CANON_BACKEND
    )
    a = data["A"].tocsc()
    c = np.asarray(data["c"], dtype=np.float64)
    b = np.asarray(data["b"], dtype=np.float64)
    n_eq = int(data["dims"].zero)
    n_col = a.shape[1]
    inf = highspy.kHighsInf
    row_lower = np.concatenate([b[:n_eq], np.full(b.size - n_eq, -inf)])
    row_upper = b
    lb = data.get("lower_bounds")
    ub = data.get("upper_bounds")
    col_lower = np.full(n_col, -inf) if lb is None else np.asarray(lb, dtype=np.float64)
    col_upper = np.full(n_col, inf) if ub is None else np.asarray(ub, dtype=np.float64)
    integer = list(data.get("bool_vars_idx", [])) + list(data.get("int_vars_idx", []))
    if data.get("bool_vars_idx"):
        bool_idx = np.asarray(data["bool_vars_idx"], dtype=np.int64)
        col_lower[bool_idx] = np.maximum(col_lower[bool_idx], 0.0)
        col_upper[bool_idx] = np.minimum(col_upper[bool_idx], 1.0)

    warm = model.warm
    h: Any = warm.get("highs")
    prev: Any = warm.get("last_data")
    same_pattern = (
        prev is not None
        and prev["A"].shape == a.shape
        and np.array_equal(prev["A"].indptr, a.indptr)
        and np.array_equal(prev["A"].indices, a.indices)
    )
    hot = bool(
        warm_start
        and h is not None
        and same_pattern
        and not integer
        and np.array_equal(prev["A"].data, a.data)
    )
    if hot:
        # Only costs and bounds moved: HiGHS keeps its factorised basis (a true hot start).
        idx = np.arange(n_col, dtype=np.int32)
        if not np.array_equal(prev["c"], c):
            h.changeColsCost(n_col, idx, c)
        if not (np.array_equal(prev["lb"], col_lower) and np.array_equal(prev["ub"], col_upper)):
            h.changeColsBounds(n_col, idx, col_lower, col_upper)
        if not (np.array_equal(prev["rl"], row_lower) and np.array_equal(prev["ru"], row_upper)):
            rdx = np.arange(a.shape[0], dtype=np.int32)
            h.changeRowsBounds(a.shape[0], rdx, row_lower, row_upper)
    else:
        # Coefficients moved (the price order of the monotone rows). Measured: HiGHS's
        # changeCoeff costs ~0.4 ms per entry, and restarting from the old basis after the
        # change is slower than a fresh solve (0.71 s vs 0.45 s at J=100, 6.9 s vs 2.8 s at
        # T=288), so the model is passed again and solved from scratch.
        if h is None:
            h = highspy.Highs()  # type: ignore[no-untyped-call]
            h.setOptionValue("output_flag", False)
            for name, value in options.items():
                if integer and name in _LP_ONLY_OPTIONS:
                    continue
                if h.setOptionValue(name, value) == highspy.HighsStatus.kError:
                    raise ValueError(f"HiGHS rejected option {name}={value!r}")
        integrality = np.zeros(n_col, dtype=np.int32)
        if integer:
            integrality[np.asarray(integer, dtype=np.int64)] = int(highspy.HighsVarType.kInteger)
        _pass_model(h, a, c, col_lower, col_upper, row_lower, row_upper, integrality)
        warm["highs"] = h
    warm["last_data"] = {
        "A": a,
        "c": c,
        "lb": col_lower,
        "ub": col_upper,
        "rl": row_lower,
        "ru": row_upper,
    }
    start_s = 0.0
    basis: Any = None
    # A basis only helps simplex (interior point would ignore it after the blocks' work).
    simplex = options.get("solver", "simplex") in ("simplex", "choose")
    if blocks is not None and simplex and not hot and not integer:
        owner = _column_owner(data, blocks, n_col)
        if owner is not None:
            lp_arrays = _LpArrays(a, c, col_lower, col_upper, row_lower, row_upper)
            shift = _column_shift(data, blocks, n_col)
            basis, start_s = _block_basis(lp_arrays, owner, shift, warm, blocks.threads)
    t0 = time.perf_counter()
    # setBasis runs inside HiGHS (it makes the alien start a valid basis): solver time too.
    started = basis is not None and h.setBasis(basis) != highspy.HighsStatus.kError
    warm["start"] = "blocks" if started else ("hot" if hot else "cold")
    if started:
        edge = options.get("simplex_dual_edge_weight_strategy", -1)
        h.setOptionValue("simplex_dual_edge_weight_strategy", _FINISH_EDGE_WEIGHTS)
        h.run()
        h.setOptionValue("simplex_dual_edge_weight_strategy", edge)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            h.clearSolver()
            h.run()
            warm["start"] = "cold"
    else:
        h.run()
    solver_s = start_s + time.perf_counter() - t0
    status = h.getModelStatus()
    results = {
        "solution": h.getSolution(),
        "info": h.getInfo(),
        "model_status": status.name,
        "run_time": solver_s,
    }
    if results["model_status"] != "kOptimal":
        # Never reuse a basis from a failed solve, and never unpack a non-solution.
        warm.pop("highs", None)
        warm.pop("last_data", None)
        raise SolverFailedError("HIGHS", str(results["model_status"]))
    model.problem.unpack_results(results, chain, inverse)
    return solver_s, hot


def _pass_model(
    h: Any,
    a: sp.csc_matrix,
    c: npt.NDArray[np.float64],
    col_lower: npt.NDArray[np.float64],
    col_upper: npt.NDArray[np.float64],
    row_lower: npt.NDArray[np.float64],
    row_upper: npt.NDArray[np.float64],
    integrality: npt.NDArray[np.int32],
) -> None:
    """Hand a column-wise LP (or MIP) to HiGHS as arrays (no element-wise conversion)."""
    import highspy

    status = h.passModel(
        a.shape[1],
        a.shape[0],
        a.nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        np.ascontiguousarray(c, dtype=np.float64),
        np.ascontiguousarray(col_lower, dtype=np.float64),
        np.ascontiguousarray(col_upper, dtype=np.float64),
        np.ascontiguousarray(row_lower, dtype=np.float64),
        np.ascontiguousarray(row_upper, dtype=np.float64),
        np.ascontiguousarray(a.indptr, dtype=np.int32),
        np.ascontiguousarray(a.indices, dtype=np.int32),
        np.ascontiguousarray(a.data, dtype=np.float64),
        integrality,
    )
    if status == highspy.HighsStatus.kError:
        raise SolverFailedError("HIGHS", "load_error")


@dataclass(frozen=True, slots=True)
class _LpArrays:
    """The compiled LP as HiGHS takes it (``row_lower <= A x <= row_upper``)."""

    a: sp.csc_matrix
    c: npt.NDArray[np.float64]
    col_lower: npt.NDArray[np.float64]
    col_upper: npt.NDArray[np.float64]
    row_lower: npt.NDArray[np.float64]
    row_upper: npt.NDArray[np.float64]


def _var_columns(data: dict[str, Any]) -> dict[int, int]:
    cols: dict[int, int] = data["param_prob"].var_id_to_col
    return cols


def _column_owner(
    data: dict[str, Any], blocks: BlockSplit, n_col: int
) -> npt.NDArray[np.int64] | None:
    """Block of every LP column (-1 linking); ``None`` when some column has no known owner."""
    owner = np.full(n_col, -2, dtype=np.int64)
    sizes = {v.id: v.size for v in data["param_prob"].variables}
    for vid, col in _var_columns(data).items():
        if vid not in blocks.owners or vid not in sizes:
            return None
        owner[col : col + sizes[vid]] = blocks.owners[vid]
    if (owner == -2).any():
        return None
    return owner


def _column_shift(data: dict[str, Any], blocks: BlockSplit, n_col: int) -> npt.NDArray[np.float64]:
    shift = np.zeros(n_col)
    cols = _var_columns(data)
    for vid, values in blocks.cost_shift.items():
        col = cols[vid]
        arr = np.asarray(values, dtype=np.float64).ravel(order="F")
        shift[col : col + arr.size] = arr
    return shift


@dataclass(frozen=True, slots=True)
class _Partition:
    """Rows and columns of an LP by block, for one sparsity pattern and one column ownership.

    ``blocks[k]`` is ``(columns, rows, indptr, indices, entries)``: block ``k``'s columns and
    rows of the LP and its sub-matrix in CSC form, whose values are ``A.data[entries]``.
    ``linking`` are the rows holding entries of several blocks or of a linking column, and
    ``candidates[r]`` the block columns of linking row ``linking[r]``.
    """

    owner: npt.NDArray[np.int64]
    blocks: tuple[
        tuple[
            npt.NDArray[np.int64],
            npt.NDArray[np.int64],
            npt.NDArray[np.int64],
            npt.NDArray[np.int64],
            npt.NDArray[np.int64],
        ],
        ...,
    ]
    linking: npt.NDArray[np.int64]
    candidates: tuple[npt.NDArray[np.int64], ...]


def _partition(a: sp.csc_matrix, owner: npt.NDArray[np.int64]) -> _Partition:
    """Split ``a`` (its pattern; explicit zeros count) by the column ``owner`` (-1 linking)."""
    n_row = a.shape[0]
    # Entry numbers as values: every slice below then says which entries of ``a`` it holds.
    numbered = sp.csc_matrix(
        (np.arange(a.nnz, dtype=np.float64) + 1.0, a.indices, a.indptr), shape=a.shape
    )
    a_csr = numbered.tocsr()
    counts = np.diff(a_csr.indptr)
    filled = counts > 0
    row_min = np.full(n_row, -1, dtype=np.int64)
    row_max = np.full(n_row, -1, dtype=np.int64)
    if filled.any():
        col_owner = owner[a_csr.indices]
        starts = a_csr.indptr[:-1][filled]
        row_min[filled] = np.minimum.reduceat(col_owner, starts)
        row_max[filled] = np.maximum.reduceat(col_owner, starts)
    row_owner = np.where(filled & (row_min == row_max) & (row_min >= 0), row_min, -1)
    linking = np.flatnonzero(filled & (row_owner < 0))
    blocks = []
    for k in range(int(owner.max()) + 1):
        cols = np.flatnonzero(owner == k)
        rows = np.flatnonzero(row_owner == k)
        sub = a_csr[rows][:, cols].tocsc()
        sub.sort_indices()
        entries = np.rint(sub.data).astype(np.int64) - 1
        indptr, indices = sub.indptr.astype(np.int64), sub.indices.astype(np.int64)
        blocks.append((cols, rows, indptr, indices, entries))
    lt = a_csr[linking]
    candidates = []
    for r in range(linking.size):
        cols = lt.indices[lt.indptr[r] : lt.indptr[r + 1]]
        candidates.append(np.sort(cols[owner[cols] >= 0]).astype(np.int64))
    return _Partition(owner, tuple(blocks), linking, tuple(candidates))


def _block_basis(
    lp: _LpArrays,
    owner: npt.NDArray[np.int64],
    shift: npt.NDArray[np.float64],
    warm: dict[str, Any],
    threads: int = 1,
) -> tuple[Any, float]:
    """A starting basis of the whole LP from its blocks solved alone, and the blocks' wall time.

    Rows whose columns all belong to one block are that block's; every other row holding
    entries is a linking row. Each block is solved with its own rows and columns, its costs
    shifted by ``shift``, in parallel (HiGHS releases the GIL). The whole LP's basis takes every
    block's column and row statuses; an equality linking row gets one basic column, the one of
    its block columns whose reduced cost in its block is closest to zero (it is the row's
    marginal column when the guessed duals are right); an inequality linking row's slack is
    basic. Returns ``(None, t)`` when a block has no optimum or a linking row no candidate.
    """
    import highspy

    cached = warm.get("block_partition")
    a = lp.a
    if (
        cached is None
        or cached[0].shape != a.shape
        or not np.array_equal(cached[0].indptr, a.indptr)
        or not np.array_equal(cached[0].indices, a.indices)
        or not np.array_equal(cached[1].owner, owner)
    ):
        cached = (a, _partition(a, owner))
        warm["block_partition"] = cached
    part: _Partition = cached[1]
    n_row, n_col = a.shape
    cost = lp.c + shift
    solvers: list[Any] = warm.setdefault("block_highs", [])
    while len(solvers) < len(part.blocks):
        bh = highspy.Highs()  # type: ignore[no-untyped-call]
        bh.setOptionValue("output_flag", False)
        for name, value in DEFAULT_HIGHS_OPTIONS:
            bh.setOptionValue(name, value)
        solvers.append(bh)

    def solve_block(k: int) -> Any:
        cols, rows, indptr, indices, entries = part.blocks[k]
        bh = solvers[k]
        sub = sp.csc_matrix((a.data[entries], indices, indptr), shape=(rows.size, cols.size))
        _pass_model(
            bh,
            sub,
            cost[cols],
            lp.col_lower[cols],
            lp.col_upper[cols],
            lp.row_lower[rows],
            lp.row_upper[rows],
            np.zeros(cols.size, dtype=np.int32),
        )
        bh.run()
        if bh.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        # Read the result here, in the worker, while the other blocks are still solving.
        basis = bh.getBasis()
        reduced = np.abs(np.asarray(bh.getSolution().col_dual))
        return basis.col_status, basis.row_status, reduced

    t0 = time.perf_counter()
    # Largest blocks first, so the last to finish is a small one.
    order = sorted(range(len(part.blocks)), key=lambda k: -part.blocks[k][0].size)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(order)))) as pool:
        done = dict(zip(order, pool.map(solve_block, order), strict=True))
    elapsed = time.perf_counter() - t0
    if any(result is None for result in done.values()):
        return None, elapsed

    kinds = highspy.HighsBasisStatus
    col_status = np.full(n_col, kinds.kLower, dtype=object)
    free_or_upper = ~np.isfinite(lp.col_lower)
    col_status[free_or_upper & np.isfinite(lp.col_upper)] = kinds.kUpper
    col_status[free_or_upper & ~np.isfinite(lp.col_upper)] = kinds.kZero
    row_status = np.full(n_row, kinds.kBasic, dtype=object)
    reduced = np.full(n_col, np.inf)
    for k, (block_cols, block_rows, block_reduced) in done.items():
        cols, rows = part.blocks[k][0], part.blocks[k][1]
        col_status[cols] = block_cols
        row_status[rows] = block_rows
        reduced[cols] = block_reduced
    basic = col_status == kinds.kBasic
    for row, cand in zip(part.linking, part.candidates, strict=True):
        if lp.row_lower[row] != lp.row_upper[row]:
            continue  # an inequality: its slack stays basic
        cand = cand[~basic[cand]]
        if cand.size == 0:
            return None, elapsed
        pick = cand[np.argmin(reduced[cand])]
        col_status[pick] = kinds.kBasic
        basic[pick] = True
        row_status[row] = kinds.kLower
    start = highspy.HighsBasis()
    start.col_status = col_status.tolist()
    start.row_status = row_status.tolist()
    start.valid = True
    start.alien = True
    return start, elapsed
