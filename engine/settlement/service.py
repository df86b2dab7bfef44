"""Daily settlement of a site: its stored bid cleared at the day's prices, meter, reserves, PPAs.

``settle_site_day(engine, site, day)`` is idempotent by ``(site, day)``: the first run is stored,
a re-run returns it unchanged. A correction is an explicit ``force=True`` run that supersedes the
last one (append-only: every run stays in ``settlement_run``).

Inputs, all read from the database:

- the bid: the one *submitted* bid of the site and day (:func:`engine.bids.service.submit_bid`);
  a bid that was only built is never settled;
- DA prices (series ``DA``), final values; imbalance prices (series ``IMBALANCE``) when stored,
  else deviations settle at the DA price;
- metered consumption (``powerdesk meter import``), summed exactly onto the DA intervals;
- reserve clearing prices (series = product key, mileage prices ``<KEY>_MILEAGE``);
- the calls on the site where an activation file was loaded (``powerdesk prices load`` of an
  activation file: series ``<KEY>_CALLED_MW``, ``<KEY>_MILEAGE_MW``); without them awards are
  paid as capacity only. The performance factor K is the registered site's
  (``[reserves] performance_factor``, default 1) unless the caller names it.

The bid is cleared and settled by :func:`market.clearing.settle_submitted_day`, the rule the
backtest uses.
- virtual PPAs of the site (buyer = site name) with their metered generation, settled through
  :func:`ledger.ppa.settle_ppa` as money lines (physical PPAs move certificates, see
  :mod:`engine.certificates.ppa_delivery`).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.bids.documents import submitted_day
from engine.core.errors import ConflictError, InputFileError, NotFoundError, PowerdeskError
from engine.io.meter import MeterData, read_meter_csv
from engine.marketdata.view import IMBALANCE_SERIES, from_database
from engine.models.bids import BidRow
from engine.models.market import Dataset
from engine.models.settlement import MeterReadingRow, SettlementRun
from market import Zone, delivery_day_bounds, delivery_intervals, get_zone
from market.clearing import price_decimal, settle_submitted_day
from market.errors import MarketError
from market.settlement import Category, DaySettlement, Line

T_BID = BidRow.__table__  # type: ignore[attr-defined]
T_RUN = SettlementRun.__table__  # type: ignore[attr-defined]
T_METER = MeterReadingRow.__table__  # type: ignore[attr-defined]
WH = Decimal(1_000_000)
SETTLEMENT_VERSION = "settlement/1"


@dataclass(frozen=True, slots=True)
class MeterImport:
    """Outcome of :func:`import_meter`."""

    dataset_id: int
    sha256: str
    rows: int
    created: bool


def import_meter(
    engine: Engine, path: Any, site: str, zone: str, *, now: datetime | None = None
) -> MeterImport:
    """Store a canonical meter file for ``site`` (same bytes again: a no-op).

    Raises
    ------
    InputFileError
        The file is not a valid canonical meter file (names the row).
    """
    meter: MeterData = read_meter_csv(path)
    z = get_zone(zone)
    with Session(engine) as session, session.begin():
        ds = session.execute(
            select(Dataset).where(Dataset.sha256 == meter.sha256)  # type: ignore[arg-type]
        ).scalar_one_or_none()
        if ds is not None:
            if (ds.kind, ds.series) != ("meter", site):
                raise InputFileError(
                    str(path), f"these bytes were imported before as {ds.kind} {ds.series}"
                )
            assert ds.id is not None
            return MeterImport(ds.id, meter.sha256, ds.rows, created=False)
        dataset = Dataset(
            kind="meter",
            zone=z.key,
            series=site,
            unit="MWh",
            sha256=meter.sha256,
            source=str(meter.path.name)[:400],
            rows=len(meter.readings),
            imported_at=now or datetime.now(UTC),
        )
        session.add(dataset)
        session.flush()
        assert dataset.id is not None
        session.execute(
            T_METER.insert(),
            [
                {
                    "dataset_id": dataset.id,
                    "site": site,
                    "interval_start": r.interval_start,
                    "interval_end": r.interval_end,
                    "energy_mwh": r.energy_mwh,
                }
                for r in meter.readings
            ],
        )
        return MeterImport(dataset.id, meter.sha256, len(meter.readings), created=True)


def metered_energy(
    engine: Engine,
    site: str,
    zone: Zone,
    day: date,
    intervals: pd.DatetimeIndex,
    step: timedelta,
) -> list[Decimal]:
    """Metered energy of ``site`` per interval ``[t, t + step)`` of ``intervals`` [MWh], exact.

    The newest import wins where files overlap. Every interval must be fully covered.
    """
    start, end = delivery_day_bounds(day, zone)
    with engine.connect() as conn:
        rows = conn.execute(
            select(T_METER.c.interval_start, T_METER.c.interval_end, T_METER.c.energy_mwh)
            .where(
                T_METER.c.site == site,
                T_METER.c.interval_start >= start,
                T_METER.c.interval_start < end,
            )
            .order_by(T_METER.c.interval_start, T_METER.c.dataset_id)
        ).all()
    latest = {r.interval_start: (r.interval_end, r.energy_mwh) for r in rows}
    readings = sorted(latest.items())
    starts = [s for s, _ in readings]
    out: list[Decimal] = []
    for t in intervals:
        lo = t.to_pydatetime()
        hi = lo + step
        parts = readings[bisect_left(starts, lo) : bisect_left(starts, hi)]
        covered = sum(((e - s) for s, (e, _) in parts), timedelta(0))
        if covered != step:
            raise PowerdeskError(
                f"meter data of {site} does not cover {lo.isoformat()} (import it with "
                "powerdesk meter import)"
            )
        out.append(sum((v for _, (_, v) in parts), Decimal(0)))
    return out


def _submitted_bid_row(engine: Engine, site: str, day: date) -> Any:
    with engine.connect() as conn:
        row = conn.execute(
            select(T_BID).where(
                T_BID.c.site == site,
                T_BID.c.day == day,
                T_BID.c.submission_status == "submitted",
            )
        ).first()
    if row is None:
        raise NotFoundError(f"no submitted bid for site {site} on {day}: submit one first")
    return row


def site_performance_factor(engine: Engine, site: str) -> Decimal:
    """K of a registered site (``[reserves] performance_factor``); 1 for a site not registered."""
    from engine.sites.registry import get_site

    try:
        return price_decimal(get_site(engine, site).site.reserve_performance_factor)
    except NotFoundError:
        return Decimal(1)


def compute_settlement(
    engine: Engine,
    site: str,
    zone: Zone,
    day: date,
    performance_factor: Decimal | None = None,
) -> tuple[DaySettlement, dict[str, Any]]:
    """Settle ``site`` on ``day`` from what is stored (nothing is written).

    The submitted bid is cleared with :func:`market.clearing.settle_submitted_day`, the rule the
    backtest uses, against the final stored prices (``DA``; ``IMBALANCE`` when stored, else
    deviations at the DA price; reserve clearing prices per product) and the meter.
    """
    bid = _submitted_bid_row(engine, site, day)
    bids = submitted_day(json.loads(bid.curves_json), json.loads(bid.reserve_bids_json))
    products = sorted({o.product for o in bids.reserve_offers})
    with Session(engine) as session:
        data = from_database(session, zone, products, features=False)
    starts = delivery_intervals(day, zone)
    metered = metered_energy(engine, site, zone, day, starts, zone.resolution_on(day))
    actuals = data.actuals()
    da_on_day = actuals.da.reindex(starts)
    if da_on_day.isna().any():
        missing = starts[int(da_on_day.isna().to_numpy().argmax())]
        raise PowerdeskError(f"DA prices of {zone.key} are missing for {missing.isoformat()}")
    da = [price_decimal(float(v)) for v in da_on_day.to_numpy()]
    ppa_lines, ppa_notes = ppa_money_lines(engine, site, zone, day, starts, da)
    k = (
        performance_factor
        if performance_factor is not None
        else site_performance_factor(engine, site)
    )
    try:
        settlement = settle_submitted_day(
            zone,
            day,
            bids,
            da_prices=actuals.da,
            metered_mwh=metered,
            imbalance_prices=actuals.imbalance,
            imbalance_resolution=actuals.imbalance_resolution,
            reserve_clearing=actuals.reserves,
            extra_lines=ppa_lines,
            activations=actuals.activations,
            performance_factor=k,
        )
    except MarketError as exc:
        raise PowerdeskError(f"bid {bid.id}: {exc}") from None
    provenance = {
        "bid_id": int(bid.id),
        "bid_parameter_hash": bid.parameter_hash,
        "bid_submission_status": bid.submission_status,
        "imbalance_prices": (
            IMBALANCE_SERIES if data.imbalance is not None else "DA (no imbalance prices)"
        ),
        "code_version": SETTLEMENT_VERSION,
        "awards": sum(1 for ln in settlement.lines if ln.category is Category.RESERVE_CAPACITY),
        "ppas": ppa_notes,
    }
    if actuals.activations is not None:
        provenance["activations"] = sorted(data.activations)
        provenance["performance_factor"] = str(k)
    return settlement, provenance


def device_meter_site(device: str) -> str:
    """The meter-reading key under which a generator's output is stored."""
    return f"device:{device}"


def ppa_money_lines(
    engine: Engine,
    site: str,
    zone: Zone,
    day: date,
    starts: pd.DatetimeIndex,
    da: Sequence[Decimal],
) -> tuple[list[Line], dict[str, str]]:
    """Money lines of the site's PPAs for ``day`` (cost-positive), and a note per PPA.

    Per hour: a physical PPA's buyer pays ``Q * strike``; the seller compensates a shortfall at the
    shortfall price; a virtual PPA settles ``(Pmarket - strike) * Q`` (positive: the generator
    pays the buyer), with ``Pmarket`` the hour's mean DA price, clipped by the collar. A PPA whose
    generator output is not stored for every hour of the day is left unsettled and noted.
    """
    from engine.certificates.ppa_contracts import list_ppas
    from ledger.ppa import MeteredInterval, Settlement, settle_ppa

    lo, hi = delivery_day_bounds(day, zone)
    hour_starts = pd.date_range(lo, hi, freq="h", inclusive="left")
    lines: list[Line] = []
    notes: dict[str, str] = {}
    for ppa in list_ppas(engine):
        if ppa.buyer != site or ppa.zone != zone.key or not ppa.covers(lo):
            continue
        try:
            per_device = [
                metered_energy(
                    engine, device_meter_site(d), zone, day, hour_starts, timedelta(hours=1)
                )
                for d in ppa.devices
            ]
        except PowerdeskError:
            notes[ppa.ppa_id] = "unsettled: generator output not stored for every hour"
            continue
        metered = [
            MeteredInterval(
                t.to_pydatetime(),
                (t + pd.Timedelta(hours=1)).to_pydatetime(),
                int(sum((dev[i] for dev in per_device), Decimal(0)) * WH),
            )
            for i, t in enumerate(hour_starts)
        ]
        prices = None
        if ppa.settlement is Settlement.VIRTUAL:
            prices = []
            for t in hour_starts:
                inside = [da[i] for i, s in enumerate(starts) if t <= s < t + pd.Timedelta(hours=1)]
                prices.append(sum(inside, Decimal(0)) / len(inside))
        settled = settle_ppa(ppa, metered, prices)
        for ln in settled.lines:
            cost = ln.payment - ln.shortfall_payment - ln.difference_payment
            quantity = Decimal(ln.quantity_wh) / WH
            lines.append(
                Line(
                    Category.PPA,
                    ppa.ppa_id,
                    ln.start,
                    quantity,
                    "MWh",
                    (cost / quantity).quantize(Decimal("0.000001")) if quantity else Decimal(0),
                    cost.quantize(zone.minor_unit, rounding=ROUND_HALF_EVEN),
                )
            )
        notes[ppa.ppa_id] = f"settled {ppa.kind}: {Decimal(settled.quantity_wh) / WH} MWh"
    return lines, notes


def _line_json(line: Line) -> dict[str, str]:
    return {
        "category": line.category.value,
        "product": line.product,
        "interval_start": line.interval_start.astimezone(UTC).isoformat(),
        "quantity": str(line.quantity),
        "unit": line.unit,
        "price": str(line.price),
        "amount": str(line.amount),
    }


class _LostRaceError(Exception):
    """Another run of the same site and day was stored first."""


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """A stored settlement run."""

    site: str
    day: date
    run: int
    supersedes_run: int | None
    currency: str
    totals: dict[str, str]
    lines: list[dict[str, str]]
    provenance: dict[str, Any]
    created: bool  # False: an earlier run was returned unchanged (idempotent re-run)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready summary (money as decimal strings)."""
        return {
            "site": self.site,
            "day": self.day.isoformat(),
            "run": self.run,
            "supersedes_run": self.supersedes_run,
            "currency": self.currency,
            "totals": self.totals,
            "lines": len(self.lines),
            "provenance": self.provenance,
            "created": self.created,
        }


def _record(row: Any, created: bool) -> SettlementRecord:
    return SettlementRecord(
        row.site,
        row.day,
        int(row.run),
        row.supersedes_run,
        row.currency,
        json.loads(row.totals_json),
        json.loads(row.lines_json),
        json.loads(row.provenance_json),
        created,
    )


def latest_settlement(engine: Engine, site: str, day: date) -> SettlementRecord | None:
    """The newest settlement run of ``site`` on ``day``, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            select(T_RUN)
            .where(T_RUN.c.site == site, T_RUN.c.day == day)
            .order_by(T_RUN.c.run.desc())
        ).first()
    return None if row is None else _record(row, False)


def settle_site_day(
    engine: Engine,
    site: str,
    zone: str,
    day: date,
    *,
    force: bool = False,
    reason: str = "",
    now: datetime | None = None,
    certificates: dict[str, Any] | None = None,
    performance_factor: Decimal | None = None,
) -> SettlementRecord:
    """Settle ``site`` on ``day`` once; ``force`` records a correction superseding the last run.

    ``performance_factor`` is the site's K (default: the registered site's, else 1).
    """
    z = get_zone(zone)
    previous = latest_settlement(engine, site, day)
    if previous is not None and not force:
        return previous
    settlement, provenance = compute_settlement(engine, site, z, day, performance_factor)
    lines = [_line_json(ln) for ln in settlement.lines]
    totals = {k: str(v) for k, v in settlement.totals.items()}
    expected = previous.run if previous is not None else None
    run = (expected or 0) + 1
    try:
        with engine.begin() as conn:
            last = conn.execute(
                select(func.max(T_RUN.c.run)).where(T_RUN.c.site == site, T_RUN.c.day == day)
            ).scalar_one()
            if last != expected:
                raise _LostRaceError
            conn.execute(
                T_RUN.insert().values(
                    site=site,
                    zone=z.key,
                    day=day,
                    run=run,
                    supersedes_run=expected,
                    reason=reason[:500],
                    currency=z.currency,
                    total_cost=settlement.total,
                    totals_json=json.dumps(totals, sort_keys=True),
                    lines_json=json.dumps(lines, sort_keys=True),
                    provenance_json=json.dumps(provenance, sort_keys=True),
                    certificates_json=json.dumps(certificates or {}, sort_keys=True),
                    created_at=now or datetime.now(UTC),
                )
            )
    except (IntegrityError, _LostRaceError):
        # Another process settled (or corrected) this site and day first: a (site, day) is
        # settled once; a correction that raced another correction is not silently stacked.
        winner = latest_settlement(engine, site, day)
        assert winner is not None
        if not force:
            return winner
        raise ConflictError(
            f"settlement of {site} on {day} was corrected at the same time (run {winner.run}); "
            "look at it before forcing again"
        ) from None
    stored = latest_settlement(engine, site, day)
    assert stored is not None
    return SettlementRecord(
        stored.site,
        stored.day,
        stored.run,
        stored.supersedes_run,
        stored.currency,
        stored.totals,
        stored.lines,
        stored.provenance,
        True,
    )
