"""Where a certificate may be claimed follows its scheme (market.schemes.may_claim), in the
carbon report as everywhere else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carbon import GridFactors, ReportInputs, RetirementRecord, SiteLoad, compute_report
from market.schemes import SCHEMES, ClaimArea, Scheme, countries_of, may_claim, scheme_of
from tests.carbon.helpers import HOUR, T0, certificate

ELIGIBLE = "eligible"


def _report(site_zone: str, record: RetirementRecord) -> tuple[str, Decimal]:
    """Status of ``record`` in a one-hour report of a 10 MWh site in ``site_zone`` and the
    market-based (annual) emissions."""
    inputs = ReportInputs(
        period_start=T0,
        period_end=T0 + HOUR,
        sites=(SiteLoad("dc", site_zone, {T0: Decimal(10)}),),
        grid=(
            GridFactors(
                site_zone,
                ef_tco2e_per_mwh={T0: Decimal("0.5")},
                carbon_free_share={T0: Decimal("0.3")},
            ),
        ),
        retirements=(record,),
    )
    report = compute_report(inputs)
    (use,) = report.instruments
    return use.status, report.market_based_annual_tco2e


def _month_gec(zone: str) -> RetirementRecord:
    # A Gansu wind GEC of the month, retired for the site's hour.
    return certificate(
        "gec",
        T0,
        "4",
        zone=zone,
        scheme="china-gec",
        consumption=(T0, T0 + HOUR),
        production_end=T0 + 24 * HOUR,
    )


def test_a_gansu_gec_counts_for_a_data_centre_in_another_province() -> None:
    status, market = _report("CN-JS", _month_gec("CN-GS"))
    assert status == ELIGIBLE
    # 4 of 10 MWh covered at EF 0, the other 6 MWh at the grid average 0.5.
    assert market == Decimal("3.000000")


def test_a_gec_does_not_count_outside_china() -> None:
    status, market = _report("DE-LU", _month_gec("CN-GS"))
    assert status != ELIGIBLE
    assert market == Decimal("5.000000")


def test_an_energytag_gc_from_de_lu_does_not_count_for_dk1() -> None:
    status, market = _report("DK1", certificate("gc", T0, "4", zone="DE-LU"))
    assert status == "device outside the site's market boundary"
    assert market == Decimal("5.000000")
    assert _report("DE-LU", certificate("gc", T0, "4", zone="DE-LU"))[0] == ELIGIBLE


def test_an_eu_go_counts_across_aib_members_only() -> None:
    go = certificate("go", T0, "4", zone="DE-LU", scheme="GO")
    assert _report("DK1", go)[0] == ELIGIBLE
    assert not may_claim("GO", "DE-LU", "CN-GS")
    assert not may_claim(Scheme.EECS_GO, "GB", "DK1")  # Great Britain left the AIB


@pytest.mark.parametrize(
    ("scheme", "made", "used", "expected"),
    [
        (Scheme.I_REC, "CN-GS", "CN-SD", True),
        (Scheme.I_REC, "CN-GS", "DK1", False),
        (Scheme.US_REC, "CAISO", "ERCOT", True),
        (Scheme.US_REC, "CAISO", "DK1", False),
        (Scheme.ENERGYTAG_GC, "DK1", "DK2", False),
        (Scheme.CHINA_GEC, "CN-GS", "CN-GD", True),
    ],
)
def test_claim_areas(scheme: Scheme, made: str, used: str, expected: bool) -> None:
    assert may_claim(scheme, made, used) is expected


def test_unknown_schemes_stay_in_their_zone_and_names_resolve() -> None:
    assert not may_claim("some-scheme", "CN-GS", "CN-JS")
    assert may_claim("some-scheme", "CN-GS", "CN-GS")
    assert scheme_of("China GEC") is scheme_of("china-gec") is Scheme.CHINA_GEC
    assert countries_of("DE-LU") == {"DE", "LU"}
    assert countries_of("DK1") == {"DK"}
    assert countries_of("CN-GS") == {"CN"}
    # Every scheme has a rule; GEC is national, 1 MWh, monthly and carries remainders.
    gec = SCHEMES[Scheme.CHINA_GEC]
    assert (gec.claim_area, gec.unit_wh, gec.carry_remainder) == (ClaimArea.COUNTRY, 10**6, True)
    assert set(SCHEMES) == set(Scheme)


def test_the_hourly_report_keeps_hourly_eligibility_by_production_hour() -> None:
    # A month's GEC is never hourly-eligible (its production is not within one hour).
    inputs = ReportInputs(
        period_start=T0,
        period_end=T0 + HOUR,
        sites=(SiteLoad("dc", "CN-JS", {T0: Decimal(10)}),),
        grid=(
            GridFactors(
                "CN-JS", ef_tco2e_per_mwh={T0: Decimal("0.5")}, carbon_free_share={T0: Decimal(0)}
            ),
        ),
        retirements=(_month_gec("CN-GS"),),
    )
    report = compute_report(inputs)
    assert report.instruments[0].applied_hourly_mwh == Decimal(0)
