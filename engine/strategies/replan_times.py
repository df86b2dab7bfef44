"""When the real-time stage re-plans a day: after its DA result, and (rolling) while it runs.

Light on purpose (no solver imports): the scheduler reads these times to list and trigger its
``replan`` jobs; :mod:`engine.strategies.realtime` re-plans at them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from engine.core.errors import PowerdeskError
from market import Zone, delivery_intervals
from market.calendar import da_publication_utc

# The re-plan is made this long after the DA results of the day are published.
REPLAN_DELAY = timedelta(minutes=15)
# A rolling re-plan is made this long before the interval boundary from which it decides.
INTRADAY_LEAD = timedelta(minutes=1)


def replan_time(day: date, zone: Zone) -> datetime:
    """When the real-time stage re-plans ``day``: its DA publication + :data:`REPLAN_DELAY`."""
    return da_publication_utc(day, zone) + REPLAN_DELAY


def intraday_times(day: date, zone: Zone, every: timedelta) -> list[datetime]:
    """Times [UTC] of the rolling re-plans of ``day``: :data:`INTRADAY_LEAD` before the start of
    ``day`` and before every ``every`` after it, while ``day`` runs.

    Raises
    ------
    PowerdeskError
        ``every`` not a positive whole number of the zone's DA intervals.
    """
    intervals = delivery_intervals(day, zone)
    step = pd.Timedelta(intervals[1] - intervals[0]).to_pytimedelta()
    if every <= timedelta(0) or every % step:
        minutes = step.total_seconds() / 60
        raise PowerdeskError(
            f"rolling re-plans must come every whole number of {minutes:g}-minute intervals"
        )
    start = intervals[0].to_pydatetime()
    end = (intervals[-1] + step).to_pydatetime()
    out, t = [], start
    while t < end:
        out.append(t - INTRADAY_LEAD)
        t += every
    return out


__all__ = ["INTRADAY_LEAD", "REPLAN_DELAY", "intraday_times", "replan_time"]
