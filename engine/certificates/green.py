"""Green-electricity trading contracts and unbundled GEC purchases in the database and the log.

Contracts are imported from TOML (kept as imported, like PPAs). A contract's monthly statement
settles the energy in money (:func:`ledger.green.settle_statement`, the PPA settlement) and moves
the matching GECs from the plant's owner to the buyer bundled with the contract and retires them
for the buyer's site; a purchase moves GECs unbundled and retires them. Both sets of ledger
events are planned by :func:`ledger.green.plan_moves` and appended in **one** transaction
(``LedgerStore.append_many``): all of them or none. The CLI signs the plan with the parties' key
files; API clients sign it themselves and the server checks that what they signed is the plan.
The statement or purchase is then recorded; a retry returns the record and appends nothing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import IntegrityError

from engine.certificates.store import AppendResult, LedgerStore
from engine.core.errors import ConflictError, InputFileError, NotFoundError, PowerdeskError
from engine.core.jsonio import compact_json
from engine.models.ledger import LedgerGreenRecord
from ledger.errors import LedgerError
from ledger.events import Retire, SignedEvent, decode_leaf
from ledger.green import (
    GecPurchase,
    GreenContract,
    PlannedEvent,
    contract_from_mapping,
    month_interval,
    plan_moves,
    purchase_from_mapping,
    settle_statement,
    statement_generation,
)
from ledger.keys import key_id_of
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from market import get_zone
from market.errors import MarketError

T_GREEN: Table = LedgerGreenRecord.__table__  # type: ignore[attr-defined]


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(source, f"not valid TOML: {exc}") from exc


def parse_contract(text: str, source: str = "<contract>") -> GreenContract:
    """Parse a green-electricity trading contract (TOML); one-line :class:`InputFileError`."""
    data = _toml(text, source)
    try:
        contract = contract_from_mapping(data)
        get_zone(contract.zone)
    except (LedgerError, MarketError) as exc:
        raise InputFileError(source, str(exc)) from exc
    return contract


def parse_statement(
    text: str, source: str = "<statement>", contract_id: str | None = None
) -> tuple[str, dict[datetime, int]]:
    """Parse a monthly statement (TOML): (month, metered generation [Wh] by period start); a
    ``contract`` field must name ``contract_id``."""
    data = _toml(text, source)
    named = data.get("contract")
    if contract_id is not None and named is not None and named != contract_id:
        raise InputFileError(source, f"statement of contract {named!r}, not {contract_id!r}")
    try:
        return statement_generation(data)
    except LedgerError as exc:
        raise InputFileError(source, str(exc)) from exc


def parse_purchase(text: str, source: str = "<purchase>") -> GecPurchase:
    """Parse an unbundled GEC purchase (TOML); one-line :class:`InputFileError`."""
    data = _toml(text, source)
    try:
        purchase = purchase_from_mapping(data)
        get_zone(purchase.zone)
    except (LedgerError, MarketError) as exc:
        raise InputFileError(source, str(exc)) from exc
    return purchase


# -- records --------------------------------------------------------------------------------------


def _insert(engine: Engine, record_id: str, kind: str, body: str, clash: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(T_GREEN.insert().values(record_id=record_id, kind=kind, body=body))
    except IntegrityError as exc:
        raise ConflictError(clash) from exc


def _record(engine: Engine, record_id: str) -> str | None:
    with engine.connect() as conn:
        q = select(T_GREEN.c.body).where(T_GREEN.c.record_id == record_id)
        value = conn.execute(q).scalar_one_or_none()
    return None if value is None else str(value)


def add_contract_text(engine: Engine, text: str, source: str = "contract_toml") -> GreenContract:
    """Import a contract from its TOML text; its id must be new (:class:`ConflictError`)."""
    contract = parse_contract(text, source)
    clash = f"a green-electricity contract with id {contract.contract_id!r} exists already"
    _insert(engine, f"contract:{contract.contract_id}", "contract", text, clash)
    return contract


def get_contract(engine: Engine, contract_id: str) -> GreenContract:
    """One stored contract."""
    text = _record(engine, f"contract:{contract_id}")
    if text is None:
        raise NotFoundError(f"no green-electricity contract {contract_id!r}")
    return parse_contract(text, contract_id)


def list_contracts(engine: Engine) -> list[GreenContract]:
    """Every stored contract, by id."""
    q = select(T_GREEN).where(T_GREEN.c.kind == "contract").order_by(T_GREEN.c.record_id)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [parse_contract(r.body, r.record_id) for r in rows]


def contract_json(contract: GreenContract) -> dict[str, Any]:
    """JSON-ready view of a contract (money and energy as exact strings)."""
    return {
        "id": contract.contract_id,
        "buyer": contract.buyer,
        "seller": contract.seller,
        "plant": contract.plant,
        "site": contract.site,
        "zone": contract.zone,
        "currency": contract.currency,
        "periods": [
            {
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "energy_mwh": str(p.energy_mwh),
                "price_per_mwh": str(p.price_per_mwh),
            }
            for p in contract.periods
        ],
    }


# -- plans ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one statement or purchase records and the ledger events it needs."""

    record_id: str
    kind: str
    result: dict[str, Any]
    events: tuple[PlannedEvent, ...]


def _gec_bundles(store: LedgerStore, seller: str, plant: str) -> list[Any]:
    return [b for b in store.bundles(owner=seller, device=plant) if b.scheme is Scheme.CHINA_GEC]


def statement_ids(contract_id: str, month: str) -> tuple[str, str]:
    """(record id, ledger reference) of a contract month: the reference prefixes the
    idempotency key of every ledger event the statement appends."""
    return f"statement:{contract_id}:{month}", f"green:{contract_id}:{month}"


def purchase_ids(purchase_id: str) -> tuple[str, str]:
    """(record id, ledger reference) of an unbundled GEC purchase."""
    return f"purchase:{purchase_id}", f"gec:{purchase_id}"


def plan_statement(
    store: LedgerStore, contract: GreenContract, month: str, generation_wh: Mapping[datetime, int]
) -> Plan:
    """Settle ``month`` of ``contract`` and plan the bundled GEC moves (nothing is written)."""
    try:
        statement = settle_statement(contract, month, generation_wh)
    except LedgerError as exc:
        raise PowerdeskError(str(exc)) from exc
    start, end = month_interval(month)
    record_id, reference = statement_ids(contract.contract_id, month)
    events: list[PlannedEvent] = []
    if statement.gec_wh:
        retire = Retire("-", contract.beneficiary, contract.site, start, end, contract.zone)
        try:
            events = plan_moves(
                _gec_bundles(store, contract.seller, contract.plant),
                seller=contract.seller,
                plant=contract.plant,
                month=month,
                amount_wh=statement.gec_wh,
                buyer=contract.buyer,
                contract=contract.contract_id,
                retire=retire,
                reference=reference,
            )
        except LedgerError as exc:
            raise PowerdeskError(f"{contract.contract_id} {month}: {exc}") from exc
    return Plan(record_id, "statement", statement.to_json(), tuple(events))


def plan_purchase(store: LedgerStore, purchase: GecPurchase) -> Plan:
    """Plan an unbundled GEC purchase (nothing is written)."""
    record_id, reference = purchase_ids(purchase.purchase_id)
    retire = Retire(
        "-",
        purchase.beneficiary,
        purchase.site,
        purchase.consumption_start,
        purchase.consumption_end,
        purchase.zone,
    )
    try:
        events = plan_moves(
            _gec_bundles(store, purchase.seller, purchase.plant),
            seller=purchase.seller,
            plant=purchase.plant,
            month=purchase.month,
            amount_wh=purchase.amount_mwh * 1_000_000,
            buyer=purchase.buyer,
            contract=None,
            retire=retire,
            reference=reference,
        )
    except LedgerError as exc:
        raise PowerdeskError(f"purchase {purchase.purchase_id}: {exc}") from exc
    return Plan(record_id, "purchase", purchase.to_json(), tuple(events))


def planned_json(plan: Plan) -> list[dict[str, Any]]:
    """The events a client signs for ``plan``: party, kind, body and idempotency key."""
    return [
        {
            "party": e.party,
            "kind": str(e.body.KIND),
            "body": e.body.to_json(),
            "idem": e.idempotency_key,
        }
        for e in plan.events
    ]


# -- executing ------------------------------------------------------------------------------------


def _replayed(engine: Engine, plan_id: str, result: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded outcome of an earlier identical run, if any (:class:`ConflictError` when
    the earlier run recorded something else under the same id)."""
    body = _record(engine, plan_id)
    if body is None:
        return None
    earlier = json.loads(body)
    if earlier["result"] != result:
        raise ConflictError(f"{plan_id} was recorded with other content")
    return dict(earlier) | {"replayed": True}


def _recovered(
    engine: Engine,
    store: LedgerStore,
    record_id: str,
    kind: str,
    reference: str,
    result: dict[str, Any],
) -> dict[str, Any] | None:
    """The outcome of an earlier run that appended its events but stopped before recording
    them (the ledger append and the record are two transactions): rebuilt from the log, recorded
    now. ``None`` when the ledger holds no event of ``reference``."""
    logged = store.events_by_key_prefix(f"{reference}:")
    if not logged:
        return None
    bundles = []
    for _, leaf in logged:
        body = decode_leaf(leaf).event.body
        if isinstance(body, Retire):
            bundles.append(body.bundle)
    record = {
        "result": result,
        "ledger_indexes": [index for index, _ in logged],
        "bundles": bundles,
    }
    try:
        _insert(engine, record_id, kind, compact_json(record), f"{record_id} exists")
    except ConflictError:
        return _replayed(engine, record_id, result)  # recovered meanwhile by another retry
    return record | {"replayed": True}


def sign_plan(
    store: LedgerStore, plan: Plan, keys: Mapping[str, Ed25519PrivateKey], at: datetime
) -> list[SignedEvent]:
    """Sign every planned event with its party's key (CLI; sequence numbers from the log)."""
    signers: dict[str, EventSigner] = {}
    out = []
    for e in plan.events:
        key = keys.get(e.party)
        if key is None:
            raise PowerdeskError(f"no signing key given for party {e.party!r}")
        signer = signers.get(e.party)
        if signer is None:
            signer = EventSigner(key, store.last_seq(key_id_of(key.public_key())))
            signers[e.party] = signer
        out.append(signer.sign(e.body, at, e.idempotency_key))
    return out


def check_signed(store: LedgerStore, plan: Plan, signed: Sequence[SignedEvent]) -> None:
    """Refuse client-signed events that are not exactly the plan (same bodies, idempotency keys
    and signing parties, in order)."""
    if len(signed) != len(plan.events):
        raise PowerdeskError(f"{len(signed)} events signed, the plan has {len(plan.events)}")
    parties = {k.key_id: k.party for k in store.keys()}  # noqa: SIM118 (a list)
    for i, (s, e) in enumerate(zip(signed, plan.events, strict=True)):
        if s.event.body != e.body or s.event.idempotency_key != e.idempotency_key:
            planned = f"{e.body.KIND} ({e.idempotency_key})"
            raise PowerdeskError(f"event {i} is not the planned {planned}")
        if parties.get(s.event.key_id) != e.party:
            raise PowerdeskError(f"event {i} must be signed by a key of {e.party!r}")


def execute(
    engine: Engine, store: LedgerStore, plan: Plan, signed: Sequence[SignedEvent]
) -> dict[str, Any]:
    """Append the plan's signed events in one transaction and record the outcome."""
    check_signed(store, plan, signed)
    results: list[AppendResult] = store.append_many(list(signed)) if signed else []
    record = {
        "result": plan.result,
        "ledger_indexes": [r.index for r in results],
        "bundles": [
            b.bundle_id
            for r in results
            if r.changes is not None and str(r.changes.event.kind) == "retire"
            for b in r.changes.bundles
        ],
    }
    _insert(engine, plan.record_id, plan.kind, compact_json(record), f"{plan.record_id} exists")
    return record | {"replayed": False}


Signer = Callable[[Plan], Sequence[SignedEvent]]
"""Signs a plan: with the parties' key files (CLI, :func:`key_signer`) or by returning what a
client signed (API)."""


def key_signer(store: LedgerStore, keys: Mapping[str, Ed25519PrivateKey], at: datetime) -> Signer:
    """A :data:`Signer` with local keys by party."""
    return lambda plan: sign_plan(store, plan, keys, at)


def statement_plan(
    engine: Engine, store: LedgerStore, contract_id: str, statement_text: str, source: str
) -> Plan:
    """The plan of one monthly statement of a stored contract (nothing is written)."""
    contract = get_contract(engine, contract_id)
    month, generation = parse_statement(statement_text, source, contract_id)
    try:
        settle_statement(contract, month, generation)
    except LedgerError as exc:
        raise InputFileError(source, str(exc)) from exc
    return plan_statement(store, contract, month, generation)


def settle_contract_month(
    engine: Engine,
    store: LedgerStore,
    contract_id: str,
    statement_text: str,
    source: str,
    sign: Signer,
) -> dict[str, Any]:
    """Settle one monthly statement: money, bundled GECs moved and retired, recorded; a retry
    of a recorded statement returns the record and appends nothing."""
    contract = get_contract(engine, contract_id)
    month, generation = parse_statement(statement_text, source, contract_id)
    try:
        result = settle_statement(contract, month, generation).to_json()
    except LedgerError as exc:
        raise InputFileError(source, str(exc)) from exc
    record_id, reference = statement_ids(contract_id, month)
    earlier = _replayed(engine, record_id, result) or _recovered(
        engine, store, record_id, "statement", reference, result
    )
    if earlier is not None:
        return earlier
    plan = plan_statement(store, contract, month, generation)
    return execute(engine, store, plan, sign(plan))


def purchase_plan(store: LedgerStore, purchase_text: str, source: str) -> Plan:
    """The plan of an unbundled GEC purchase (nothing is written)."""
    return plan_purchase(store, parse_purchase(purchase_text, source))


def buy_gecs(
    engine: Engine, store: LedgerStore, purchase_text: str, source: str, sign: Signer
) -> dict[str, Any]:
    """Execute an unbundled GEC purchase; a retry returns the record and appends nothing."""
    purchase = parse_purchase(purchase_text, source)
    record_id, reference = purchase_ids(purchase.purchase_id)
    result = purchase.to_json()
    earlier = _replayed(engine, record_id, result) or _recovered(
        engine, store, record_id, "purchase", reference, result
    )
    if earlier is not None:
        return earlier
    plan = plan_purchase(store, purchase)
    return execute(engine, store, plan, sign(plan))
