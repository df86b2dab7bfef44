"""powerdesk ledger: PPAs and signed, hourly green-certificate traceability (pure library).

Modules: :mod:`ledger.events` (event model, canonical bytes, signatures, leaves),
:mod:`ledger.state` (the certificate state machine), :mod:`ledger.merkle` (RFC 6962 tree and
proofs), :mod:`ledger.note` (C2SP signed-note checkpoints), :mod:`ledger.verify` (offline log
verification), :mod:`ledger.ppa` (PPA contracts and settlement), :mod:`ledger.green`
(green-electricity trading contracts and unbundled GEC purchases), :mod:`ledger.schemes`,
:mod:`ledger.keys`, :mod:`ledger.signer`, :mod:`ledger.errors`.
"""

from ledger.errors import LedgerError
from ledger.events import (
    Correct,
    Event,
    Expire,
    Issue,
    Kind,
    RegisterDevice,
    RegisterKey,
    Retire,
    RevokeKey,
    SignedEvent,
    Split,
    Transfer,
    TransferBundled,
    Withdraw,
    decode_leaf,
    sign_event,
)
from ledger.keys import KeyRecord, Role, key_id_of
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import Bundle, Cell, Changes, Device, LedgerState, Status, replay

__all__ = [
    "Bundle",
    "Cell",
    "Changes",
    "Correct",
    "Device",
    "Event",
    "EventSigner",
    "Expire",
    "Issue",
    "KeyRecord",
    "Kind",
    "LedgerError",
    "LedgerState",
    "RegisterDevice",
    "RegisterKey",
    "Retire",
    "RevokeKey",
    "Role",
    "Scheme",
    "SignedEvent",
    "Split",
    "Status",
    "Transfer",
    "TransferBundled",
    "Withdraw",
    "decode_leaf",
    "key_id_of",
    "replay",
    "sign_event",
]
