"""The certificate state machine applied to an in-memory ledger state.

:class:`LedgerState` holds keys, devices, per-(device, interval) tallies ("cells") and certificate
bundles. :meth:`LedgerState.apply` checks one signed event completely – signature, key validity,
per-key sequence, idempotency, authorisation, state transition, issuance limits – and only then
changes the state, returning the :class:`Changes`. The engine runs it on a partial state loaded
from the database; the offline verifier runs it on the whole log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import (
    AmountError,
    BundledError,
    ConservationError,
    DuplicateError,
    EventFormatError,
    EventTimeError,
    ExpiryError,
    IntervalError,
    InvalidTransitionError,
    IssuanceLimitError,
    KeyNotValidError,
    LedgerError,
    RejectedEventError,
    ReplayError,
    SignatureError,
    StaleSequenceError,
    UnauthorisedError,
    UnknownBundleError,
    UnknownDeviceError,
    UnknownKeyError,
)
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
    format_time,
)
from ledger.keys import KeyRecord, Role, key_id_of
from ledger.schemes import SCHEMES, Period, Scheme, SchemeRules, expiry_of
from market.schemes import is_month, period_zone, previous_month_start

SECONDS_PER_HOUR = 3600
MAX_SKEW = timedelta(minutes=5)
"""How far an event's ``at`` may lie from the appending server's clock (either way)."""
_R = TypeVar("_R")


class Status(StrEnum):
    """Certificate bundle states. Only ACTIVE has outgoing transitions."""

    ACTIVE = "active"
    SPLIT = "split"
    RETIRED = "retired"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


BUNDLE_ACTIONS: tuple[Kind, ...] = (
    Kind.SPLIT,
    Kind.TRANSFER,
    Kind.RETIRE,
    Kind.WITHDRAW,
    Kind.CORRECT,
    Kind.EXPIRE,
    Kind.TRANSFER_BUNDLED,
)
"""Event kinds that act on an existing bundle."""

TRANSITIONS: Mapping[tuple[Status, Kind], Status] = {
    (Status.ACTIVE, Kind.SPLIT): Status.SPLIT,
    (Status.ACTIVE, Kind.TRANSFER): Status.ACTIVE,
    (Status.ACTIVE, Kind.RETIRE): Status.RETIRED,
    (Status.ACTIVE, Kind.WITHDRAW): Status.WITHDRAWN,
    (Status.ACTIVE, Kind.CORRECT): Status.WITHDRAWN,
    (Status.ACTIVE, Kind.EXPIRE): Status.EXPIRED,
    (Status.ACTIVE, Kind.TRANSFER_BUNDLED): Status.ACTIVE,
}
"""The complete transition table; every (state, action) pair not listed is rejected."""


def _evolve(record: _R, **changes: object) -> _R:
    """``dataclasses.replace`` without its per-call overhead (hot path of bulk replays).

    Valid for the frozen, slot-less record classes of this module, which have no
    ``__post_init__``: the copy gets the same field values except ``changes``.
    """
    new = object.__new__(type(record))
    new.__dict__.update(record.__dict__)
    new.__dict__.update(changes)
    return new


def _issued(cell: Cell, id_end: int, energy_wh: int, metered_wh: int) -> Cell:
    """``cell`` after ``energy_wh`` more are issued, up to unit id ``id_end`` (issue, correct)."""
    return _evolve(
        cell,
        next_id=id_end,
        issued_wh=cell.issued_wh + energy_wh,
        active_wh=cell.active_wh + energy_wh,
        metered_wh=metered_wh,
    )


def next_status(status: Status, action: Kind, bundle_id: str = "?") -> Status:
    """The state after ``action``; raises :class:`InvalidTransitionError` if not allowed."""
    try:
        return TRANSITIONS[status, action]
    except KeyError:
        raise InvalidTransitionError(bundle_id, str(status), str(action)) from None


def carried_from(scheme: Scheme, interval_start: datetime) -> datetime | None:
    """Start of the period whose remainder an issuance for ``interval_start`` takes over (the
    previous calendar month, for monthly schemes that carry remainders), else None.

    The remainder is fixed when the month's first issuance (or zero statement) is applied:
    ``(metered + carried in) mod unit`` of the previous month. Whole units left unissued stay
    issuable in their own month only; a month with no statement at all carries nothing.
    """
    rules = SCHEMES[scheme]
    if not (rules.carry_remainder and rules.period is Period.MONTH):
        return None
    return previous_month_start(interval_start, period_zone(scheme))


def remainder_of(cell: Cell | None, scheme: Scheme) -> int:
    """What a period's cell carries into the next period [Wh]: its metered energy plus what it
    carried in, modulo the scheme's unit (0 without a cell)."""
    if cell is None:
        return 0
    return (cell.metered_wh + cell.carried_in_wh) % SCHEMES[scheme].unit_wh


def bundle_id_for(device: str, interval_start: datetime, id_start: int, id_end: int) -> str:
    """Deterministic bundle id; id ranges of one (device, interval) never repeat."""
    return f"{device}/{format_time(interval_start)}/{id_start}-{id_end}"


@dataclass(frozen=True)
class Retirement:
    """What a retirement claims: who, where and when the energy was consumed."""

    beneficiary: str
    site: str
    consumption_start: datetime
    consumption_end: datetime
    zone: str
    retired_at: datetime


@dataclass(frozen=True)
class Bundle:
    """A range of certificate ids [id_start, id_end) (one id per Wh) of one device and interval.

    Attributes
    ----------
    created_index, updated_index
        Log indexes of the event that created it and of the last one that changed it.
    parent
        Bundle this one was split from, or for a correction the bundle it replaces.
    contract
        Green-electricity trading contract the certificates are bundled with (绿电交易), or
        None for unbundled certificates. Bundled certificates are never transferred on their
        own; split parts and corrections stay bundled.
    """

    bundle_id: str
    scheme: Scheme
    device: str
    technology: str
    zone: str
    interval_start: datetime
    interval_end: datetime
    id_start: int
    id_end: int
    owner: str
    issuer: str
    status: Status
    expires_at: datetime | None
    external_code: str | None
    parent: str | None
    created_index: int
    updated_index: int
    retirement: Retirement | None = None
    contract: str | None = None

    @property
    def energy_wh(self) -> int:
        """Energy [Wh]."""
        return self.id_end - self.id_start


@dataclass(frozen=True)
class Device:
    """A registered production device; ``resolution_s`` is its issuance interval [s]."""

    device: str
    capacity_w: int
    technology: str
    zone: str
    resolution_s: int
    issuer: str


@dataclass(frozen=True)
class Cell:
    """Tallies [Wh] of one (device, production interval); ids [0, next_id) were issued.

    ``carried_in_wh`` is metered energy below one certificate carried from the previous
    monthly period (schemes that carry remainders, e.g. China GEC); 0 otherwise.
    """

    device: str
    interval_start: datetime
    interval_end: datetime
    next_id: int = 0
    issued_wh: int = 0
    active_wh: int = 0
    retired_wh: int = 0
    expired_wh: int = 0
    withdrawn_wh: int = 0
    metered_wh: int = 0
    carried_in_wh: int = 0

    @property
    def live_issued_wh(self) -> int:
        """Issued and not withdrawn [Wh]: what the meter and capacity limits bound."""
        return self.issued_wh - self.withdrawn_wh

    @property
    def conserved(self) -> bool:
        """issued = active + retired + expired + withdrawn."""
        total = self.active_wh + self.retired_wh + self.expired_wh + self.withdrawn_wh
        return self.issued_wh == total and self.next_id == self.issued_wh


CellKey = tuple[str, datetime]


@dataclass(frozen=True)
class Changes:
    """Everything one applied event changed (final values), for persistence and display."""

    index: int
    signed: SignedEvent
    keys: tuple[KeyRecord, ...] = ()
    seq: tuple[str, int] | None = None
    devices: tuple[Device, ...] = ()
    cells: tuple[Cell, ...] = ()
    bundles: tuple[Bundle, ...] = ()

    @property
    def event(self) -> Event:
        """The applied event."""
        return self.signed.event


class LedgerState:
    """In-memory ledger state (whole, or the part an engine transaction loaded).

    Parameters
    ----------
    operator_public_key
        Raw Ed25519 key [32 bytes] trusted as the log's root: leaf 0 must register it.
    size
        Number of events already applied (the next event gets this log index).
    keys, seqs, devices, cells, bundles, idempotency_keys
        Pre-existing records (for a partial state loaded by the engine).
    head_time
        Event time of the log's last leaf (``None`` for an empty log): no event may be earlier.

    Event time
        The log, not the signer, decides when an event happened. An event's ``at`` is never
        before the log head's time (log order is time order: a verifier checks this offline),
        and when the appender passes its clock (``apply(now=...)``) it lies within
        :data:`MAX_SKEW` of it. Key validity, certificate expiry and "the production interval
        has ended" are all judged at that ``at``, so a signer can neither backdate into a
        revoked key's validity or a certificate's life, nor issue for the future.
    """

    def __init__(
        self,
        operator_public_key: bytes,
        *,
        size: int = 0,
        keys: Iterable[KeyRecord] = (),
        seqs: Mapping[str, int] | None = None,
        devices: Iterable[Device] = (),
        cells: Iterable[Cell] = (),
        bundles: Iterable[Bundle] = (),
        idempotency_keys: Iterable[str] = (),
        head_time: datetime | None = None,
    ) -> None:
        self.operator_public_key = operator_public_key
        self.size = size
        self.head_time = head_time
        self.keys: dict[str, KeyRecord] = {k.key_id: k for k in keys}
        self.seqs: dict[str, int] = dict(seqs or {})
        self.devices: dict[str, Device] = {d.device: d for d in devices}
        self.cells: dict[CellKey, Cell] = {(c.device, c.interval_start): c for c in cells}
        self.bundles: dict[str, Bundle] = {b.bundle_id: b for b in bundles}
        self.idempotency_keys: set[str] = set(idempotency_keys)
        self._public: dict[str, Ed25519PublicKey] = {}
        self._verified: set[tuple[str, bytes, bytes]] = set()

    def copy(self) -> LedgerState:
        """An independent copy (records are immutable, so the dicts are copied shallowly)."""
        other = LedgerState(
            self.operator_public_key, size=self.size, seqs=self.seqs, head_time=self.head_time
        )
        other.keys = dict(self.keys)
        other.devices = dict(self.devices)
        other.cells = dict(self.cells)
        other.bundles = dict(self.bundles)
        other.idempotency_keys = set(self.idempotency_keys)
        return other

    # -- checks shared by every event -----------------------------------------------------------

    def _public_key(self, record: KeyRecord) -> Ed25519PublicKey:
        key = self._public.get(record.key_id)
        if key is None:
            key = Ed25519PublicKey.from_public_bytes(record.public_key)
            self._public[record.key_id] = key
        return key

    def _signer(self, signed: SignedEvent) -> KeyRecord:
        event = signed.event
        body = event.body
        if self.size == 0:
            # Genesis: the log's first event is the operator registering its own key.
            if not (
                isinstance(body, RegisterKey)
                and body.key_id == event.key_id
                and body.public_key == self.operator_public_key
                and Role.OPERATOR in body.roles
            ):
                raise UnauthorisedError(
                    "leaf 0 must be the operator registering its own key (trusted public key)"
                )
            return KeyRecord(
                body.key_id,
                body.public_key,
                body.party,
                body.roles,
                body.valid_from,
                body.valid_until,
            )
        record = self.keys.get(event.key_id)
        if record is None:
            raise UnknownKeyError(f"unknown signing key {event.key_id}")
        return record

    def apply(
        self,
        signed: SignedEvent,
        *,
        verify_signature: bool = True,
        now: datetime | None = None,
        max_skew: timedelta = MAX_SKEW,
    ) -> Changes:
        """Check ``signed`` fully and apply it; the state is unchanged if anything fails.

        Parameters
        ----------
        signed
            The decoded event with its signature.
        verify_signature
            Set False only when the signature was verified elsewhere (bulk verification).
        now
            The appending server's clock: the event's ``at`` must lie within ``max_skew`` of
            it. ``None`` when re-applying a log offline (only log order is checked then).
        max_skew
            Largest distance of ``at`` from ``now``.

        Raises
        ------
        LedgerError
            The typed reason the event is rejected.
        """
        event = signed.event
        signer = self._signer(signed)
        if verify_signature:
            proof = (signer.key_id, signed.signature, signed.signed_payload)
            # A batch signature covers many events: check it once per state.
            if proof not in self._verified:
                try:
                    self._public_key(signer).verify(signed.signature, signed.signed_payload)
                except InvalidSignature as exc:
                    raise SignatureError(
                        f"signature of {event.kind} by key {event.key_id} does not verify"
                    ) from exc
                if len(self._verified) > 100_000:
                    self._verified.clear()
                self._verified.add(proof)
        if self.head_time is not None and event.at < self.head_time:
            raise EventTimeError(
                f"event time {format_time(event.at)} is before the log head's time "
                f"{format_time(self.head_time)} (sign it again with the current time)"
            )
        if now is not None and abs(event.at - now) > max_skew:
            raise EventTimeError(
                f"event time {format_time(event.at)} is more than {max_skew} from the ledger's "
                f"clock {format_time(now.replace(microsecond=0))} (sign it with the current time)"
            )
        if not signer.valid_at(event.at):
            raise KeyNotValidError(f"key {signer.key_id} is not valid at {format_time(event.at)}")
        last = self.seqs.get(event.key_id, 0)
        if event.seq != last + 1:
            raise StaleSequenceError(
                f"key {event.key_id} sequence {event.seq}: expected {last + 1}"
            )
        if event.idempotency_key in self.idempotency_keys:
            raise ReplayError(f"idempotency key {event.idempotency_key!r} was used before")
        handler = _HANDLERS[event.kind]
        changes = handler(self, signer, signed)
        # Commit: nothing above mutated the state.
        for k in changes.keys:
            self.keys[k.key_id] = k
        for d in changes.devices:
            self.devices[d.device] = d
        for c in changes.cells:
            self.cells[c.device, c.interval_start] = c
        for b in changes.bundles:
            self.bundles[b.bundle_id] = b
        self.seqs[event.key_id] = event.seq
        self.idempotency_keys.add(event.idempotency_key)
        self.size += 1
        self.head_time = event.at
        return changes

    def _changes(self, signed: SignedEvent, **kwargs: tuple[object, ...]) -> Changes:
        return Changes(
            index=self.size,
            signed=signed,
            seq=(signed.event.key_id, signed.event.seq),
            **kwargs,  # type: ignore[arg-type]
        )

    # -- key and device registry ----------------------------------------------------------------

    def _register_key(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        body = signed.event.body
        assert isinstance(body, RegisterKey)
        _require_role(signer, Role.OPERATOR, "register keys")
        if body.key_id in self.keys:
            raise DuplicateError(f"key {body.key_id} is registered already")
        if len(body.public_key) != 32 or key_id_of(body.public_key) != body.key_id:
            raise EventFormatError("key_id does not match the 32-byte public key")
        try:
            Ed25519PublicKey.from_public_bytes(body.public_key)
        except ValueError as exc:
            raise EventFormatError("public key is not an Ed25519 key") from exc
        if body.valid_until is not None and body.valid_until <= body.valid_from:
            raise EventFormatError("key valid_until must be after valid_from")
        record = KeyRecord(
            body.key_id,
            body.public_key,
            body.party,
            body.roles,
            body.valid_from,
            body.valid_until,
        )
        return self._changes(signed, keys=(record,))

    def _revoke_key(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        body = signed.event.body
        assert isinstance(body, RevokeKey)
        _require_role(signer, Role.OPERATOR, "revoke keys")
        record = self.keys.get(body.key_id)
        if record is None:
            raise UnknownKeyError(f"unknown key {body.key_id}")
        if body.valid_until < record.valid_from or (
            record.valid_until is not None and body.valid_until > record.valid_until
        ):
            raise EventFormatError("revocation may only shorten a key's validity window")
        new = _evolve(record, valid_until=body.valid_until)
        return self._changes(signed, keys=(new,))

    def _register_device(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        body = signed.event.body
        assert isinstance(body, RegisterDevice)
        _require_role(signer, Role.ISSUER, "register devices")
        if body.device in self.devices:
            raise DuplicateError(f"device {body.device} is registered already")
        if body.capacity_w <= 0:
            raise AmountError("device capacity must be positive [W]")
        res = body.resolution_s
        if not 0 < res <= SECONDS_PER_HOUR or SECONDS_PER_HOUR % res:
            raise IntervalError(f"resolution {res} s must divide one hour")
        device = Device(body.device, body.capacity_w, body.technology, body.zone, res, signer.party)
        return self._changes(signed, devices=(device,))

    # -- issuance -------------------------------------------------------------------------------

    def _cell(self, device: Device, start: datetime, end: datetime, rules: SchemeRules) -> Cell:
        """The (device, period) cell of an issuance; a new monthly cell of a scheme that carries
        remainders takes the previous month's remainder below one unit."""
        tz = period_zone(rules.scheme)
        if rules.period is Period.MONTH:
            if not is_month(start, end, tz):
                raise IntervalError(
                    f"interval {format_time(start)}–{format_time(end)} is not a calendar month "
                    f"({tz.key}): {rules.scheme} certificates are issued per month"
                )
        else:
            seconds = (end - start).total_seconds()
            if seconds != device.resolution_s:
                raise IntervalError(
                    f"interval {format_time(start)}–{format_time(end)} is not the device's "
                    f"{device.resolution_s} s resolution"
                )
            if int(start.timestamp()) % device.resolution_s:
                raise IntervalError(f"interval start {format_time(start)} is not aligned (UTC)")
        cell = self.cells.get((device.device, start))
        if cell is not None:
            return cell
        previous = carried_from(rules.scheme, start)
        before = None if previous is None else self.cells.get((device.device, previous))
        return Cell(device.device, start, end, carried_in_wh=remainder_of(before, rules.scheme))

    def _check_limits(self, device: Device, cell: Cell, live_wh: int, metered_wh: int) -> None:
        basis = metered_wh + cell.carried_in_wh
        if live_wh > basis:
            carried = f" + {cell.carried_in_wh} Wh carried" if cell.carried_in_wh else ""
            raise IssuanceLimitError(
                f"{live_wh} Wh would exceed the metered {metered_wh} Wh{carried} of "
                f"{device.device} at {format_time(cell.interval_start)}"
            )
        seconds = int((cell.interval_end - cell.interval_start).total_seconds())
        if live_wh * SECONDS_PER_HOUR > device.capacity_w * seconds:
            raise IssuanceLimitError(
                f"{live_wh} Wh would exceed capacity {device.capacity_w} W × {seconds} s "
                f"of {device.device}"
            )

    def _issue(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        event = signed.event
        body = event.body
        assert isinstance(body, Issue)
        _require_role(signer, Role.ISSUER, "issue")
        device = self.devices.get(body.device)
        if device is None:
            raise UnknownDeviceError(f"unknown device {body.device}")
        if device.issuer != signer.party:
            raise UnauthorisedError(f"{signer.party} is not the issuer of device {body.device}")
        rules = SCHEMES[body.scheme]
        cell = self._cell(device, body.interval_start, body.interval_end, rules)
        if event.at < body.interval_end:
            raise IntervalError("certificates can only be issued after the production interval")
        if body.energy_wh == 0 and rules.carry_remainder:
            # A month below one certificate: the statement records the meter, nothing is issued
            # and the whole production carries to the next month.
            if body.id_start != cell.next_id:
                raise AmountError(f"id_start {body.id_start} is not the next id {cell.next_id}")
            self._check_limits(device, cell, cell.live_issued_wh, body.metered_wh)
            return self._changes(signed, cells=(_evolve(cell, metered_wh=body.metered_wh),))
        _check_amount(body.energy_wh, rules.unit_wh)
        if body.id_start != cell.next_id:
            raise AmountError(
                f"id_start {body.id_start} is not the next free id {cell.next_id} of "
                f"{body.device} at {format_time(body.interval_start)}"
            )
        if rules.external_code_required and not body.external_code:
            raise EventFormatError(f"{body.scheme} certificates need their external code")
        live = cell.live_issued_wh + body.energy_wh
        self._check_limits(device, cell, live, body.metered_wh)
        id_end = body.id_start + body.energy_wh
        bundle = Bundle(
            bundle_id=bundle_id_for(body.device, body.interval_start, body.id_start, id_end),
            scheme=body.scheme,
            device=body.device,
            technology=device.technology,
            zone=device.zone,
            interval_start=body.interval_start,
            interval_end=body.interval_end,
            id_start=body.id_start,
            id_end=id_end,
            owner=body.owner,
            issuer=signer.party,
            status=Status.ACTIVE,
            expires_at=expiry_of(body.scheme, body.interval_start, body.interval_end),
            external_code=body.external_code,
            parent=None,
            created_index=self.size,
            updated_index=self.size,
        )
        new_cell = _issued(cell, id_end, body.energy_wh, body.metered_wh)
        return self._changes(signed, cells=(new_cell,), bundles=(bundle,))

    # -- actions on a bundle --------------------------------------------------------------------

    def _bundle(self, bundle_id: str, action: Kind) -> tuple[Bundle, Status]:
        bundle = self.bundles.get(bundle_id)
        if bundle is None:
            raise UnknownBundleError(f"unknown certificate bundle {bundle_id}")
        return bundle, next_status(bundle.status, action, bundle_id)

    def _owned(self, signer: KeyRecord, bundle: Bundle, at: datetime, action: str) -> None:
        _require_role(signer, Role.OWNER, action)
        if signer.party != bundle.owner:
            raise UnauthorisedError(
                f"{signer.party} cannot {action} {bundle.bundle_id}: owned by {bundle.owner}"
            )
        if bundle.expires_at is not None and at >= bundle.expires_at:
            raise ExpiryError(
                f"{bundle.bundle_id} expired at {format_time(bundle.expires_at)}: cannot {action}"
            )

    def _issued_by(self, signer: KeyRecord, bundle: Bundle, action: str) -> None:
        _require_role(signer, Role.ISSUER, action)
        if signer.party != bundle.issuer:
            raise UnauthorisedError(
                f"{signer.party} cannot {action} {bundle.bundle_id}: issued by {bundle.issuer}"
            )

    def _moved(self, cell_key: CellKey, energy_wh: int, to: Status) -> Cell:
        cell = self.cells[cell_key]
        field = _TALLY[to]
        return _evolve(
            cell,
            active_wh=cell.active_wh - energy_wh,
            **{field: getattr(cell, field) + energy_wh},
        )

    def _split(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        event = signed.event
        body = event.body
        assert isinstance(body, Split)
        bundle, status = self._bundle(body.bundle, Kind.SPLIT)
        self._owned(signer, bundle, event.at, "split")
        unit = SCHEMES[bundle.scheme].unit_wh
        if len(body.amounts_wh) < 2:
            raise AmountError("a split needs at least two parts")
        for amount in body.amounts_wh:
            _check_amount(amount, unit)
        if sum(body.amounts_wh) != bundle.energy_wh:
            raise AmountError(
                f"split parts add up to {sum(body.amounts_wh)} Wh, bundle holds "
                f"{bundle.energy_wh} Wh"
            )
        children = []
        start = bundle.id_start
        for amount in body.amounts_wh:
            end = start + amount
            children.append(
                _evolve(
                    bundle,
                    bundle_id=bundle_id_for(bundle.device, bundle.interval_start, start, end),
                    id_start=start,
                    id_end=end,
                    parent=bundle.bundle_id,
                    created_index=self.size,
                    updated_index=self.size,
                )
            )
            start = end
        parent = _evolve(bundle, status=status, updated_index=self.size)
        return self._changes(signed, bundles=(parent, *children))

    def _transfer(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        event = signed.event
        body = event.body
        assert isinstance(body, Transfer)
        bundle, status = self._bundle(body.bundle, Kind.TRANSFER)
        self._owned(signer, bundle, event.at, "transfer")
        if bundle.contract is not None:
            raise BundledError(
                f"{bundle.bundle_id} is bundled with green-electricity contract "
                f"{bundle.contract}: it cannot be transferred separately from its contract"
            )
        new = _evolve(bundle, owner=body.to, status=status, updated_index=self.size)
        return self._changes(signed, bundles=(new,))

    def _transfer_bundled(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        event = signed.event
        body = event.body
        assert isinstance(body, TransferBundled)
        bundle, status = self._bundle(body.bundle, Kind.TRANSFER_BUNDLED)
        self._owned(signer, bundle, event.at, "transfer")
        if not SCHEMES[bundle.scheme].bundling:
            raise BundledError(f"{bundle.scheme} certificates cannot be bundled with a contract")
        if bundle.contract is not None:
            raise BundledError(
                f"{bundle.bundle_id} is bundled with contract {bundle.contract} already"
            )
        new = _evolve(
            bundle, owner=body.to, contract=body.contract, status=status, updated_index=self.size
        )
        return self._changes(signed, bundles=(new,))

    def _retire(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        event = signed.event
        body = event.body
        assert isinstance(body, Retire)
        bundle, status = self._bundle(body.bundle, Kind.RETIRE)
        self._owned(signer, bundle, event.at, "retire")
        if body.consumption_end <= body.consumption_start:
            raise IntervalError("consumption interval must end after it starts")
        retirement = Retirement(
            body.beneficiary,
            body.site,
            body.consumption_start,
            body.consumption_end,
            body.zone,
            event.at,
        )
        new = _evolve(bundle, status=status, retirement=retirement, updated_index=self.size)
        cell = self._moved((bundle.device, bundle.interval_start), bundle.energy_wh, status)
        return self._changes(signed, cells=(cell,), bundles=(new,))

    def _withdraw(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        body = signed.event.body
        assert isinstance(body, Withdraw)
        bundle, status = self._bundle(body.bundle, Kind.WITHDRAW)
        self._issued_by(signer, bundle, "withdraw")
        new = _evolve(bundle, status=status, updated_index=self.size)
        cell = self._moved((bundle.device, bundle.interval_start), bundle.energy_wh, status)
        return self._changes(signed, cells=(cell,), bundles=(new,))

    def _correct(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        body = signed.event.body
        assert isinstance(body, Correct)
        bundle, status = self._bundle(body.bundle, Kind.CORRECT)
        self._issued_by(signer, bundle, "correct")
        device = self.devices.get(bundle.device)
        if device is None:
            raise UnknownDeviceError(f"unknown device {bundle.device}")
        _check_amount(body.energy_wh, SCHEMES[bundle.scheme].unit_wh)
        cell = self._moved((bundle.device, bundle.interval_start), bundle.energy_wh, status)
        self._check_limits(device, cell, cell.live_issued_wh + body.energy_wh, body.metered_wh)
        id_end = cell.next_id + body.energy_wh
        replacement = _evolve(
            bundle,
            bundle_id=bundle_id_for(bundle.device, bundle.interval_start, cell.next_id, id_end),
            id_start=cell.next_id,
            id_end=id_end,
            parent=bundle.bundle_id,
            created_index=self.size,
            updated_index=self.size,
        )
        cell = _issued(cell, id_end, body.energy_wh, body.metered_wh)
        old = _evolve(bundle, status=status, updated_index=self.size)
        return self._changes(signed, cells=(cell,), bundles=(old, replacement))

    def _expire(self, signer: KeyRecord, signed: SignedEvent) -> Changes:
        event = signed.event
        body = event.body
        assert isinstance(body, Expire)
        bundle, status = self._bundle(body.bundle, Kind.EXPIRE)
        if Role.OPERATOR not in signer.roles:
            self._issued_by(signer, bundle, "expire")
        if bundle.expires_at is None or event.at < bundle.expires_at:
            raise ExpiryError(f"{bundle.bundle_id} has not expired at {format_time(event.at)}")
        new = _evolve(bundle, status=status, updated_index=self.size)
        cell = self._moved((bundle.device, bundle.interval_start), bundle.energy_wh, status)
        return self._changes(signed, cells=(cell,), bundles=(new,))

    # -- invariants -----------------------------------------------------------------------------

    def check_conservation(self) -> None:
        """Check every (device, interval): issued = active + retired + expired + withdrawn,
        the bundles' energies match the tallies, and the non-split bundles partition the
        issued ids exactly (no id in two bundles, none missing).

        Raises
        ------
        ConservationError
            On the first violation.
        """
        per_cell: dict[CellKey, list[Bundle]] = defaultdict(list)
        for b in self.bundles.values():
            if b.status is not Status.SPLIT:
                per_cell[b.device, b.interval_start].append(b)
        if per_cell.keys() - self.cells.keys():
            raise ConservationError("certificate bundles exist for an interval never issued")
        for key, cell in self.cells.items():
            if not cell.conserved:
                raise ConservationError(f"tallies of {_where(cell)} do not add up")
            sums = {Status.ACTIVE: 0, Status.RETIRED: 0, Status.EXPIRED: 0, Status.WITHDRAWN: 0}
            expect = 0
            group = per_cell.get(key, [])
            if len(group) > 1:
                group.sort(key=_id_start)
            for b in group:
                if b.id_start != expect or b.id_end <= b.id_start:
                    raise ConservationError(f"id ranges of {_where(cell)} overlap or leave a gap")
                expect = b.id_end
                sums[b.status] += b.energy_wh
            if expect != cell.next_id:
                raise ConservationError(f"issued ids of {_where(cell)} are not all in bundles")
            if (
                sums[Status.ACTIVE] != cell.active_wh
                or sums[Status.RETIRED] != cell.retired_wh
                or sums[Status.EXPIRED] != cell.expired_wh
                or sums[Status.WITHDRAWN] != cell.withdrawn_wh
            ):
                raise ConservationError(
                    f"bundle energies of {_where(cell)} do not match its tallies"
                )


def _where(cell: Cell) -> str:
    return f"{cell.device} at {format_time(cell.interval_start)}"


def _id_start(bundle: Bundle) -> int:
    return bundle.id_start


_TALLY = {
    Status.RETIRED: "retired_wh",
    Status.WITHDRAWN: "withdrawn_wh",
    Status.EXPIRED: "expired_wh",
}


def _require_role(signer: KeyRecord, role: Role, action: str) -> None:
    if role not in signer.roles:
        raise UnauthorisedError(f"key {signer.key_id} ({signer.party}) may not {action}")


def _check_amount(energy_wh: int, unit_wh: int) -> None:
    if energy_wh <= 0 or energy_wh % unit_wh:
        raise AmountError(f"{energy_wh} Wh is not a positive multiple of the {unit_wh} Wh unit")


_HANDLERS = {
    Kind.REGISTER_KEY: LedgerState._register_key,
    Kind.REVOKE_KEY: LedgerState._revoke_key,
    Kind.REGISTER_DEVICE: LedgerState._register_device,
    Kind.ISSUE: LedgerState._issue,
    Kind.SPLIT: LedgerState._split,
    Kind.TRANSFER: LedgerState._transfer,
    Kind.RETIRE: LedgerState._retire,
    Kind.WITHDRAW: LedgerState._withdraw,
    Kind.CORRECT: LedgerState._correct,
    Kind.EXPIRE: LedgerState._expire,
    Kind.TRANSFER_BUNDLED: LedgerState._transfer_bundled,
}


def replay(
    operator_public_key: bytes,
    events: Iterable[SignedEvent],
    *,
    verify_signatures: bool = True,
) -> LedgerState:
    """Apply a whole log from its first leaf; raises :class:`RejectedEventError` on the first
    event the state machine rejects."""
    state = LedgerState(operator_public_key)
    for signed in events:
        try:
            state.apply(signed, verify_signature=verify_signatures)
        except LedgerError as exc:
            raise RejectedEventError(state.size, exc) from exc
    return state
