"""China green power: green-electricity trading contracts (绿电交易) and unbundled GEC purchases.

Writing routes take a trader key; the ledger events themselves are signed by the parties
(the plant's owner moves the GECs, the buyer retires them), exactly as ``POST /ledger/events``:
a client first asks for the plan (``.../plan``), signs its events with its ledger keys and posts
the leaves with the same file. The server appends them in one transaction only if they are the
plan (bodies, idempotency keys, signing parties), then records the statement or purchase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from api.deps import AuditorKey, ClockDep, EngineDep, SettingsDep, TraderKey
from api.errors import ApiError
from api.routes.ledger import _store
from api.routes.sites import IdempotencyKey
from api.schemas import (
    GecPurchaseIn,
    GreenContractIn,
    GreenContractOut,
    GreenPlanOut,
    GreenRecordOut,
    PlannedEventOut,
    StatementIn,
)
from engine.certificates import green as svc
from engine.certificates.service import decode_leaf_b64
from ledger.events import SignedEvent, decode_leaf
from ledger.green import GreenContract

router = APIRouter(prefix="/ledger", tags=["ledger"])


def _contract_out(contract: GreenContract) -> GreenContractOut:
    return GreenContractOut.model_validate(svc.contract_json(contract))


def _plan_out(plan: svc.Plan) -> GreenPlanOut:
    return GreenPlanOut(
        result=plan.result,
        events=[PlannedEventOut(**e) for e in svc.planned_json(plan)],
    )


def _client_signed(leaves_b64: list[str]) -> svc.Signer:
    if not leaves_b64:
        raise ApiError(422, "validation_error", "leaves_b64: sign the plan's events first")
    signed: list[SignedEvent] = [decode_leaf(decode_leaf_b64(x)) for x in leaves_b64]
    return lambda _plan: signed


def _record_out(record: dict[str, Any]) -> GreenRecordOut:
    return GreenRecordOut.model_validate(record)


@router.post("/green-contracts", response_model=GreenContractOut, status_code=201)
def create_green_contract(
    body: GreenContractIn, engine: EngineDep, _: TraderKey, idempotency_key: IdempotencyKey = None
) -> GreenContractOut:
    """Import a green-electricity trading contract (TOML text); its id must be new."""
    return _contract_out(svc.add_contract_text(engine, body.contract_toml))


@router.get("/green-contracts", response_model=list[GreenContractOut])
def green_contracts(engine: EngineDep, _: AuditorKey) -> list[GreenContractOut]:
    """Every green-electricity trading contract, by id."""
    return [_contract_out(c) for c in svc.list_contracts(engine)]


@router.get("/green-contracts/{contract_id}", response_model=GreenContractOut)
def green_contract(contract_id: str, engine: EngineDep, _: AuditorKey) -> GreenContractOut:
    """One green-electricity trading contract."""
    return _contract_out(svc.get_contract(engine, contract_id))


@router.post("/green-contracts/{contract_id}/statements/plan", response_model=GreenPlanOut)
def plan_statement(
    contract_id: str,
    body: StatementIn,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
) -> GreenPlanOut:
    """The statement's money and the events that move and retire its bundled GECs."""
    store = _store(engine, Path(settings.home), now)
    plan = svc.statement_plan(engine, store, contract_id, body.statement_toml, "statement_toml")
    return _plan_out(plan)


@router.post(
    "/green-contracts/{contract_id}/statements", response_model=GreenRecordOut, status_code=201
)
def settle_statement(
    contract_id: str,
    body: StatementIn,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> GreenRecordOut:
    """Settle a monthly statement with the client-signed events of its plan, in one ledger
    transaction; a settled statement comes back with ``replayed`` true."""
    store = _store(engine, Path(settings.home), now)
    sign = _client_signed(body.leaves_b64)
    record = svc.settle_contract_month(
        engine, store, contract_id, body.statement_toml, "statement_toml", sign
    )
    return _record_out(record)


@router.post("/gec-purchases/plan", response_model=GreenPlanOut)
def plan_purchase(
    body: GecPurchaseIn, engine: EngineDep, settings: SettingsDep, _: TraderKey, now: ClockDep
) -> GreenPlanOut:
    """The events that move the GECs of an unbundled purchase and retire them."""
    store = _store(engine, Path(settings.home), now)
    return _plan_out(svc.purchase_plan(store, body.purchase_toml, "purchase_toml"))


@router.post("/gec-purchases", response_model=GreenRecordOut, status_code=201)
def buy_gecs(
    body: GecPurchaseIn,
    engine: EngineDep,
    settings: SettingsDep,
    _: TraderKey,
    now: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> GreenRecordOut:
    """Execute an unbundled GEC purchase with the client-signed events of its plan."""
    store = _store(engine, Path(settings.home), now)
    sign = _client_signed(body.leaves_b64)
    return _record_out(svc.buy_gecs(engine, store, body.purchase_toml, "purchase_toml", sign))
