"""How domain errors map onto HTTP status classes (one table, used by the API and its workers).

Every error a user can cause is a 4xx with a stable ``code``; only the unexpected is a 500.
"""

from __future__ import annotations

from bidding.errors import (
    BiddingError,
    InfeasibleSiteError,
    ScenarioError,
    SiteError,
    SolverFailedError,
)
from engine.core.errors import ConflictError, InputFileError, NotFoundError, PowerdeskError
from ledger.errors import (
    EventFormatError,
    KeyNotValidError,
    LedgerError,
    SignatureError,
    UnauthorisedError,
    UnknownBundleError,
    UnknownKeyError,
)
from market.errors import MarketError, NaiveDatetimeError, UnknownProductError, UnknownZoneError


def _ledger(exc: LedgerError) -> tuple[int, str]:
    if isinstance(exc, SignatureError | UnknownKeyError | KeyNotValidError | UnauthorisedError):
        # The signature, not the API key, authorises ledger actions.
        return 403, "ledger_signature_rejected"
    if isinstance(exc, EventFormatError):
        return 422, "ledger_event_malformed"
    if isinstance(exc, UnknownBundleError):
        return 404, "ledger_unknown_bundle"
    return 409, "ledger_rejected"


def classify(exc: BaseException) -> tuple[int, str] | None:
    """HTTP status and error code of a domain error; None when it is not one (a bug: 500)."""
    inner = getattr(exc, "error", None)
    if isinstance(inner, LedgerError):  # engine.certificates.store.LedgerRejectedError wraps it
        return _ledger(inner)
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, ConflictError):
        return 409, "conflict"
    if isinstance(exc, InputFileError):
        return 422, "invalid_input"
    if isinstance(exc, PowerdeskError):
        return 422, "invalid_request"
    if isinstance(exc, LedgerError):
        return _ledger(exc)
    if isinstance(exc, UnknownZoneError | UnknownProductError):
        return 404, "unknown_market_key"
    if isinstance(exc, NaiveDatetimeError):
        return 422, "naive_datetime"
    if isinstance(exc, MarketError):
        return 422, "market_rule"
    if isinstance(exc, InfeasibleSiteError):
        return 422, "site_infeasible"
    if isinstance(exc, SolverFailedError):
        return 422, "solver_failed"
    if isinstance(exc, ScenarioError):
        return 422, "no_price_scenarios"
    if isinstance(exc, SiteError):
        return 422, "invalid_site"
    if isinstance(exc, BiddingError):
        return 422, "bidding_rule"
    return None
