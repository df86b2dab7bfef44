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
"""

from __future__ import annotations

import importlib.metadata
import time
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

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
) -> SolveStats:
    """Solve ``model`` with its current parameter values; variables hold the solution after.

    Raises
    ------
    SolverFailedError
        When the solver returns no optimal solution.
    """
    start = time.perf_counter()
    if solver == "HIGHS":
        solver_s, hot = _solve_highs(model, dict(highs_options), warm_start)
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


def _solve_highs(model: Solvable, options: dict[str, Any], warm_start: bool) -> tuple[float, bool]:
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
        lp = highspy.HighsLp()
        lp.num_col_ = n_col
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = c
        lp.col_lower_ = col_lower
        lp.col_upper_ = col_upper
        lp.row_lower_ = row_lower
        lp.row_upper_ = row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        if integer:
            kinds = [highspy.HighsVarType.kContinuous] * n_col
            for i in integer:
                kinds[int(i)] = highspy.HighsVarType.kInteger
            lp.integrality_ = kinds
        h.passModel(lp)
        warm["highs"] = h
    warm["last_data"] = {
        "A": a,
        "c": c,
        "lb": col_lower,
        "ub": col_upper,
        "rl": row_lower,
        "ru": row_upper,
    }
    t0 = time.perf_counter()
    h.run()
    solver_s = time.perf_counter() - t0
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
