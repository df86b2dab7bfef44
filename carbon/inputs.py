"""Everything a carbon report is computed from, serialisable with an exact JSON round trip.

:class:`ReportInputs` holds the reporting period (UTC, whole hours), per site the metered load
per hour, per market zone the grid factors, the retirements, the declared parameters and the pins
(name, source, SHA-256) of every dataset the figures rest on. ``to_json_dict`` / ``from_json_dict``
round-trip exactly (Decimals travel as strings, instants as ISO 8601 UTC strings), so an auditor
can recompute every figure from the bundle with :func:`carbon.report.compute_report`.

Hours are UTC intervals ``[h, h + 1 h)``: a 23- or 25-hour local day is just 23 or 25 of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import pandas as pd

from carbon.errors import CarbonInputError
from carbon.instruments import RetirementRecord, _aware, _parse_instant

FORMAT = "powerdesk.carbon.inputs/1"
HOUR = timedelta(hours=1)
CFE_GRID_BASES = ("production-mix", "residual-adjusted-mix")


def _hourly(
    values: Mapping[datetime, Decimal],
    what: str,
    low: Decimal | None = None,
    high: Decimal | None = None,
) -> Mapping[datetime, Decimal]:
    out: dict[datetime, Decimal] = {}
    for instant in sorted(values):
        value = values[instant]
        h = _aware(instant, what)
        if h.minute or h.second or h.microsecond:
            raise CarbonInputError(f"{what}: {h.isoformat()} is not the start of a UTC hour")
        if not isinstance(value, Decimal) or not value.is_finite():
            raise CarbonInputError(f"{what} at {h.isoformat()} must be a finite Decimal")
        if low is not None and value < low:
            raise CarbonInputError(f"{what} at {h.isoformat()} is below {low}: {value}")
        if high is not None and value > high:
            raise CarbonInputError(f"{what} at {h.isoformat()} is above {high}: {value}")
        out[h] = value
    return MappingProxyType(out)


def _optional(value: Decimal | None, what: str, high: Decimal | None = None) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise CarbonInputError(f"{what} must be a finite Decimal >= 0")
    if high is not None and value > high:
        raise CarbonInputError(f"{what} must be <= {high}")


_ONE = Decimal(1)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SiteLoad:
    """Metered consumption of one site.

    Parameters
    ----------
    name
        Site name (retirements name it as their consumption site).
    zone
        Market zone of the site, the market boundary m(s).
    load_mwh
        Metered consumption L[s,h] per UTC hour start [MWh]; every report hour must be present.
    onsite_carbon_free_mwh
        On-site carbon-free generation per hour [MWh] that enters G[s,h] (optional).
    it_load_mwh
        IT equipment energy per hour [MWh] where the site meters it (optional; when given, every
        report hour must be present): the denominator of PUE and CUE (:mod:`carbon.cn`).
    """

    name: str
    zone: str
    load_mwh: Mapping[datetime, Decimal]
    onsite_carbon_free_mwh: Mapping[datetime, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )
    it_load_mwh: Mapping[datetime, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.name:
            raise CarbonInputError("a site needs a name")
        object.__setattr__(self, "load_mwh", _hourly(self.load_mwh, f"load of {self.name}", _ZERO))
        object.__setattr__(
            self,
            "onsite_carbon_free_mwh",
            _hourly(self.onsite_carbon_free_mwh, f"on-site generation of {self.name}", _ZERO),
        )
        object.__setattr__(
            self, "it_load_mwh", _hourly(self.it_load_mwh, f"IT load of {self.name}", _ZERO)
        )


@dataclass(frozen=True, slots=True)
class GridFactors:
    """Grid factors of one market zone, hourly where known with annual fallbacks.

    Parameters
    ----------
    zone
        Market zone key.
    ef_tco2e_per_mwh
        Hourly grid-average emission factor EFgrid[m,h] [tCO2e/MWh].
    carbon_free_share
        Hourly carbon-free share g[m,h] of the grid mix [0..1].
    ef_residual_tco2e_per_mwh
        Hourly residual-mix factor EFres[m,h] [tCO2e/MWh], where published.
    annual_ef_tco2e_per_mwh, annual_carbon_free_share, annual_ef_residual_tco2e_per_mwh
        Annual values used for hours without an hourly value (and, for the residual mix, as the
        factor of annual matching).
    """

    zone: str
    ef_tco2e_per_mwh: Mapping[datetime, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )
    carbon_free_share: Mapping[datetime, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )
    ef_residual_tco2e_per_mwh: Mapping[datetime, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )
    annual_ef_tco2e_per_mwh: Decimal | None = None
    annual_carbon_free_share: Decimal | None = None
    annual_ef_residual_tco2e_per_mwh: Decimal | None = None

    def __post_init__(self) -> None:
        z = self.zone
        object.__setattr__(
            self, "ef_tco2e_per_mwh", _hourly(self.ef_tco2e_per_mwh, f"grid EF of {z}", _ZERO)
        )
        object.__setattr__(
            self,
            "carbon_free_share",
            _hourly(self.carbon_free_share, f"carbon-free share of {z}", _ZERO, _ONE),
        )
        object.__setattr__(
            self,
            "ef_residual_tco2e_per_mwh",
            _hourly(self.ef_residual_tco2e_per_mwh, f"residual EF of {z}", _ZERO),
        )
        _optional(self.annual_ef_tco2e_per_mwh, f"annual grid EF of {z}")
        _optional(self.annual_carbon_free_share, f"annual carbon-free share of {z}", _ONE)
        _optional(self.annual_ef_residual_tco2e_per_mwh, f"annual residual EF of {z}")


@dataclass(frozen=True, slots=True)
class DatasetPin:
    """A dataset a report rests on, pinned by the SHA-256 of its bytes.

    Parameters
    ----------
    name
        File or dataset name.
    role
        What it provides: ``"grid-ef"``, ``"residual-mix"``, ``"generation-mix"``, ``"meter"``, ...
    source
        Publisher, licence and derivation, in words.
    sha256
        Hex SHA-256 of the exact bytes used.
    """

    name: str
    role: str
    source: str
    sha256: str

    def __post_init__(self) -> None:
        digest = self.sha256
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise CarbonInputError(f"dataset {self.name}: sha256 must be 64 lower-case hex digits")


@dataclass(frozen=True, slots=True)
class ReportParameters:
    """Declared parameters of the formulas.

    Parameters
    ----------
    cfe_grid_basis
        What the grid carbon-free share g[m,h] is: ``"production-mix"`` (the grid's production
        mix) or ``"residual-adjusted-mix"`` (carbon-free attributes claimed by others removed).
    """

    cfe_grid_basis: str = "production-mix"

    def __post_init__(self) -> None:
        if self.cfe_grid_basis not in CFE_GRID_BASES:
            raise CarbonInputError(
                f"cfe_grid_basis must be one of {', '.join(CFE_GRID_BASES)}, "
                f"not {self.cfe_grid_basis!r}"
            )


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """All inputs of one carbon report.

    Parameters
    ----------
    period_start, period_end
        Reporting period [UTC, half-open], both on whole UTC hours.
    sites
        Consumption sites (unique names).
    grid
        Grid factors, one per zone of the sites (unique zones).
    retirements
        Retirement records; those outside the report's scope are listed, not applied.
    datasets
        Pins of every dataset used.
    parameters
        Declared formula parameters.
    """

    period_start: datetime
    period_end: datetime
    sites: tuple[SiteLoad, ...]
    grid: tuple[GridFactors, ...]
    retirements: tuple[RetirementRecord, ...] = ()
    datasets: tuple[DatasetPin, ...] = ()
    parameters: ReportParameters = field(default_factory=ReportParameters)

    def __post_init__(self) -> None:
        start = _aware(self.period_start, "period_start")
        end = _aware(self.period_end, "period_end")
        for name, instant in (("period_start", start), ("period_end", end)):
            if instant.minute or instant.second or instant.microsecond:
                raise CarbonInputError(f"{name} {instant.isoformat()} is not on a whole UTC hour")
        if end <= start:
            raise CarbonInputError("the reporting period is empty")
        object.__setattr__(self, "period_start", start)
        object.__setattr__(self, "period_end", end)
        for attr in ("sites", "grid", "retirements", "datasets"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        if not self.sites:
            raise CarbonInputError("a report needs at least one site")
        names = [s.name for s in self.sites]
        if len(set(names)) != len(names):
            raise CarbonInputError("site names must be unique")
        zones = [g.zone for g in self.grid]
        if len(set(zones)) != len(zones):
            raise CarbonInputError("grid factors must be given once per zone")
        missing = sorted({s.zone for s in self.sites} - set(zones))
        if missing:
            raise CarbonInputError(f"no grid factors for zone {', '.join(missing)}")
        ids = [r.retirement_id for r in self.retirements]
        if len(set(ids)) != len(ids):
            raise CarbonInputError("retirement ids must be unique")
        # One certificate range claimed twice would count its energy twice (e.g. a bundled
        # green-electricity trade entered both as a trade and as its certificates).
        ranges = [
            (r.scheme, r.certificate_id_first, r.certificate_id_last) for r in self.retirements
        ]
        if len(set(ranges)) != len(ranges):
            dup = sorted(r for r in set(ranges) if ranges.count(r) > 1)[0]
            raise CarbonInputError(f"certificate range {dup[1]}..{dup[2]} ({dup[0]}) retired twice")
        hours = set(self.hours)
        for site in self.sites:
            absent = [h for h in self.hours if h not in site.load_mwh]
            if absent:
                raise CarbonInputError(
                    f"site {site.name} has no load for hour {absent[0].isoformat()} "
                    f"({len(absent)} hours missing)"
                )
            if site.it_load_mwh:
                no_it = [h for h in self.hours if h not in site.it_load_mwh]
                if no_it:
                    raise CarbonInputError(
                        f"site {site.name} has no IT load for hour {no_it[0].isoformat()} "
                        f"({len(no_it)} hours missing; give IT load for every hour or none)"
                    )
            outside = sorted(
                (set(site.load_mwh) | set(site.onsite_carbon_free_mwh) | set(site.it_load_mwh))
                - hours
            )
            if outside:
                raise CarbonInputError(
                    f"site {site.name} has data for {outside[0].isoformat()}, outside the period"
                )

    @property
    def hours(self) -> tuple[datetime, ...]:
        """UTC starts of every hour of the period (23/25 local hours on DST days are just that)."""
        index = pd.date_range(self.period_start, self.period_end, freq=HOUR, inclusive="left")
        return tuple(ts.to_pydatetime() for ts in index)

    def to_json_dict(self) -> dict[str, Any]:
        """Deterministic JSON-ready form (Decimals as strings, instants in UTC ISO 8601)."""
        return {
            "format": FORMAT,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "parameters": {"cfe_grid_basis": self.parameters.cfe_grid_basis},
            "sites": [_site_json(s) for s in self.sites],
            "grid": [
                {
                    "zone": g.zone,
                    "ef_tco2e_per_mwh": _series_json(g.ef_tco2e_per_mwh),
                    "carbon_free_share": _series_json(g.carbon_free_share),
                    "ef_residual_tco2e_per_mwh": _series_json(g.ef_residual_tco2e_per_mwh),
                    "annual_ef_tco2e_per_mwh": _opt_str(g.annual_ef_tco2e_per_mwh),
                    "annual_carbon_free_share": _opt_str(g.annual_carbon_free_share),
                    "annual_ef_residual_tco2e_per_mwh": _opt_str(
                        g.annual_ef_residual_tco2e_per_mwh
                    ),
                }
                for g in self.grid
            ],
            "retirements": [r.to_json_dict() for r in self.retirements],
            "datasets": [
                {"name": d.name, "role": d.role, "source": d.source, "sha256": d.sha256}
                for d in self.datasets
            ],
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> ReportInputs:
        """Inverse of :meth:`to_json_dict`; refuses anything malformed with a one-line error."""
        try:
            if data.get("format") != FORMAT:
                raise CarbonInputError(f"not a {FORMAT} document")
            return cls(
                period_start=_parse_instant(data["period_start"], "period_start"),
                period_end=_parse_instant(data["period_end"], "period_end"),
                parameters=ReportParameters(cfe_grid_basis=data["parameters"]["cfe_grid_basis"]),
                sites=tuple(
                    SiteLoad(
                        name=s["name"],
                        zone=s["zone"],
                        load_mwh=_series_from(s["load_mwh"], "load_mwh"),
                        onsite_carbon_free_mwh=_series_from(
                            s["onsite_carbon_free_mwh"], "onsite_carbon_free_mwh"
                        ),
                        it_load_mwh=_series_from(s.get("it_load_mwh", {}), "it_load_mwh"),
                    )
                    for s in data["sites"]
                ),
                grid=tuple(
                    GridFactors(
                        zone=g["zone"],
                        ef_tco2e_per_mwh=_series_from(g["ef_tco2e_per_mwh"], "ef_tco2e_per_mwh"),
                        carbon_free_share=_series_from(g["carbon_free_share"], "carbon_free_share"),
                        ef_residual_tco2e_per_mwh=_series_from(
                            g["ef_residual_tco2e_per_mwh"], "ef_residual_tco2e_per_mwh"
                        ),
                        annual_ef_tco2e_per_mwh=_opt_dec(g["annual_ef_tco2e_per_mwh"]),
                        annual_carbon_free_share=_opt_dec(g["annual_carbon_free_share"]),
                        annual_ef_residual_tco2e_per_mwh=_opt_dec(
                            g["annual_ef_residual_tco2e_per_mwh"]
                        ),
                    )
                    for g in data["grid"]
                ),
                retirements=tuple(RetirementRecord.from_json_dict(r) for r in data["retirements"]),
                datasets=tuple(
                    DatasetPin(
                        name=d["name"], role=d["role"], source=d["source"], sha256=d["sha256"]
                    )
                    for d in data["datasets"]
                ),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise CarbonInputError(
                f"malformed report inputs ({type(exc).__name__}: {exc})"
            ) from None


def _site_json(site: SiteLoad) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": site.name,
        "zone": site.zone,
        "load_mwh": _series_json(site.load_mwh),
        "onsite_carbon_free_mwh": _series_json(site.onsite_carbon_free_mwh),
    }
    if site.it_load_mwh:  # only when metered: earlier documents keep their bytes and hash
        out["it_load_mwh"] = _series_json(site.it_load_mwh)
    return out


def _series_json(values: Mapping[datetime, Decimal]) -> dict[str, str]:
    return {h.isoformat(): str(values[h]) for h in sorted(values)}


def _dec(text: Any, what: str) -> Decimal:
    if not isinstance(text, str):
        raise CarbonInputError(f"{what} must be a decimal string, not {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CarbonInputError(f"{what} {text!r} is not a decimal number") from None


def _series_from(data: Mapping[str, Any], what: str) -> dict[datetime, Decimal]:
    return {_parse_instant(k, what): _dec(v, what) for k, v in data.items()}


def _opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else _dec(value, "annual factor")
