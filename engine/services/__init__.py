"""Use cases behind the shells (API, scheduler, CLI): each area keeps its own module here.

``engine.jobservices`` looks the scheduler's services (``bid_day``, ``settle_day``,
``monthly_report``) up on this package when a job runs.
"""

from engine.services.daily import bid_day, monthly_report, settle_day

__all__ = ["bid_day", "monthly_report", "settle_day"]
