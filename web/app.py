"""The desk's routes under ``/desk/``: pages, sign-in, bid actions, downloads, script and styles.

:func:`install_desk` adds them to the FastAPI app of :mod:`api` (``powerdesk serve``). The pages
use the app's database engine and settings; every request authenticates the session's API key
with :func:`engine.access.keys.authenticate`, the API's own check, and actions need the roles the
API's routes need (``TRADER_ROLES`` for building and submitting bids).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bidding.errors import BiddingError
from engine.access.keys import ApiPrincipal, ApiRole, authenticate
from engine.core.errors import ConflictError, NotFoundError, PowerdeskError
from engine.core.layout import report_dir
from engine.core.settings import Settings
from engine.strategies.names import StrategyName
from ledger.errors import LedgerError
from market import is_name
from market.errors import MarketError
from web import data
from web import session as ses
from web.format import FILTERS

HERE = Path(__file__).resolve().parent
PREFIX = "/desk"
READ_ROLES = frozenset({ApiRole.AUDITOR, ApiRole.TRADER, ApiRole.ADMIN})
TRADER_ROLES = frozenset({ApiRole.TRADER, ApiRole.ADMIN})
"""Who may build and submit bids: the roles of the API's ``TraderKey`` (POST /bids)."""
ADMIN_ROLES = frozenset({ApiRole.ADMIN})
"""Who may list, create and revoke API keys: the API's ``AdminKey`` (/admin/keys)."""
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
STRATEGIES = tuple(s.value for s in StrategyName)
_ENGINE_ERRORS = (PowerdeskError, MarketError, BiddingError, LedgerError)

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(FILTERS)

Page = Callable[[Request], Awaitable[Response]]


class DeskHeadersMiddleware:
    """Security headers on every ``/desk`` response: CSP (no inline script), no framing, no
    sniffing, no referrer (sign-in links carry a code), no caching of pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        static = str(scope["path"]).startswith(f"{PREFIX}/static/")
        # A stored report is a document of its own: sandboxed, no script, its own styles.
        policy = FILE_CSP if str(scope["path"]).startswith(f"{PREFIX}/files/") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _engine(request: Request) -> Engine:
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise PowerdeskError("the database is not open yet")
    return engine


def _home(request: Request) -> Path:
    settings: Settings = request.app.state.settings
    return Path(settings.home)


async def _principal(request: Request) -> ApiPrincipal | None:
    token = ses.session_token(_home(request), request.cookies.get(ses.COOKIE))
    if token is None:
        return None
    return await run_in_threadpool(authenticate, _engine(request), token)


def _render(
    request: Request,
    template: str,
    principal: ApiPrincipal | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    cookie = request.cookies.get(ses.COOKIE) or ""
    html = templates.get_template(template).render(
        prefix=PREFIX,
        principal=principal,
        can_trade=principal is not None and principal.role in TRADER_ROLES,
        csrf=ses.csrf_token(_home(request), cookie) if cookie else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


async def _signin_page(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    pre = request.cookies.get(ses.PRE_COOKIE) or ses.new_pre_token()
    html = templates.get_template("signin.html").render(
        prefix=PREFIX,
        principal=None,
        csrf=ses.csrf_token(_home(request), pre),
        error=error,
        path=request.url.path,
    )
    response = HTMLResponse(html, status_code=status)
    _cookie(request, response, ses.PRE_COOKIE, pre, 3600)
    return response


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, max_num_fields=50).items()}


def _page(fn: Callable[[Request, ApiPrincipal], Awaitable[Response]]) -> Page:
    async def page(request: Request) -> Response:
        try:
            principal = await _principal(request)
        except PowerdeskError as exc:
            return PlainTextResponse(str(exc), status_code=503)
        if principal is None:
            return await _signin_page(request, status=401)
        return await fn(request, principal)

    return page


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    return ses.csrf_ok(_home(request), request.cookies.get(ses.COOKIE), form.get("csrf"))


# -- pages -----------------------------------------------------------------------------------


async def _today(request: Request, principal: ApiPrincipal, **extra: Any) -> Response:
    raw = request.query_params.get("bid", "")
    bid_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
    now = datetime.now(UTC)
    ctx = await run_in_threadpool(data.today, _engine(request), now, bid_id)
    status = int(extra.pop("status", 200))
    return _render(
        request,
        "today.html",
        principal,
        status=status,
        title="Today",
        now=now,
        strategies=STRATEGIES,
        notice=request.query_params.get("notice", "")[:300],
        **ctx,
        **extra,
    )


async def _positions(request: Request, principal: ApiPrincipal) -> Response:
    ctx = await run_in_threadpool(data.positions, _engine(request))
    return _render(request, "positions.html", principal, title="Positions & PnL", **ctx)


async def _positions_csv(request: Request, principal: ApiPrincipal) -> Response:
    text = await run_in_threadpool(data.positions_csv, _engine(request))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="powerdesk-positions.csv"'},
    )


async def _certificates(request: Request, principal: ApiPrincipal) -> Response:
    ctx = await run_in_threadpool(data.certificates, _engine(request), _home(request))
    return _render(request, "certificates.html", principal, title="Certificates", **ctx)


async def _carbon(request: Request, principal: ApiPrincipal) -> Response:
    home = _home(request)
    reports = await run_in_threadpool(data.carbon_reports, home)
    bundles = await run_in_threadpool(data.audit_bundles, home)
    wanted = request.query_params.get("report", "")
    shown = next((r for r in reports if f"{r['site']}/{r['day']}" == wanted), None)
    return _render(
        request,
        "carbon.html",
        principal,
        title="Carbon",
        reports=reports,
        shown=shown or (reports[0] if reports else None),
        bundles=bundles,
    )


async def _backtests(request: Request, principal: ApiPrincipal) -> Response:
    ctx = await run_in_threadpool(data.backtests, _engine(request), _home(request))
    return _render(request, "backtests.html", principal, title="Backtests", **ctx)


async def _operations(request: Request, principal: ApiPrincipal) -> Response:
    ctx = await run_in_threadpool(data.operations, _engine(request))
    return _render(request, "operations.html", principal, title="Operations", **ctx)


# -- files ---------------------------------------------------------------------------------------


def _safe_part(part: str) -> bool:
    return bool(part) and part not in (".", "..") and "/" not in part and "\\" not in part


async def _report_file(request: Request, principal: ApiPrincipal) -> Response:
    site, day, name = (request.path_params[k] for k in ("site", "day", "name"))
    if name not in ("report.html", "report.pdf", "report.json") or not all(
        _safe_part(p) for p in (site, day)
    ):
        return PlainTextResponse("not found", status_code=404)
    if not (is_name(site) and is_name(day)):
        return PlainTextResponse("not found", status_code=404)
    path = report_dir(_home(request), site, day) / name
    if not path.is_file():
        return PlainTextResponse("not found", status_code=404)
    media = {"html": "text/html", "pdf": "application/pdf", "json": "application/json"}
    response = Response(path.read_bytes(), media_type=media[name.rsplit(".", 1)[1]])
    return response


async def _bundle_zip(request: Request, principal: ApiPrincipal) -> Response:
    name = str(request.path_params["name"])
    folder = _home(request) / "audit" / name
    if not _safe_part(name) or not (folder / "manifest.json").is_file():
        return PlainTextResponse("not found", status_code=404)

    def pack() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    z.write(p, f"{name}/{p.relative_to(folder).as_posix()}")
        return buf.getvalue()

    return Response(
        await run_in_threadpool(pack),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}.zip"'},
    )


# -- actions -------------------------------------------------------------------------------------


async def _build_bid(request: Request, principal: ApiPrincipal) -> Response:
    from engine.bids.service import BidRequest, build_bid

    form = await _form(request)
    if not _csrf_ok(request, form):
        return await _today(request, principal, status=403, error="The form expired: reload.")
    if principal.role not in TRADER_ROLES:
        return await _today(
            request,
            principal,
            status=403,
            error=f"Building a bid needs a trader or admin key, not a {principal.role.value} key.",
        )
    try:
        day = date.fromisoformat(form.get("day", ""))
        strategy = form.get("strategy", "forecast")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}")
        what = BidRequest(site=form.get("site", ""), day=day, strategy=strategy)
    except ValueError as exc:
        return await _today(request, principal, status=422, error=f"Cannot build: {exc}")
    try:
        built = await run_in_threadpool(
            build_bid, _engine(request), what, created_by=principal.key_id, now=datetime.now(UTC)
        )
    except _ENGINE_ERRORS as exc:
        return await _today(request, principal, status=_status(exc), error=f"Not built: {exc}")
    notice = f"Built bid {built.id} for {built.site} on {built.day}."
    return RedirectResponse(
        f"{PREFIX}/?bid={built.id}&notice={quote(notice)}#site-{quote(built.site)}",
        status_code=303,
    )


async def _submit_bid(request: Request, principal: ApiPrincipal) -> Response:
    from engine.bids.service import submit_bid
    from engine.bids.submission import OutboxAdapter

    form = await _form(request)
    if not _csrf_ok(request, form):
        return await _today(request, principal, status=403, error="The form expired: reload.")
    if principal.role not in TRADER_ROLES:
        return await _today(
            request,
            principal,
            status=403,
            error=(
                f"Submitting a bid needs a trader or admin key, not a {principal.role.value} key."
            ),
        )
    bid_id = int(request.path_params["bid_id"])
    engine, home = _engine(request), _home(request)
    try:
        done = await run_in_threadpool(
            submit_bid, engine, bid_id, OutboxAdapter(engine, home), now=datetime.now(UTC)
        )
    except _ENGINE_ERRORS as exc:
        return await _today(request, principal, status=_status(exc), error=f"Not submitted: {exc}")
    notice = f"Bid {done.id} is {done.submission_status}."
    return RedirectResponse(f"{PREFIX}/?bid={done.id}&notice={quote(notice)}", status_code=303)


def _status(exc: Exception) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 422


async def _keys(request: Request, principal: ApiPrincipal, **extra: Any) -> Response:
    from engine.access.keys import list_api_keys

    status = int(extra.pop("status", 200))
    if principal.role not in ADMIN_ROLES:
        return _render(
            request,
            "keys.html",
            principal,
            status=403,
            title="API keys",
            keys=None,
            error=f"Key management needs an admin key, not a {principal.role.value} key.",
        )
    keys = await run_in_threadpool(list_api_keys, _engine(request))
    return _render(
        request, "keys.html", principal, status=status, title="API keys", keys=keys, **extra
    )


async def _key_action(request: Request, principal: ApiPrincipal) -> Response:
    from engine.access.keys import create_api_key, revoke_api_key

    form = await _form(request)
    if not _csrf_ok(request, form):
        return await _keys(request, principal, status=403, error="The form expired: reload.")
    if principal.role not in ADMIN_ROLES:
        return await _keys(request, principal)
    engine = _engine(request)
    try:
        if request.path_params.get("key_id"):
            record = await run_in_threadpool(
                revoke_api_key, engine, str(request.path_params["key_id"])
            )
            request.app.state.auth_cache.forget(record.key_id)
            return await _keys(request, principal, notice=f"Revoked key {record.key_id}.")
        made, token = await run_in_threadpool(
            create_api_key, engine, form.get("role", ""), form.get("name", "")[:200]
        )
    except _ENGINE_ERRORS as exc:
        return await _keys(request, principal, status=_status(exc), error=str(exc))
    return await _keys(
        request,
        principal,
        status=201,
        notice=f"Created {made.role.value} key {made.key_id}: copy it now, it is not shown again.",
        new_token=token,
    )


# -- sign-in -------------------------------------------------------------------------------------


async def _redeem(request: Request) -> Response:
    token = await run_in_threadpool(
        ses.redeem_link, _home(request), request.query_params.get("code", "")
    )
    principal = None
    if token is not None:
        principal = await run_in_threadpool(authenticate, _engine(request), token)
    if token is None or principal is None:
        return await _signin_page(
            request, "This sign-in link is unknown, used or expired: ask for a new one.", 401
        )
    # A page, not a redirect: a SameSite=Strict cookie set by a link opened from elsewhere is
    # sent by the next same-site navigation, which this page starts.
    html = templates.get_template("signed_in.html").render(
        prefix=PREFIX, principal=principal, path=request.url.path
    )
    response = HTMLResponse(html)
    value, max_age = ses.session_cookie(_home(request), token)
    _cookie(request, response, ses.COOKIE, value, max_age)
    return response


async def _signin(request: Request) -> Response:
    form = await _form(request)
    pre = request.cookies.get(ses.PRE_COOKIE)
    if not ses.csrf_ok(_home(request), pre, form.get("csrf")):
        return await _signin_page(request, "The sign-in form expired: try again.", 403)
    token = form.get("key", "").strip()
    principal = await run_in_threadpool(authenticate, _engine(request), token)
    if principal is None:
        return await _signin_page(request, "That API key is invalid or revoked.", 401)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    value, max_age = ses.session_cookie(_home(request), token)
    _cookie(request, response, ses.COOKIE, value, max_age)
    response.delete_cookie(ses.PRE_COOKIE, path=PREFIX)
    return response


async def _signout(request: Request) -> Response:
    form = await _form(request)
    if not _csrf_ok(request, form):
        return PlainTextResponse("bad CSRF token", status_code=403)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.delete_cookie(ses.COOKIE, path=PREFIX)
    return response


def desk_router() -> Router:
    """The ``/desk`` routes (relative to the mount point)."""
    r = Router()
    r.add_route("/", _page(_today), methods=["GET"])
    r.add_route("/positions", _page(_positions), methods=["GET"])
    r.add_route("/positions.csv", _page(_positions_csv), methods=["GET"])
    r.add_route("/certificates", _page(_certificates), methods=["GET"])
    r.add_route("/carbon", _page(_carbon), methods=["GET"])
    r.add_route("/backtests", _page(_backtests), methods=["GET"])
    r.add_route("/operations", _page(_operations), methods=["GET"])
    r.add_route("/files/reports/{site}/{day}/{name}", _page(_report_file), methods=["GET"])
    r.add_route("/files/audit/{name}.zip", _page(_bundle_zip), methods=["GET"])
    r.add_route("/bids", _page(_build_bid), methods=["POST"])
    r.add_route("/bids/{bid_id:int}/submit", _page(_submit_bid), methods=["POST"])
    r.add_route("/keys", _page(_keys), methods=["GET"])
    r.add_route("/keys", _page(_key_action), methods=["POST"])
    r.add_route("/keys/{key_id}/revoke", _page(_key_action), methods=["POST"])
    r.add_route("/signin", _redeem, methods=["GET"])
    r.add_route("/signin", _signin, methods=["POST"])
    r.add_route("/signout", _signout, methods=["POST"])
    r.mount("/static", StaticFiles(directory=HERE / "static"), name="desk-static")
    return r


def install_desk(app: FastAPI) -> FastAPI:
    """Serve the desk under ``/desk/`` from ``app`` (the API app of ``powerdesk serve``)."""
    app.mount(PREFIX, desk_router())
    app.add_middleware(DeskHeadersMiddleware)

    async def to_desk(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_route(PREFIX, to_desk, methods=["GET"], include_in_schema=False)
    return app
