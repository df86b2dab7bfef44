"""Physical PPAs move certificates: the buyer's share of each hour's metered output is issued to
the buyer and retired for the buyer's site and that same consumption hour.

Every ledger action carries an idempotency key derived from (PPA, hour, action), so certificates
for an hour go to the buyer once, however often settlement is re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carbon.instruments import RetirementRecord
from engine.certificates.store import AppendResult, LedgerStore, sign_and_append
from ledger.events import Issue, RegisterDevice, Retire, decode_leaf, format_time
from ledger.keys import Role, key_id_of
from ledger.ppa import PPA, MeteredInterval, Settlement, SettlementLine, settle_ppa
from ledger.schemes import SCHEMES, Period, Scheme
from ledger.signer import EventSigner
from ledger.state import Bundle, Status, bundle_id_for, carried_from, remainder_of
from market.schemes import month_bounds, period_zone


@dataclass(frozen=True, slots=True)
class DeliveredHour:
    """Certificates of one PPA hour: issued to the buyer and retired for its site."""

    interval_start: datetime
    interval_end: datetime
    generation_wh: int
    certificate_wh: int
    bundle_id: str
    issue_index: int
    retire_index: int


def ensure_party_key(
    store: LedgerStore,
    operator: Ed25519PrivateKey,
    key: Ed25519PrivateKey,
    party: str,
    roles: frozenset[Role],
    at: datetime,
) -> None:
    """Register ``key`` for ``party`` with ``roles`` unless the log already holds it."""
    from engine.certificates.history import register_key_event

    key_id = key_id_of(key.public_key())
    registered = store.keys()
    if any(k.key_id == key_id for k in registered):
        return
    signer = EventSigner(operator, store.last_seq(key_id_of(operator.public_key())))
    store.append(register_key_event(signer, key, party, roles, at))


def ensure_device(
    store: LedgerStore,
    issuer: Ed25519PrivateKey,
    device: str,
    capacity_w: int,
    technology: str,
    zone: str,
    at: datetime,
    resolution_s: int = 3600,
) -> None:
    """Register a production device once (idempotent by device name)."""
    body = RegisterDevice(device, capacity_w, technology, zone, resolution_s)
    sign_and_append(store, issuer, body, at, f"device:{device}")


def issue_month(
    store: LedgerStore,
    issuer: Ed25519PrivateKey,
    device: str,
    scheme: Scheme,
    start: datetime,
    end: datetime,
    metered_wh: int,
    owner: str,
    external_code: str | None,
    at: datetime,
    idempotency_key: str,
) -> AppendResult:
    """Issue a monthly scheme's certificates of one month in whole units: the month's metered
    energy plus the remainder carried in from the previous month, floored to the unit (0 is a
    statement that carries everything to the next month)."""
    rules = SCHEMES[scheme]
    cell = store.cell(device, start)
    if cell is not None:
        carried = cell.carried_in_wh
    else:
        previous = carried_from(scheme, start)
        carried = remainder_of(None if previous is None else store.cell(device, previous), scheme)
    issued = 0 if cell is None else cell.live_issued_wh
    available = metered_wh + carried - issued
    energy = max(0, available - available % rules.unit_wh)
    body = Issue(
        device,
        scheme,
        start,
        end,
        0 if cell is None else cell.next_id,
        energy,
        metered_wh,
        owner,
        external_code,
    )
    return sign_and_append(store, issuer, body, at, idempotency_key)


def deliver_physical_ppa(
    store: LedgerStore,
    ppa: PPA,
    metered: Sequence[MeteredInterval],
    *,
    issuer: Ed25519PrivateKey,
    buyer: Ed25519PrivateKey,
    site: str,
    at: datetime,
    scheme: Scheme = Scheme.ENERGYTAG_GC,
    external_code: Callable[[datetime], str] | None = None,
) -> list[DeliveredHour]:
    """Issue the buyer's certificates of every metered hour and retire them for ``site``.

    ``metered`` is the generation of the PPA's (single) device per hour [Wh]. Hours without
    certificates are skipped. Re-running with the same inputs appends nothing.

    For a monthly scheme (China GEC) the hours' certificates are summed per calendar month of
    the scheme and issued once per month in whole units (remainder carried), with the
    registry's code ``external_code(month start, in the scheme's time zone)`` where the scheme
    keeps one; the month's
    certificates are retired for the site over the month's hours delivered.
    """
    if ppa.settlement is not Settlement.PHYSICAL:
        raise ValueError(f"{ppa.ppa_id} is a virtual PPA: it settles money, not certificates")
    rules = SCHEMES[scheme]
    if rules.external_code_required and external_code is None:
        raise ValueError(f"{scheme} certificates need the registry's code of each issuance")
    device = ppa.devices[0]
    settled = settle_ppa(ppa, metered)
    if rules.period is Period.MONTH:
        lines = settled.lines
        return _deliver_monthly(store, ppa, lines, issuer, buyer, site, at, scheme, external_code)
    out: list[DeliveredHour] = []
    for m, line in zip(metered, settled.lines, strict=True):
        if line.certificate_wh <= 0:
            continue
        stamp = format_time(line.start)
        cell = store.cell(device, line.start)
        body = Issue(
            device,
            scheme,
            line.start,
            line.end,
            0 if cell is None else cell.next_id,
            line.certificate_wh,
            m.generation_wh,
            ppa.buyer,
            None if external_code is None else external_code(line.start),
        )
        issued = sign_and_append(store, issuer, body, at, f"ppa:{ppa.ppa_id}:{stamp}:issue")
        event = decode_leaf(store.leaves(issued.index, issued.index + 1)[0]).event
        assert isinstance(event.body, Issue)
        id_start = event.body.id_start
        bundle = bundle_id_for(device, line.start, id_start, id_start + event.body.energy_wh)
        retire = Retire(bundle, ppa.buyer, site, line.start, line.end, ppa.zone)
        retired = sign_and_append(store, buyer, retire, at, f"ppa:{ppa.ppa_id}:{stamp}:retire")
        out.append(
            DeliveredHour(
                line.start,
                line.end,
                m.generation_wh,
                event.body.energy_wh,
                bundle,
                issued.index,
                retired.index,
            )
        )
    return out


def _deliver_monthly(
    store: LedgerStore,
    ppa: PPA,
    lines: Sequence[SettlementLine],
    issuer: Ed25519PrivateKey,
    buyer: Ed25519PrivateKey,
    site: str,
    at: datetime,
    scheme: Scheme,
    external_code: Callable[[datetime], str] | None,
) -> list[DeliveredHour]:
    device = ppa.devices[0]
    tz = period_zone(scheme)
    months: dict[datetime, list[SettlementLine]] = {}
    for line in lines:
        months.setdefault(month_bounds(line.start, tz)[0], []).append(line)
    out: list[DeliveredHour] = []
    for start, month in sorted(months.items()):
        end = month_bounds(start, tz)[1]
        stamp = format_time(start)
        due = sum(x.certificate_wh for x in month)
        code = None if external_code is None else external_code(start.astimezone(tz))
        issued = issue_month(
            store,
            issuer,
            device,
            scheme,
            start,
            end,
            due,
            ppa.buyer,
            code,
            at,
            f"ppa:{ppa.ppa_id}:{stamp}:issue",
        )
        event = decode_leaf(store.leaves(issued.index, issued.index + 1)[0]).event
        assert isinstance(event.body, Issue)
        if event.body.energy_wh == 0:
            continue
        id_start = event.body.id_start
        bundle = bundle_id_for(device, start, id_start, id_start + event.body.energy_wh)
        first, last = month[0].start, month[-1].end
        retire = Retire(bundle, ppa.buyer, site, first, last, ppa.zone)
        retired = sign_and_append(store, buyer, retire, at, f"ppa:{ppa.ppa_id}:{stamp}:retire")
        out.append(
            DeliveredHour(
                start, end, due, event.body.energy_wh, bundle, issued.index, retired.index
            )
        )
    return out


def retirement_record(bundle: Bundle) -> RetirementRecord:
    """The carbon report's view of a retired bundle."""
    r = bundle.retirement
    if bundle.status is not Status.RETIRED or r is None:
        raise ValueError(f"bundle {bundle.bundle_id} is not retired")
    prefix = f"{bundle.device}/{format_time(bundle.interval_start)}"
    return RetirementRecord(
        retirement_id=bundle.bundle_id,
        certificate_id_first=f"{prefix}/{bundle.id_start}",
        certificate_id_last=f"{prefix}/{bundle.id_end - 1}",
        energy_wh=bundle.energy_wh,
        scheme=str(bundle.scheme),
        technology=bundle.technology,
        zone=bundle.zone,
        production_start=bundle.interval_start,
        production_end=bundle.interval_end,
        site=r.site,
        consumption_start=r.consumption_start,
        consumption_end=r.consumption_end,
        beneficiary=r.beneficiary,
        ef_tco2e_per_mwh=None,
        # China GEC: bundled with a green-electricity trading contract, or bought on its own.
        bundled=(bundle.contract is not None) if SCHEMES[bundle.scheme].bundling else None,
    )


def site_retirements(
    bundles: Sequence[Bundle], site: str, start: datetime, end: datetime
) -> list[RetirementRecord]:
    """Retirements for ``site`` whose consumption interval lies in ``[start, end)``."""
    return [
        retirement_record(b)
        for b in bundles
        if b.status is Status.RETIRED
        and b.retirement is not None
        and b.retirement.site == site
        and start <= b.retirement.consumption_start < end
    ]
