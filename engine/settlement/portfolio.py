"""Settlement of a portfolio's delivery day: each site settled on its own, the portfolio as their
sum with the placement cost of the migratable jobs.

Every site is settled by :func:`engine.settlement.service.settle_site_day` (its submitted bid,
once per site and day, corrections explicit), exactly as a site outside a portfolio. The
placement cost at a site is priced from the allocation of the portfolio build that the settled
bid belongs to, by :func:`engine.bids.documents.site_placement_cost` (the backtest's rule,
:func:`market.clearing.placement_cost`). Per site and for the portfolio::

    total_cost = energy_cost + imbalance_cost + degradation_cost + placement_cost
                 + ppa_cost - reserve_revenue

(``degradation_cost`` is a line of live settlement only where it settles one; ``ppa_cost`` is
zero without PPAs). The portfolio's figures are the exact sums of the sites'.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from engine.bids.documents import site_placement_cost
from engine.bids.portfolio import portfolio_bid_of
from engine.core.errors import NotFoundError
from engine.settlement.service import (
    SettlementRecord,
    compute_settlement,
    latest_settlement,
    settle_site_day,
)
from engine.sites.portfolios import get_portfolio
from market import get_zone

MONEY = (
    "energy_cost",
    "imbalance_cost",
    "degradation_cost",
    "placement_cost",
    "ppa_cost",
    "reserve_revenue",
    "total_cost",
)


@dataclass(frozen=True, slots=True)
class SiteResult:
    """One site's settled day within its portfolio."""

    site: str
    zone: str
    run: int
    bid_id: int
    portfolio_bid_id: int
    figures: dict[str, Decimal]

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready (money as exact decimal strings)."""
        return {
            "site": self.site,
            "zone": self.zone,
            "settlement_run": self.run,
            "bid_id": self.bid_id,
            "portfolio_bid_id": self.portfolio_bid_id,
            **{k: str(self.figures[k]) for k in MONEY},
        }


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    """A portfolio's settled day: the sites and their roll-up."""

    portfolio: str
    day: date
    currency: str
    sites: tuple[SiteResult, ...]
    created: bool = False  # a site's settlement was stored by this call (not in the document)

    @property
    def totals(self) -> dict[str, Decimal]:
        """The exact sum over the sites of every money figure."""
        return {k: sum((s.figures[k] for s in self.sites), Decimal(0)) + Decimal(0) for k in MONEY}

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready (money as exact decimal strings)."""
        return {
            "portfolio": self.portfolio,
            "day": self.day.isoformat(),
            "currency": self.currency,
            "sites": [s.to_json_dict() for s in self.sites],
            "totals": {k: str(v) for k, v in self.totals.items()},
        }


def _site_result(
    engine: Engine, portfolio: str, zone_key: str, record: SettlementRecord
) -> SiteResult:
    zone = get_zone(zone_key)
    bid_id = int(record.provenance["bid_id"])
    build = portfolio_bid_of(engine, portfolio, record.day, bid_id)
    placement = site_placement_cost(build.allocation, record.site, zone.minor_unit)
    t = record.totals
    zero = Decimal(0).quantize(zone.minor_unit)
    figures = {
        "energy_cost": Decimal(t["energy_cost"]),
        "imbalance_cost": Decimal(t["imbalance_cost"]),
        "degradation_cost": Decimal(t.get("degradation_cost", zero)),
        "placement_cost": placement,
        "ppa_cost": Decimal(t.get("ppa_cost", zero)),
        "reserve_revenue": Decimal(t["reserve_revenue"]),
    }
    # The site's settlement total is the exact sum of its lines; the placement cost is added.
    figures["total_cost"] = Decimal(t["total_cost"]) + placement + Decimal(0)
    return SiteResult(record.site, zone.key, record.run, bid_id, build.id, figures)


def portfolio_results(engine: Engine, name: str, day: date) -> PortfolioResult:
    """The settled day of portfolio ``name`` from what is stored (nothing is written).

    Raises
    ------
    NotFoundError
        The portfolio is not registered, a site's day is not settled, or a site's settled bid is
        not one of the portfolio's builds of the day.
    """
    stored = get_portfolio(engine, name)
    sites = []
    for site in stored.portfolio.sites:
        record = latest_settlement(engine, site.name, day)
        if record is None:
            raise NotFoundError(f"site {site.name} of portfolio {name!r} is not settled for {day}")
        sites.append(_site_result(engine, name, site.zone, record))
    return PortfolioResult(name, day, stored.portfolio.currency, tuple(sites))


def settle_portfolio_day(
    engine: Engine,
    name: str,
    day: date,
    *,
    force: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> PortfolioResult:
    """Settle every site of portfolio ``name`` on ``day`` once (``force``: a correction of each)
    with :func:`settle_site_day`, then return the roll-up.

    Every site's submitted bid must belong to one of the portfolio's builds of the day, and every
    site's day must be computable (prices, meter), checked before any site is settled.
    """
    from engine.bids.service import submitted_bid

    stored = get_portfolio(engine, name)
    for site in stored.portfolio.sites:
        bid = submitted_bid(engine, site.name, day)
        if bid is None:
            raise NotFoundError(f"no submitted bid for site {site.name} on {day}: submit one first")
        portfolio_bid_of(engine, name, day, bid.id)
        if force or latest_settlement(engine, site.name, day) is None:
            # Every site's inputs (prices, meter) are checked before any site is stored.
            compute_settlement(engine, site.name, get_zone(site.zone), day)
    created = False
    for site in stored.portfolio.sites:
        record = settle_site_day(
            engine, site.name, site.zone, day, force=force, reason=reason, now=now
        )
        created |= record.created
    return replace(portfolio_results(engine, name, day), created=created)
