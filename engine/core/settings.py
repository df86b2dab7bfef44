"""Settings from the environment (and ``.env``), with defaults that need no set-up."""

from __future__ import annotations

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
