"""What a day's solve returns: bids, the planned schedule, objective parts and provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from bidding.errors import ConstraintBreach
from market.clearing import DACurve

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BlockBid:
    """A block bid for a non-preemptible job: a fixed quantity over consecutive intervals.

    Parameters
    ----------
    job
        Job class name.
    start, end
        UTC ``[start, end)`` of the block.
    quantity_mw
        Largest facility power bought in an interval of the block [MW].
    limit_price_per_mwh
        Highest average price the block is accepted at [currency/MWh].
    profile_mw
        Facility power per interval of the block (a profile block; differs from
        ``quantity_mw`` when the PUE changes inside the block) [MW].
    """

    job: str
    start: datetime
    end: datetime
    quantity_mw: float
    limit_price_per_mwh: Decimal
    profile_mw: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class ReserveBid:
    """A capacity offer for one product and block.

    Parameters
    ----------
    product
        Product key.
    start, end
        UTC ``[start, end)`` of the block.
    capacity_mw
        Capacity offered [MW].
    price_per_mw
        Ask per MW for the block: what an award costs the site to deliver
        (:func:`bidding.day.reserve_asks`); awarded at or below the clearing price, paid the
        clearing price [currency/MW].
    """

    product: str
    start: datetime
    end: datetime
    capacity_mw: float
    price_per_mw: Decimal


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a plan came from.

    Parameters
    ----------
    solver, solver_version, status
        Solver used, its package version and the final status.
    objective
        Objective value [currency].
    solve_time_s
        Wall time of the solve call [s].
    solver_time_s
        Time inside the solver [s].
    parameter_hash
        SHA-256 of every input (site, day, scenarios, reserve prices, options).
    code_version
        powerdesk bidding model version.
    scenario_method
        How the price scenarios were built.
    hot_start
        Whether HiGHS restarted from its previous basis.
    inputs_as_of
        Knowledge time of the price inputs (gate closure for forecasts).
    """

    solver: str
    solver_version: str
    status: str
    objective: float
    solve_time_s: float
    solver_time_s: float
    parameter_hash: str
    code_version: str
    scenario_method: str
    hot_start: bool = False
    inputs_as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class ObjectiveParts:
    """Expected money parts of the plan [currency]; ``total`` is what the optimiser minimised."""

    energy_cost: float
    reserve_revenue: float
    degradation_cost: float
    demand_response_cost: float
    penalty_cost: float
    ppa_cost: float
    total: float


@dataclass(frozen=True, slots=True)
class DayPlan:
    """The bids and the planned schedule of one site and delivery day.

    Arrays are indexed by scenario ``s``, job ``j`` and interval ``t`` (``intervals``).

    Parameters
    ----------
    site, zone, day, currency
        What was planned.
    intervals
        UTC interval starts.
    interval_hours
        Interval length [h].
    scenario_prices_per_mwh
        ``(S, T)`` prices the plan was optimised on [currency/MWh].
    probabilities
        ``(S,)`` scenario probabilities.
    market_mw
        ``(S, T)`` DA purchase per scenario [MW] (negative: sale).
    job_names
        Job class names, preemptible first then non-preemptible (as in the site).
    job_it_mw
        ``(S, J, T)`` IT power of every job class [MW].
    charge_mw, discharge_mw
        ``(S, T)`` battery power [MW] (zeros without a battery).
    soc_mwh
        ``(S, T + 1)`` state of charge at the interval boundaries [MWh].
    reserve_mw
        Capacity per product per interval [MW].
    battery_up_mw, battery_down_mw, dr_up_mw
        ``(T,)`` how the offered reserve is backed [MW].
    pue
        ``(T,)`` PUE used [-].
    da_curves, block_bids, reserve_bids
        The bid set.
    objective
        Expected money parts.
    breaches
        Soft constraints that gave way (empty when every hard rule held).
    provenance
        Solver, hashes, versions.
    """

    site: str
    zone: str
    day: date
    currency: str
    intervals: pd.DatetimeIndex
    interval_hours: float
    scenario_prices_per_mwh: FloatArray
    probabilities: FloatArray
    market_mw: FloatArray
    job_names: tuple[str, ...]
    job_it_mw: FloatArray
    charge_mw: FloatArray
    discharge_mw: FloatArray
    soc_mwh: FloatArray
    reserve_mw: dict[str, FloatArray]
    battery_up_mw: FloatArray
    battery_down_mw: FloatArray
    dr_up_mw: FloatArray
    pue: FloatArray
    base_it_mw: float
    ppa_mw: FloatArray
    da_curves: tuple[DACurve, ...]
    block_bids: tuple[BlockBid, ...]
    reserve_bids: tuple[ReserveBid, ...]
    objective: ObjectiveParts
    breaches: tuple[ConstraintBreach, ...]
    provenance: Provenance
    extra: dict[str, float] = field(default_factory=dict)

    def block_profile_mw(self) -> FloatArray:
        """``(T,)`` facility power the block bids buy per interval [MW]."""
        out = np.zeros(len(self.intervals))
        for b in self.block_bids:
            first = int(self.intervals.searchsorted(pd.Timestamp(b.start)))
            out[first : first + len(b.profile_mw)] += np.asarray(b.profile_mw)
        return out

    def submission_curves(self) -> tuple[DACurve, ...]:
        """The DA curves to submit next to :attr:`block_bids`: the block bids' power taken out.

        :attr:`da_curves` describe the whole position (the non-preemptible jobs are first-stage
        decisions, so their power is in every scenario's purchase); an exchange that also gets
        the block bids must receive the curves without it, or the energy would be bought twice.
        """
        blocks = self.block_profile_mw()
        if not blocks.any():
            return self.da_curves
        return tuple(
            DACurve(
                c.interval_start,
                c.prices_per_mwh,
                tuple(round(q - float(blocks[t]), 3) for q in c.quantities_mw),
            )
            for t, c in enumerate(self.da_curves)
        )

    @property
    def expected_market_mw(self) -> FloatArray:
        """Probability-weighted DA purchase per interval [MW]."""
        return np.asarray(self.probabilities @ self.market_mw, dtype=np.float64)

    @property
    def grid_mw(self) -> FloatArray:
        """``(S, T)`` physical grid import (purchase plus PPA delivery) [MW]."""
        return np.asarray(self.market_mw + self.ppa_mw[None, :], dtype=np.float64)

    def schedule_frame(self, scenario: int | None = None) -> pd.DataFrame:
        """The planned schedule per interval, expected over scenarios unless one is named."""
        w = self.probabilities if scenario is None else np.eye(len(self.probabilities))[scenario]
        frame = pd.DataFrame(index=self.intervals)
        frame["market_mw"] = w @ self.market_mw
        frame["grid_import_mw"] = w @ self.grid_mw
        frame["ppa_mw"] = self.ppa_mw
        frame["base_it_mw"] = self.base_it_mw
        frame["pue"] = self.pue
        for j, name in enumerate(self.job_names):
            frame[f"job_{name}_it_mw"] = w @ self.job_it_mw[:, j, :]
        frame["battery_charge_mw"] = w @ self.charge_mw
        frame["battery_discharge_mw"] = w @ self.discharge_mw
        frame["battery_soc_end_mwh"] = w @ self.soc_mwh[:, 1:]
        for key, values in self.reserve_mw.items():
            frame[f"reserve_{key}_mw"] = values
        return frame
