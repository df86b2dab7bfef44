"""A commented default ``scheduler.toml`` (``powerdesk scheduler init`` and ``powerdesk demo``).

The text holds every setting of :mod:`engine.scheduling.schedule` at its default value with the
comment of the format's documentation, so an operator edits values rather than looks them up.
It is checked with :func:`~engine.scheduling.schedule.load_config` before it is written, and
written atomically (a temporary file and a rename): a refused or failed init leaves nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from engine.core.errors import InputFileError, PowerdeskError
from engine.io.canonical import atomic_write_text
from engine.scheduling.schedule import CONFIG_FILE, SchedulerConfig, load_config

_TEMPLATE = """\
# powerdesk scheduler configuration, written by `powerdesk scheduler init` with the defaults.
# Times are local wall times of each site's zone; the format is documented in
# engine/scheduling/schedule.py. Check it with `powerdesk scheduler jobs`.

catch_up_days = 7                # [days] how far back a start or tick looks for missed runs
lease_seconds = 600              # [s] a claim without heartbeat for this long is taken over

{sites}
# [[portfolio]]                  # sites bid jointly by one daily job (docs/portfolio.md)
# file = "portfolios/nordics.toml"

[bid]
enabled = true
lead_minutes = 60                # fire at the zone's gate closure minus this, local D-1
misfire_grace_minutes = 30       # capped at the lead: a bid after gate closure is useless

[settle]
enabled = true
days_after = 1                   # settle day D on D + 1 ...
time = "10:00"                   # ... at this local time
misfire_grace_minutes = 120

[report]
enabled = true                   # needs POWERDESK_GRID_FACTORS (an EF or generation-mix CSV)
day_of_month = 1                 # report month M on this day of month M + 1 ...
time = "06:00"                   # ... at this local time
misfire_grace_minutes = 720
catch_up_days = 40               # a monthly job looks further back than the daily ones

[replan]
enabled = false                  # the real-time stage; needs real-time prices stored
every_minutes = 0                # 0: once after the DA result; N: also every N min during D
forecast = "zero"                # real-time price forecast: zero, mean, median
lookback_days = 28
threshold = 10.0                 # dead band [currency/MWh]
misfire_grace_minutes = 30
"""


def _site_entry(site: Path, folder: Path) -> str:
    """``[[site]]`` table of ``site``: relative to ``folder`` when inside it, else absolute."""
    resolved = site.resolve()
    try:
        shown = resolved.relative_to(folder.resolve()).as_posix()
    except ValueError:
        shown = resolved.as_posix()
    # A JSON string is a valid TOML basic string (same escapes).
    return f"[[site]]\nfile = {json.dumps(shown, ensure_ascii=False)}\n"


def default_config_text(sites: Sequence[Path], folder: Path) -> str:
    """The commented default configuration for ``sites``, as a file in ``folder`` would hold it."""
    if not sites:
        raise PowerdeskError("the scheduler needs at least one site file")
    return _TEMPLATE.format(sites="\n".join(_site_entry(s, folder) for s in sites))


def site_files(home: Path) -> list[Path]:
    """The site files kept in ``home/sites`` (sorted), the default sites of a new config."""
    return sorted((home / "sites").glob("*.toml"))


def write_default_config(
    path: Path, sites: Sequence[Path], *, force: bool = False
) -> SchedulerConfig:
    """Write the default configuration for ``sites`` to ``path``; returns it as loaded.

    Refuses to replace an existing file unless ``force``. The sites are checked (they exist and
    name a site and a known zone) before anything is written.
    """
    if path.exists() and not force:
        raise PowerdeskError(f"{path} exists: keep it, or pass --force to replace it")
    if path.is_dir():
        raise PowerdeskError(f"{path} is a directory")
    for site in sites:
        if not site.is_file():
            raise PowerdeskError(f"site file {site} does not exist")
    text = default_config_text(sites, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Check the text as the file it becomes (site paths resolve against its folder).
    fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load_config(Path(probe))
    except InputFileError as exc:
        where = str(path) if exc.path == probe else exc.path
        raise InputFileError(where, exc.problem, exc.row) from None
    finally:
        Path(probe).unlink(missing_ok=True)
    atomic_write_text(path, text)
    return load_config(path)


__all__ = ["CONFIG_FILE", "default_config_text", "site_files", "write_default_config"]
