"""Errors raised by the bidding library: domain errors whose message is meant for the user."""

from __future__ import annotations

from dataclasses import dataclass


class BiddingError(ValueError):
    """Base class: a bidding input or outcome the library cannot accept (one-line message)."""


class SiteError(BiddingError):
    """A site description that breaks a rule (names the field and the problem)."""


class ScenarioError(BiddingError):
    """Price scenarios that cannot be built (no history before gate closure, bad shape)."""


@dataclass(frozen=True, slots=True)
class ConstraintBreach:
    """One soft constraint that had to give way.

    Parameters
    ----------
    group
        Constraint group: ``"job_energy"``, ``"grid_import"`` or ``"battery_end_soc"``.
    name
        What inside the group (job class name, ``"site"``, ``"battery"``).
    amount
        How much the constraint is violated, expectation over scenarios [MWh].
    penalty_cost
        Expected penalty paid for it [currency].
    """

    group: str
    name: str
    amount: float
    penalty_cost: float

    def describe(self) -> str:
        """One-line description, e.g. ``job_energy 'training' short by 12.5 MWh``."""
        what = {
            "job_energy": "short by",
            "grid_import": "over the import limit by",
            "battery_end_soc": "ends the day below soc_initial_mwh by",
        }.get(self.group, "violated by")
        return f"{self.group} {self.name!r} {what} {self.amount:.3f} MWh"


class InfeasibleSiteError(BiddingError):
    """The site cannot meet its hard rules on this day; ``breaches`` says which group and how much.

    The model is elastic (every group that can be infeasible has a priced slack), so the solver
    always finds a point; when a slack is used and the caller asked for strict feasibility this
    error names the first constraint group that gave way.
    """

    def __init__(self, day: str, breaches: tuple[ConstraintBreach, ...]) -> None:
        self.day = day
        self.breaches = breaches
        first = breaches[0].describe() if breaches else "unknown constraint group"
        more = f" (+{len(breaches) - 1} more)" if len(breaches) > 1 else ""
        super().__init__(f"site infeasible on {day}: {first}{more}")


class SolverFailedError(BiddingError):
    """The solver returned no usable solution (status other than optimal)."""

    def __init__(self, solver: str, status: str, detail: str = "") -> None:
        self.solver = solver
        self.status = status
        tail = f": {detail}" if detail else ""
        super().__init__(f"solver {solver} returned status {status}{tail}")
