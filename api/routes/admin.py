"""Key management (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import AdminKey, EngineDep
from api.routes.sites import IdempotencyKey
from api.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, Page, next_offset
from engine.access.keys import ApiKeyRecord, create_api_key, list_api_keys, revoke_api_key

router = APIRouter(prefix="/admin", tags=["admin"])


def key_out(r: ApiKeyRecord) -> ApiKeyOut:
    """A stored key as its response body."""
    return ApiKeyOut(
        key_id=r.key_id,
        role=r.role.value,
        name=r.name,
        created_at=r.created_at,
        revoked_at=r.revoked_at,
    )


@router.get("/keys", response_model=Page[ApiKeyOut])
def keys(
    engine: EngineDep,
    _: AdminKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[ApiKeyOut]:
    """Every API key (revoked ones too), oldest first; never their secrets."""
    records = list_api_keys(engine)
    return Page[ApiKeyOut](
        items=[key_out(r) for r in records[offset : offset + limit]],
        total=len(records),
        limit=limit,
        offset=offset,
        next_offset=next_offset(offset, limit, len(records)),
    )


@router.post("/keys", response_model=ApiKeyCreated, status_code=201)
def create_key(
    body: ApiKeyIn,
    engine: EngineDep,
    _: AdminKey,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ApiKeyCreated:
    """Create an API key; its token is in this response only (``Cache-Control: no-store``: it
    is not stored for an ``Idempotency-Key`` replay either; such a retry is a 409)."""
    response.headers["Cache-Control"] = "no-store"
    record, token = create_api_key(engine, body.role, body.name)
    return ApiKeyCreated(**key_out(record).model_dump(), token=token)


@router.post("/keys/{key_id}/revoke", response_model=ApiKeyOut)
def revoke_key(
    request: Request,
    key_id: Annotated[str, Path(pattern="^[0-9a-f]{16}$")],
    engine: EngineDep,
    _: AdminKey,
) -> ApiKeyOut:
    """Revoke an API key (at once in this process; in other API processes within the auth cache
    time)."""
    record = revoke_api_key(engine, key_id)
    request.app.state.auth_cache.forget(key_id)
    return key_out(record)
