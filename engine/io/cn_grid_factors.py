"""Official Chinese annual grid emission factors, expanded to the hours of a report.

The data (``carbon/data/cn_grid_factors.csv``, one row per region and year)::

    region,year,ef_tco2e_per_mwh,carbon_free_share,source

``region`` is ``CN`` (national) or a CN zone key (``CN-GS``...: the provincial factor);
``ef_tco2e_per_mwh`` the published average electricity CO2 emission factor [tCO2e/MWh] of that
year (MEE & NBS announcements); ``carbon_free_share`` the national non-fossil generation share
[0..1] (national rows only; it is the grid share ``g`` of the CFE score, which is not a Chinese
figure); ``source`` names the publication. See docs/carbon-cn.md.

:func:`official_factors` expands them to the UTC hours of a period: each hour takes the factor of
its local calendar year, or of the latest published year before it (the factors are published
about two years late, and reports use the latest published ones); the provincial factor of the
zone, or the national one when asked or when the province is not published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

from carbon import DatasetPin
from engine.core.errors import PowerdeskError
from engine.io.emission_factors import EfDataset
from engine.io.meter import parse_decimal, read_csv_table
from market import get_zone

COLUMNS = ("region", "year", "ef_tco2e_per_mwh", "carbon_free_share", "source")
NATIONAL = "CN"
LEVELS = ("provincial", "national")


def default_path() -> Path:
    """The bundled table of official factors."""
    return Path(str(resources.files("carbon") / "data" / "cn_grid_factors.csv"))


@dataclass(frozen=True, slots=True)
class OfficialFactor:
    """One published annual factor."""

    region: str
    year: int
    ef_tco2e_per_mwh: Decimal
    carbon_free_share: Decimal | None
    source: str


@dataclass(frozen=True, slots=True)
class OfficialTable:
    """The table of official factors and the SHA-256 of its bytes."""

    path: Path
    sha256: str
    rows: tuple[OfficialFactor, ...]

    def factor(self, region: str, year: int) -> OfficialFactor | None:
        """The factor of ``region`` for ``year``: that year's, else the latest before it."""
        rows = [r for r in self.rows if r.region == region and r.year <= year]
        return max(rows, key=lambda r: r.year) if rows else None


def read_official_table(path: Path | str | None = None) -> OfficialTable:
    """Read and validate a table of official factors (default: the bundled one).

    Raises
    ------
    InputFileError
        Missing column, bad number, a share outside [0, 1], a national row without a share, a
        region and year twice, no source.
    """
    table = read_csv_table(path or default_path(), COLUMNS)
    rows: list[OfficialFactor] = []
    seen: set[tuple[str, int]] = set()
    for i, row in enumerate(table.rows):
        cells = dict(zip(table.header, (c.strip() for c in row), strict=True))
        region, year_text, source = cells["region"], cells["year"], cells["source"]
        if region != NATIONAL and not region.startswith("CN-"):
            raise table.fail(f"region {region!r} is neither CN nor a CN zone key", i)
        if not year_text.isdigit():
            raise table.fail(f"year {year_text!r} is not a year", i)
        year = int(year_text)
        if (region, year) in seen:
            raise table.fail(f"{region} {year} given twice", i)
        seen.add((region, year))
        ef = parse_decimal(table, cells["ef_tco2e_per_mwh"], "ef_tco2e_per_mwh", i, low=Decimal(0))
        share = None
        if cells["carbon_free_share"]:
            share = parse_decimal(
                table, cells["carbon_free_share"], "carbon_free_share", i, low=Decimal(0)
            )
            if share > 1:
                raise table.fail(f"carbon_free_share {share} is above 1", i)
        elif region == NATIONAL:
            raise table.fail("a national row needs its carbon_free_share", i)
        if not source:
            raise table.fail("no source", i)
        rows.append(OfficialFactor(region, year, ef, share, source))
    return OfficialTable(Path(table.path), table.sha256, tuple(rows))


def official_factors(
    zone: str,
    hours: Sequence[datetime],
    level: str = "provincial",
    table: OfficialTable | None = None,
) -> EfDataset:
    """The official annual factors of ``zone`` on every hour of ``hours``, as a grid dataset.

    Raises
    ------
    PowerdeskError
        A zone outside China, an unknown level, or no factor published up to an hour's year.
    """
    if level not in LEVELS:
        raise PowerdeskError(f"official factors: level must be one of {', '.join(LEVELS)}")
    z = get_zone(zone)
    if z.currency != "CNY":
        raise PowerdeskError(f"official Chinese grid factors are for CN zones, not {z.key}")
    t = table or read_official_table()
    tz = z.zoneinfo
    ef: dict[datetime, Decimal] = {}
    share: dict[datetime, Decimal] = {}
    used: dict[tuple[str, int], str] = {}
    for h in hours:
        year = h.astimezone(tz).year
        national = t.factor(NATIONAL, year)
        if national is None or national.carbon_free_share is None:
            raise PowerdeskError(f"no official national grid factor published up to {year}")
        own = t.factor(z.key, year) if level == "provincial" else None
        chosen = own or national
        ef[h] = chosen.ef_tco2e_per_mwh
        share[h] = national.carbon_free_share
        used[(chosen.region, chosen.year)] = chosen.source
        used[(national.region, national.year)] = national.source
    words = "; ".join(f"{r} {y}: {src}" for (r, y), src in sorted(used.items()))
    pin = DatasetPin(
        name=t.path.name,
        role="grid-ef",
        source=f"official annual grid factors ({level}), expanded to every hour: {words}",
        sha256=t.sha256,
    )
    return EfDataset(pin=pin, ef_tco2e_per_mwh=ef, carbon_free_share=share)
