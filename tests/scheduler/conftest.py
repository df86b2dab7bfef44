"""Helpers for scheduler tests: site files and scheduler.toml in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from engine.core.db import make_engine, migrate
from engine.scheduling.schedule import SchedulerConfig, load_config


def write_config(
    folder: Path, sites: Sequence[tuple[str, str]] = (("example-dc", "DE-LU"),), body: str = ""
) -> Path:
    """Write one site file per (name, zone) and a scheduler.toml listing them; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [body.strip(), ""]
    for name, zone in sites:
        (folder / f"{name}.toml").write_text(
            f'name = "{name}"\nzone = "{zone}"\n\n[load]\nbase_it_mw = 60.0\npue = 1.25\n'
            "grid_import_max_mw = 200.0\n",
            encoding="utf-8",
        )
        lines += ["[[site]]", f'file = "{name}.toml"', ""]
    path = folder / "scheduler.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def config(
    folder: Path, sites: Sequence[tuple[str, str]] = (("example-dc", "DE-LU"),), body: str = ""
) -> SchedulerConfig:
    """A parsed configuration written by :func:`write_config`."""
    return load_config(write_config(folder, sites, body))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database of its own."""
    eng = make_engine(f"sqlite:///{tmp_path / 'sched.db'}")
    migrate(eng)
    yield eng
    eng.dispose()
