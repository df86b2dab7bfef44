"""Settings of the API process (``POWERDESK_API_*``); the database and home come from
:class:`engine.core.settings.Settings`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """API limits and tuning.

    Attributes
    ----------
    max_body_bytes
        Largest request body accepted [bytes]; larger is a 413.
    max_header_bytes
        Largest request head (request line and headers) accepted [bytes]; larger is a 431,
        refused by ``powerdesk serve``'s protocol while it is still arriving (:mod:`api.server`).
    bid_processes
        Processes that build bids (0: build in a thread of the API process). Solving in its own
        process keeps a bid build from holding the API's interpreter lock while reads wait.
    gc_freeze
        Freeze the objects alive at start-up out of the garbage collector's reach (shorter
        pauses under load; off in tests that build many apps in one process).
    backtest_executor
        Executor of backtest day problems (``local:N``, ``inline``, ``dask://HOST:PORT``).
    read_cache_mb
        Rendered GET responses kept for replay while the data is unchanged [MiB] (0: off;
        :mod:`api.read_cache`).
    idempotency_lease_seconds
        Lease of a pending ``Idempotency-Key`` claim [s]: renewed while its request runs; a
        retry after a crash takes the claim over once it is this old.
    auth_cache_seconds
        How long a verified API key is remembered in this process [s] (a revocation through the
        API takes effect at once in this process, in other processes after at most this long).
    """

    model_config = SettingsConfigDict(
        env_prefix="POWERDESK_API_", env_file=".env", extra="ignore", frozen=True
    )

    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_header_bytes: int = Field(65_536, ge=4096, le=16_777_216)
    auth_cache_seconds: float = Field(10.0, ge=0.0)
    idempotency_lease_seconds: float = Field(60.0, ge=0.1, le=86_400.0)
    read_cache_mb: float = Field(64.0, ge=0.0, le=65_536.0)
    backtest_executor: str = "local:1"
    bid_processes: int = Field(1, ge=0, le=16)
    gc_freeze: bool = True
