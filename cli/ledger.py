"""``powerdesk ledger``: certificates (issue, split, transfer, retire, ...), proofs, PPAs.

Every action is signed with a key from POWERDESK_HOME (``--key NAME``, default the ledger's own
key) and appended to the log; output is JSON. The log starts on first use with the ledger key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from engine.certificates.store import LedgerStore

ledger_app = typer.Typer(help="Green certificates, signed events, proofs and PPAs.")
ppa_app = typer.Typer(help="Long-term green PPAs (TOML contract files).")
ledger_app.add_typer(ppa_app, name="ppa")

KeyOpt = Annotated[str, typer.Option("--key", help="Signing key name in POWERDESK_HOME.")]
AtOpt = Annotated[
    str | None, typer.Option("--at", help="Event time, ISO 8601 with offset (default: now).")
]
IdemOpt = Annotated[
    str | None, typer.Option("--idempotency-key", help="Retry-safe key (default: key id/seq).")
]


def _time(value: str, what: str) -> datetime:
    from engine.core.errors import PowerdeskError

    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PowerdeskError(f"{what}: {value!r} is not an ISO 8601 time") from exc
    if t.tzinfo is None or t.utcoffset() is None:
        raise PowerdeskError(f"{what}: {value!r} has no UTC offset (naive times are refused)")
    return t.astimezone(UTC)


def _at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    return _time(value, "--at")


def _store() -> LedgerStore:
    from engine.certificates.keyfiles import load_private_key
    from engine.certificates.store import LedgerStore
    from engine.core.db import open_database
    from engine.core.settings import Settings

    settings = Settings()
    store = LedgerStore(open_database(settings))
    store.initialise(load_private_key(settings.home), datetime.now(UTC).replace(microsecond=0))
    return store


def _submit(body: Any, key: str, at: str | None, idem: str | None) -> None:
    from engine.certificates.keyfiles import load_private_key
    from engine.certificates.store import bundle_json, sign_and_append
    from engine.core.errors import PowerdeskError
    from engine.core.settings import Settings
    from ledger.errors import LedgerError

    store = _store()
    try:
        result = sign_and_append(store, load_private_key(Settings().home, key), body, _at(at), idem)
    except LedgerError as exc:
        raise PowerdeskError(str(exc)) from exc
    out: dict[str, Any] = {"index": result.index, "replayed": result.replayed}
    out["leaf_hash_hex"] = result.leaf_hash.hex()
    if result.changes is not None:
        out["kind"] = str(result.changes.event.kind)
        out["bundles"] = [bundle_json(b) for b in result.changes.bundles]
    typer.echo(json.dumps(out, indent=2))


@ledger_app.command("init")
def init() -> None:
    """Start the log with the ledger key (done automatically by every other command)."""
    size, origin, key_id = _store().head()
    typer.echo(json.dumps({"size": size, "origin": origin, "operator_key_id": key_id}))


@ledger_app.command("register-key")
def register_key(
    name: Annotated[str, typer.Argument(help="Key name in POWERDESK_HOME to register.")],
    party: Annotated[str, typer.Option("--party", help="Account the key signs for.")],
    role: Annotated[list[str], typer.Option("--role", help="operator | issuer | owner")],
    valid_from: Annotated[str | None, typer.Option("--valid-from")] = None,
    valid_until: Annotated[str | None, typer.Option("--valid-until")] = None,
    at: AtOpt = None,
) -> None:
    """Register a party's key (signed by the ledger key)."""
    from engine.certificates.keyfiles import load_private_key
    from engine.core.errors import PowerdeskError
    from engine.core.settings import Settings
    from ledger.events import RegisterKey
    from ledger.keys import Role, key_id_of, raw_public_key

    public = load_private_key(Settings().home, name).public_key()
    try:
        roles = frozenset(Role(r) for r in role)
    except ValueError as exc:
        raise PowerdeskError(f"--role: {exc}") from exc
    body = RegisterKey(
        key_id=key_id_of(public),
        public_key=raw_public_key(public),
        party=party,
        roles=roles,
        valid_from=_time(valid_from, "--valid-from") if valid_from else _at(at),
        valid_until=_time(valid_until, "--valid-until") if valid_until else None,
    )
    _submit(body, "ledger", at, None)


@ledger_app.command("revoke-key")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="Key id to end.")],
    valid_until: Annotated[str, typer.Option("--valid-until")],
    at: AtOpt = None,
) -> None:
    """End a key's validity (rotation); its earlier events stay verifiable."""
    from ledger.events import RevokeKey

    _submit(RevokeKey(key_id, _time(valid_until, "--valid-until")), "ledger", at, None)


@ledger_app.command("register-device")
def register_device(
    device: Annotated[str, typer.Argument()],
    capacity_w: Annotated[int, typer.Option("--capacity-w", help="Capacity [W].")],
    technology: Annotated[str, typer.Option("--technology")],
    zone: Annotated[str, typer.Option("--zone")],
    resolution_s: Annotated[int, typer.Option("--resolution-s")] = 3600,
    key: KeyOpt = "ledger",
    at: AtOpt = None,
) -> None:
    """Register a production device (signed by its issuer)."""
    from ledger.events import RegisterDevice

    _submit(RegisterDevice(device, capacity_w, technology, zone, resolution_s), key, at, None)


@ledger_app.command("issue")
def issue(
    device: Annotated[str, typer.Argument()],
    interval_start: Annotated[str, typer.Option("--interval-start", help="ISO 8601 with offset")],
    interval_end: Annotated[str, typer.Option("--interval-end")],
    energy_wh: Annotated[int, typer.Option("--energy-wh", help="Certificates to issue [Wh].")],
    metered_wh: Annotated[int, typer.Option("--metered-wh", help="Metered production [Wh].")],
    owner: Annotated[str, typer.Option("--owner")] = "operator",
    scheme: Annotated[str, typer.Option("--scheme")] = "energytag-gc",
    external_code: Annotated[str | None, typer.Option("--external-code")] = None,
    key: KeyOpt = "ledger",
    at: AtOpt = None,
    idempotency_key: IdemOpt = None,
) -> None:
    """Issue certificates for one device and production interval (next free ids)."""
    from engine.core.errors import PowerdeskError
    from ledger.events import Issue
    from ledger.schemes import Scheme

    store = _store()
    start = _time(interval_start, "--interval-start")
    cell = store.cell(device, start)
    try:
        scheme_ = Scheme(scheme)
    except ValueError as exc:
        raise PowerdeskError(f"--scheme: {exc}") from exc
    body = Issue(
        device,
        scheme_,
        start,
        _time(interval_end, "--interval-end"),
        cell.next_id if cell else 0,
        energy_wh,
        metered_wh,
        owner,
        external_code,
    )
    _submit(body, key, at, idempotency_key)


@ledger_app.command("split")
def split(
    bundle: Annotated[str, typer.Argument()],
    amounts_wh: Annotated[list[int], typer.Option("--amount-wh", help="Part size [Wh], repeat.")],
    key: KeyOpt = "ledger",
    at: AtOpt = None,
    idempotency_key: IdemOpt = None,
) -> None:
    """Split a bundle into consecutive parts (they must add up to its energy)."""
    from ledger.events import Split

    _submit(Split(bundle, tuple(amounts_wh)), key, at, idempotency_key)


@ledger_app.command("transfer")
def transfer(
    bundle: Annotated[str, typer.Argument()],
    to: Annotated[str, typer.Option("--to", help="Receiving party.")],
    key: KeyOpt = "ledger",
    at: AtOpt = None,
    idempotency_key: IdemOpt = None,
) -> None:
    """Transfer a bundle to another party (signed by its owner)."""
    from ledger.events import Transfer

    _submit(Transfer(bundle, to), key, at, idempotency_key)


@ledger_app.command("retire")
def retire(
    bundle: Annotated[str, typer.Argument()],
    beneficiary: Annotated[str, typer.Option("--beneficiary")],
    site: Annotated[str, typer.Option("--site")],
    consumption_start: Annotated[str, typer.Option("--consumption-start")],
    consumption_end: Annotated[str, typer.Option("--consumption-end")],
    zone: Annotated[str, typer.Option("--zone")],
    key: KeyOpt = "ledger",
    at: AtOpt = None,
    idempotency_key: IdemOpt = None,
) -> None:
    """Retire a bundle for a beneficiary's consumption (signed by its owner)."""
    from ledger.events import Retire

    body = Retire(
        bundle,
        beneficiary,
        site,
        _time(consumption_start, "--consumption-start"),
        _time(consumption_end, "--consumption-end"),
        zone,
    )
    _submit(body, key, at, idempotency_key)


@ledger_app.command("withdraw")
def withdraw(
    bundle: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason")],
    key: KeyOpt = "ledger",
    at: AtOpt = None,
    idempotency_key: IdemOpt = None,
) -> None:
    """Withdraw an active bundle (signed by its issuer)."""
    from ledger.events import Withdraw

    _submit(Withdraw(bundle, reason), key, at, idempotency_key)


@ledger_app.command("correct")
def correct(
    bundle: Annotated[str, typer.Argument()],
    energy_wh: Annotated[int, typer.Option("--energy-wh")],
    metered_wh: Annotated[int, typer.Option("--metered-wh")],
    reason: Annotated[str, typer.Option("--reason")],
    key: KeyOpt = "ledger",
    at: AtOpt = None,
    idempotency_key: IdemOpt = None,
) -> None:
    """Replace an active bundle by one of corrected energy (signed by its issuer)."""
    from ledger.events import Correct

    _submit(Correct(bundle, energy_wh, metered_wh, reason), key, at, idempotency_key)


@ledger_app.command("expire")
def expire(
    bundle: Annotated[str, typer.Argument()],
    key: KeyOpt = "ledger",
    at: AtOpt = None,
) -> None:
    """Mark an active bundle expired (after its scheme expiry)."""
    from ledger.events import Expire

    _submit(Expire(bundle), key, at, None)


@ledger_app.command("show")
def show(
    bundle: Annotated[str | None, typer.Argument(help="Bundle id (default: list all).")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
) -> None:
    """Show one bundle, or list bundles (filtered by owner/status) as JSON."""
    from engine.certificates.store import bundle_json
    from engine.core.errors import PowerdeskError
    from ledger.state import Status

    store = _store()
    if bundle is not None:
        typer.echo(json.dumps(bundle_json(store.bundle(bundle)), indent=2))
        return
    try:
        status_ = Status(status) if status else None
    except ValueError as exc:
        raise PowerdeskError(f"--status: {exc}") from exc
    rows = [bundle_json(b) for b in store.bundles(owner=owner, status=status_)]
    typer.echo(json.dumps(rows, indent=2))


@ledger_app.command("proof")
def proof(
    index: Annotated[int | None, typer.Option("--index", help="Leaf index to prove.")] = None,
    from_size: Annotated[
        int | None, typer.Option("--from-size", help="Consistency proof from this size.")
    ] = None,
    size: Annotated[int | None, typer.Option("--size", help="Tree size (default: all).")] = None,
) -> None:
    """Inclusion proof of a leaf and/or consistency proof between sizes, from one snapshot."""
    import base64

    from engine.certificates.store import proof_json
    from engine.core.errors import PowerdeskError
    from ledger.errors import LedgerError

    tree = _store().snapshot(size)
    out: dict[str, Any] = {
        "tree_size": tree.size,
        "root_b64": base64.b64encode(tree.root()).decode(),
    }
    try:
        if index is not None:
            out["leaf_index"] = index
            out["leaf_hash_b64"] = base64.b64encode(tree.leaf_hash(index)).decode()
            out["inclusion_proof_b64"] = proof_json(tree.inclusion_proof(index))
        if from_size is not None:
            out["from_size"] = from_size
            out["from_root_b64"] = base64.b64encode(tree.root(from_size)).decode()
            out["consistency_proof_b64"] = proof_json(tree.consistency_proof(from_size))
    except (LedgerError, IndexError) as exc:
        raise PowerdeskError(f"proof: {exc}") from exc
    typer.echo(json.dumps(out, indent=2))


@ledger_app.command("checkpoint")
def checkpoint() -> None:
    """Sign (if new) and print the checkpoint of the log at its current size."""
    from engine.certificates.keyfiles import load_private_key
    from engine.core.settings import Settings

    typer.echo(_store().checkpoint(load_private_key(Settings().home)), nl=False)


@ppa_app.command("add")
def ppa_add(path: Annotated[Path, typer.Argument(help="PPA contract (TOML).")]) -> None:
    """Import a PPA contract file."""
    from engine.certificates.ppa_contracts import add_ppa
    from engine.core.db import open_database
    from ledger.ppa import ppa_to_mapping

    typer.echo(json.dumps(ppa_to_mapping(add_ppa(open_database(), path)), indent=2))


@ppa_app.command("list")
def ppa_list() -> None:
    """List stored PPAs as JSON."""
    from engine.certificates.ppa_contracts import list_ppas
    from engine.core.db import open_database
    from ledger.ppa import ppa_to_mapping

    typer.echo(json.dumps([ppa_to_mapping(p) for p in list_ppas(open_database())], indent=2))


@ppa_app.command("show")
def ppa_show(ppa_id: Annotated[str, typer.Argument()]) -> None:
    """Show one PPA as JSON."""
    from engine.certificates.ppa_contracts import get_ppa
    from engine.core.db import open_database
    from ledger.ppa import ppa_to_mapping

    typer.echo(json.dumps(ppa_to_mapping(get_ppa(open_database(), ppa_id)), indent=2))


# -- China green power: green-electricity trading contracts and unbundled GEC purchases ---------

green_app = typer.Typer(help="Green-electricity trading contracts (绿电交易, TOML files).")
gec_app = typer.Typer(help="Unbundled China GEC purchases (TOML files).")
ledger_app.add_typer(green_app, name="green")
ledger_app.add_typer(gec_app, name="gec")
SellerKeyOpt = Annotated[
    str, typer.Option("--seller-key", help="Key name of the plant's owner (signs the moves).")
]
BuyerKeyOpt = Annotated[
    str, typer.Option("--buyer-key", help="Key name of the buyer (signs the retirements).")
]


def _read_text(path: Path) -> str:
    from engine.core.errors import InputFileError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), f"cannot read: {exc}") from exc


def _party_keys(seller_key: str, buyer_key: str) -> dict[str, Any]:
    """Signing keys by party, as the ledger registered them."""
    from engine.certificates.keyfiles import load_private_key
    from engine.core.errors import PowerdeskError
    from engine.core.settings import Settings
    from ledger.keys import key_id_of

    store = _store()
    registered = {k.key_id: k.party for k in store.keys()}  # noqa: SIM118 (a list)
    out: dict[str, Any] = {}
    for name in (seller_key, buyer_key):
        key = load_private_key(Settings().home, name)
        party = registered.get(key_id_of(key.public_key()))
        if party is None:
            raise PowerdeskError(f"key {name} is not registered in the ledger")
        out[party] = key
    return out


@green_app.command("add")
def green_add(path: Annotated[Path, typer.Argument(help="Contract (TOML).")]) -> None:
    """Import a green-electricity trading contract file."""
    from engine.certificates.green import add_contract_text, contract_json
    from engine.core.db import open_database

    contract = add_contract_text(open_database(), _read_text(path), str(path))
    typer.echo(json.dumps(contract_json(contract), indent=2))


@green_app.command("list")
def green_list() -> None:
    """List stored green-electricity trading contracts as JSON."""
    from engine.certificates.green import contract_json, list_contracts
    from engine.core.db import open_database

    typer.echo(json.dumps([contract_json(c) for c in list_contracts(open_database())], indent=2))


@green_app.command("settle")
def green_settle(
    contract_id: Annotated[str, typer.Argument()],
    statement: Annotated[Path, typer.Option("--statement", help="Monthly statement (TOML).")],
    seller_key: SellerKeyOpt,
    buyer_key: BuyerKeyOpt,
    at: AtOpt = None,
) -> None:
    """Settle a monthly statement: money like a physical PPA, GECs bundled to the buyer and
    retired for its site, in one ledger transaction (a retry returns the first result)."""
    from engine.certificates.green import key_signer, settle_contract_month
    from engine.core.db import open_database

    text = _read_text(statement)
    keys = _party_keys(seller_key, buyer_key)
    store = _store()
    sign = key_signer(store, keys, _at(at))
    result = settle_contract_month(open_database(), store, contract_id, text, str(statement), sign)
    typer.echo(json.dumps(result, indent=2))


@gec_app.command("buy")
def gec_buy(
    path: Annotated[Path, typer.Argument(help="Purchase (TOML).")],
    seller_key: SellerKeyOpt,
    buyer_key: BuyerKeyOpt,
    at: AtOpt = None,
) -> None:
    """Buy GECs of a plant and month (unbundled) and retire them for a site, in one ledger
    transaction (a retry returns the first result)."""
    from engine.certificates.green import buy_gecs, key_signer
    from engine.core.db import open_database

    text = _read_text(path)
    keys = _party_keys(seller_key, buyer_key)
    store = _store()
    result = buy_gecs(open_database(), store, text, str(path), key_signer(store, keys, _at(at)))
    typer.echo(json.dumps(result, indent=2))
