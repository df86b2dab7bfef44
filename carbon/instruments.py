"""Retired energy-attribute certificates as report inputs, and what each technology counts as.

A :class:`RetirementRecord` is the plain record of one retirement as the ledger keeps it (the
ledger maps its events to these records): which certificates, how much energy, produced where and
when, retired for which site and consumption interval. The carbon formulas use, per record, its
energy ``I`` [MWh], its emission rate ``EF_k`` [tCO2e/MWh], whether it is renewable and whether it
is carbon-free (:data:`TECHNOLOGIES`, or an explicit ``ef_tco2e_per_mwh`` on the record).

China GEC: one certificate is 1 MWh, so a GEC retirement must be a whole number of MWh. A bundled
green-electricity trade (绿电交易) counts once, through the certificates transferred with it:
powerdesk never adds the contract's energy on top of its certificates, and a certificate range
retired twice in one report is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from carbon.errors import CarbonInputError
from carbon.mix import DIRECT_EF_TCO2E_PER_MWH
from market import require_aware
from market.errors import NaiveDatetimeError
from market.schemes import Scheme, scheme_of
from market.units import WH_PER_MWH, wh_to_mwh


def is_gec(scheme: str) -> bool:
    """Whether a scheme name denotes China GEC (any of its names, :mod:`market.schemes`)."""
    return scheme_of(scheme) is Scheme.CHINA_GEC


@dataclass(frozen=True, slots=True)
class Technology:
    """How certificates of a technology count.

    Parameters
    ----------
    ef_tco2e_per_mwh
        Emission rate EF_k of the instrument [tCO2e/MWh].
    renewable
        Counts towards the green-electricity share.
    carbon_free
        Counts towards contracted carbon-free supply G (CFE and matched-only scores).
    """

    ef_tco2e_per_mwh: Decimal
    renewable: bool
    carbon_free: bool


_ZERO = Decimal(0)
_RENEWABLE = Technology(_ZERO, renewable=True, carbon_free=True)

#: Technology classes of certificates. Wind, solar, hydro, geothermal, marine and biomass are
#: renewable with EF 0 (biomass CO2 is biogenic, outside the scopes); nuclear is carbon-free but
#: not renewable; fossil technologies carry the direct factors of :mod:`carbon.mix`.
TECHNOLOGIES: Mapping[str, Technology] = MappingProxyType(
    {
        "wind": _RENEWABLE,
        "wind_onshore": _RENEWABLE,
        "wind_offshore": _RENEWABLE,
        "solar": _RENEWABLE,
        "hydro": _RENEWABLE,
        "geothermal": _RENEWABLE,
        "marine": _RENEWABLE,
        "biomass": _RENEWABLE,
        "biogas": _RENEWABLE,
        "nuclear": Technology(_ZERO, renewable=False, carbon_free=True),
        "gas": Technology(DIRECT_EF_TCO2E_PER_MWH["gas"], renewable=False, carbon_free=False),
        "hard_coal": Technology(
            DIRECT_EF_TCO2E_PER_MWH["hard_coal"], renewable=False, carbon_free=False
        ),
        "lignite": Technology(
            DIRECT_EF_TCO2E_PER_MWH["lignite"], renewable=False, carbon_free=False
        ),
        "oil": Technology(
            DIRECT_EF_TCO2E_PER_MWH["other_conventional"], renewable=False, carbon_free=False
        ),
    }
)


def _aware(value: datetime, what: str) -> datetime:
    try:
        return require_aware(value, what)
    except NaiveDatetimeError as exc:
        raise CarbonInputError(str(exc)) from None


def _iso(value: datetime) -> str:
    return value.isoformat()


def _parse_instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise CarbonInputError(f"{what} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CarbonInputError(f"{what} {value!r} is not an ISO 8601 timestamp") from None
    return _aware(parsed, what)


@dataclass(frozen=True, slots=True)
class RetirementRecord:
    """One retirement of a contiguous certificate range for a consumption site.

    Parameters
    ----------
    retirement_id
        Ledger identifier of the retirement (unique within a report).
    certificate_id_first, certificate_id_last
        First and last certificate identifiers of the retired range (inclusive, as the scheme
        numbers them).
    energy_wh
        Retired energy [Wh] (> 0; a whole number of MWh for China GEC).
    scheme
        Certificate scheme: ``"EnergyTag GC"``, ``"GO"``, ``"I-REC"``, ``"China GEC"``, ...
    technology
        Key of :data:`TECHNOLOGIES` (``"wind"``, ``"solar"``, ``"nuclear"``, ``"gas"``, ...).
    zone
        Market boundary of the producing device (a zone key).
    production_start, production_end
        Production interval [UTC, half-open].
    site
        Consumption site the certificates were retired for.
    consumption_start, consumption_end
        Consumption interval claimed by the retirement [UTC, half-open].
    beneficiary
        Legal entity the retirement is made for.
    ef_tco2e_per_mwh
        Emission rate [tCO2e/MWh] when the certificate states one; otherwise the technology's.
    bundled
        For China GEC: True when the certificates came with a green-electricity trading
        contract (绿电交易), False when bought on their own (unbundled); None when unknown.
    """

    retirement_id: str
    certificate_id_first: str
    certificate_id_last: str
    energy_wh: int
    scheme: str
    technology: str
    zone: str
    production_start: datetime
    production_end: datetime
    site: str
    consumption_start: datetime
    consumption_end: datetime
    beneficiary: str
    ef_tco2e_per_mwh: Decimal | None = None
    bundled: bool | None = None

    def __post_init__(self) -> None:
        for name in ("production_start", "production_end", "consumption_start", "consumption_end"):
            value = getattr(self, name)
            if not isinstance(value, datetime):
                raise CarbonInputError(f"retirement {self.retirement_id}: {name} is not a datetime")
            object.__setattr__(self, name, _aware(value, f"retirement {self.retirement_id} {name}"))
        rid = self.retirement_id
        if not rid:
            raise CarbonInputError("a retirement needs a retirement_id")
        if isinstance(self.energy_wh, bool) or not isinstance(self.energy_wh, int):
            raise CarbonInputError(f"retirement {rid}: energy_wh must be an integer [Wh]")
        if self.energy_wh <= 0:
            raise CarbonInputError(f"retirement {rid}: energy_wh must be > 0")
        if self.bundled is not None and not isinstance(self.bundled, bool):
            raise CarbonInputError(f"retirement {rid}: bundled must be true, false or absent")
        if is_gec(self.scheme) and self.energy_wh % WH_PER_MWH:
            raise CarbonInputError(
                f"retirement {rid}: China GEC certificates are whole MWh, not {self.energy_wh} Wh"
            )
        if self.production_end <= self.production_start:
            raise CarbonInputError(f"retirement {rid}: production interval is empty")
        if self.consumption_end <= self.consumption_start:
            raise CarbonInputError(f"retirement {rid}: consumption interval is empty")
        if self.ef_tco2e_per_mwh is not None and (
            not self.ef_tco2e_per_mwh.is_finite() or self.ef_tco2e_per_mwh < 0
        ):
            raise CarbonInputError(f"retirement {rid}: ef_tco2e_per_mwh must be finite and >= 0")
        if self.ef_tco2e_per_mwh is None and self.technology not in TECHNOLOGIES:
            raise CarbonInputError(
                f"retirement {rid}: unknown technology {self.technology!r} and no "
                "ef_tco2e_per_mwh (known: " + ", ".join(sorted(TECHNOLOGIES)) + ")"
            )

    @property
    def energy_mwh(self) -> Decimal:
        """Retired energy [MWh], exact."""
        return wh_to_mwh(self.energy_wh)

    @property
    def ef(self) -> Decimal:
        """Emission rate EF_k [tCO2e/MWh]: the record's own, else the technology's."""
        if self.ef_tco2e_per_mwh is not None:
            return self.ef_tco2e_per_mwh
        return TECHNOLOGIES[self.technology].ef_tco2e_per_mwh

    @property
    def renewable(self) -> bool:
        """Counts towards the green-electricity share."""
        tech = TECHNOLOGIES.get(self.technology)
        return tech is not None and tech.renewable

    @property
    def carbon_free(self) -> bool:
        """Counts towards contracted carbon-free supply G (carbon-free technology, EF 0)."""
        tech = TECHNOLOGIES.get(self.technology)
        return tech is not None and tech.carbon_free and self.ef == 0

    def order_key(self) -> tuple[Decimal, datetime, str, str, str]:
        """Deterministic order of applying instruments: EF ascending, then production start,
        then first certificate id, then retirement id (documented in :mod:`carbon.report`)."""
        return (
            self.ef,
            self.production_start,
            self.certificate_id_first,
            self.certificate_id_last,
            self.retirement_id,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready record: instants as ISO 8601 UTC strings, Decimals as strings;
        ``bundled`` only when known (records without it keep their earlier form)."""
        out: dict[str, Any] = {
            "retirement_id": self.retirement_id,
            "certificate_id_first": self.certificate_id_first,
            "certificate_id_last": self.certificate_id_last,
            "energy_wh": self.energy_wh,
            "scheme": self.scheme,
            "technology": self.technology,
            "zone": self.zone,
            "production_start": _iso(self.production_start),
            "production_end": _iso(self.production_end),
            "site": self.site,
            "consumption_start": _iso(self.consumption_start),
            "consumption_end": _iso(self.consumption_end),
            "beneficiary": self.beneficiary,
            "ef_tco2e_per_mwh": None
            if self.ef_tco2e_per_mwh is None
            else str(self.ef_tco2e_per_mwh),
        }
        if self.bundled is not None:
            out["bundled"] = self.bundled
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> RetirementRecord:
        """Inverse of :meth:`to_json_dict` (exact)."""
        if not isinstance(data, Mapping):
            raise CarbonInputError("a retirement record must be a JSON object")
        required = (
            "retirement_id",
            "certificate_id_first",
            "certificate_id_last",
            "energy_wh",
            "scheme",
            "technology",
            "zone",
            "production_start",
            "production_end",
            "site",
            "consumption_start",
            "consumption_end",
            "beneficiary",
        )
        missing = [k for k in required if k not in data]
        if missing:
            raise CarbonInputError(f"retirement record lacks {', '.join(missing)}")
        unknown = sorted(set(data) - {*required, "ef_tco2e_per_mwh", "bundled"})
        if unknown:
            raise CarbonInputError(f"retirement record has unknown field {', '.join(unknown)}")
        texts = {}
        for key in (
            "retirement_id",
            "certificate_id_first",
            "certificate_id_last",
            "scheme",
            "technology",
            "zone",
            "site",
            "beneficiary",
        ):
            if not isinstance(data[key], str):
                raise CarbonInputError(f"retirement record field {key} must be a string")
            texts[key] = data[key]
        ef_raw = data.get("ef_tco2e_per_mwh")
        ef = None
        if ef_raw is not None:
            if not isinstance(ef_raw, str):
                raise CarbonInputError("ef_tco2e_per_mwh must be a decimal string")
            try:
                ef = Decimal(ef_raw)
            except ArithmeticError:
                raise CarbonInputError(f"ef_tco2e_per_mwh {ef_raw!r} is not a number") from None
        rid = texts["retirement_id"]
        return cls(
            retirement_id=rid,
            certificate_id_first=texts["certificate_id_first"],
            certificate_id_last=texts["certificate_id_last"],
            energy_wh=data["energy_wh"],
            scheme=texts["scheme"],
            technology=texts["technology"],
            zone=texts["zone"],
            production_start=_parse_instant(data["production_start"], f"{rid} production_start"),
            production_end=_parse_instant(data["production_end"], f"{rid} production_end"),
            site=texts["site"],
            consumption_start=_parse_instant(data["consumption_start"], f"{rid} consumption_start"),
            consumption_end=_parse_instant(data["consumption_end"], f"{rid} consumption_end"),
            beneficiary=texts["beneficiary"],
            ef_tco2e_per_mwh=ef,
            bundled=data.get("bundled"),
        )
