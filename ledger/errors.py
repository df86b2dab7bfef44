"""Typed ledger errors: every rejection raises one of these, with a one-line message."""

from __future__ import annotations


class LedgerError(ValueError):
    """Base class of every ledger rejection."""


class EventFormatError(LedgerError):
    """The bytes or JSON of an event are malformed or not canonical."""


class SignatureError(LedgerError):
    """An Ed25519 signature does not verify."""


class UnknownKeyError(LedgerError):
    """The signer's key id is not in the key registry."""


class KeyNotValidError(LedgerError):
    """The signer's key is outside its validity window at the event time."""


class UnauthorisedError(LedgerError):
    """The signer may not perform this action (wrong role or not the owner/issuer)."""


class StaleSequenceError(LedgerError):
    """The per-key sequence number is not the next one (stale, replayed or skipped)."""


class ReplayError(LedgerError):
    """The idempotency key was used before."""


class InvalidTransitionError(LedgerError):
    """The action is not allowed in the bundle's current state."""

    def __init__(self, bundle_id: str, status: str, action: str) -> None:
        super().__init__(f"certificate bundle {bundle_id} is {status}: cannot {action}")
        self.bundle_id = bundle_id
        self.status = status
        self.action = action


class UnknownBundleError(LedgerError):
    """No certificate bundle has this id."""


class UnknownDeviceError(LedgerError):
    """The device is not registered."""


class DuplicateError(LedgerError):
    """A key, device or bundle with this id exists already."""


class IssuanceLimitError(LedgerError):
    """Issuance would exceed the metered energy or the device capacity times the interval."""


class IntervalError(LedgerError):
    """A production or consumption interval is malformed (naive, misaligned, too long)."""


class AmountError(LedgerError):
    """An energy amount is not a positive whole number of the scheme's unit, or does not add up."""


class EventTimeError(LedgerError):
    """An event time the log cannot accept: before the log head's time, or further from the
    appending server's clock than the stated skew."""


class ExpiryError(LedgerError):
    """The certificate has expired (or has not yet expired when an expiry is claimed)."""


class ConservationError(LedgerError):
    """issued != active + retired + expired + withdrawn, or overlapping id ranges."""


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof does not verify."""


class NoteError(LedgerError):
    """A signed note (checkpoint) is malformed or its signature does not verify."""


class BundledError(LedgerError):
    """Certificates bundled with a green-electricity contract cannot move on their own (or a
    bundle cannot be bundled: wrong scheme, bundled already)."""


class PPAError(LedgerError):
    """A PPA contract or its settlement inputs are invalid."""


class RejectedEventError(LedgerError):
    """An event of a log was rejected; ``index`` is its leaf index, ``error`` the reason."""

    def __init__(self, index: int, error: LedgerError) -> None:
        super().__init__(f"leaf {index}: {error}")
        self.index = index
        self.error = error
