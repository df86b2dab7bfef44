"""Settings from the environment (and ``.env``), with defaults that need no set-up."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """powerdesk configuration (``POWERDESK_*`` environment variables).

    Attributes
    ----------
    home
        Where keys, reports and the default database live.
    database_url
        Any SQLAlchemy URL; defaults to an SQLite file in ``home``.
    """

    model_config = SettingsConfigDict(
        env_prefix="POWERDESK_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Path(".powerdesk")
    database_url: str | None = None
    grid_factors: Path | None = None  # EF or generation-mix CSV for scheduled carbon reports

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one or ``sqlite:///<home>/powerdesk.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'powerdesk.db').as_posix()}"

    def ensure_home(self) -> Path:
        """Create ``home`` if needed and return it."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


# Threads a portfolio solve gives its sites (bidding.solve's block start): one per core unless
# set; the backtest's and the API's worker processes set their share of the cores.
SOLVER_THREADS_ENV = "POWERDESK_SOLVER_THREADS"


def solver_threads() -> int:
    """Threads for a portfolio solve's sites (``POWERDESK_SOLVER_THREADS``, else the cores)."""
    raw = os.environ.get(SOLVER_THREADS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ValueError(f"{SOLVER_THREADS_ENV} must be a whole number, got {raw!r}") from None
    return max(1, os.cpu_count() or 1)
