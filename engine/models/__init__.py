"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``.

Each area keeps its tables in a module of its own and its migrations on an Alembic branch of
its own (see engine/migrations/README.md).
"""

from engine.models.api import ApiIdempotency, ApiKey
from engine.models.backtests import BacktestRow
from engine.models.bids import BidRow
from engine.models.jobs import JobRun, Submission
from engine.models.ledger import (
    LedgerBundle,
    LedgerCell,
    LedgerCheckpoint,
    LedgerDevice,
    LedgerEvent,
    LedgerHead,
    LedgerKey,
    LedgerPPA,
)
from engine.models.market import Dataset, PricePoint
from engine.models.portfolios import PortfolioBidRow, PortfolioRow
from engine.models.settlement import MeterReadingRow, SettlementRun
from engine.models.sites import SiteRow

__all__ = [
    "ApiIdempotency",
    "ApiKey",
    "BacktestRow",
    "BidRow",
    "Dataset",
    "JobRun",
    "LedgerBundle",
    "LedgerCell",
    "LedgerCheckpoint",
    "LedgerDevice",
    "LedgerEvent",
    "LedgerHead",
    "LedgerKey",
    "LedgerPPA",
    "MeterReadingRow",
    "PortfolioBidRow",
    "PortfolioRow",
    "PricePoint",
    "SettlementRun",
    "SiteRow",
    "Submission",
]
