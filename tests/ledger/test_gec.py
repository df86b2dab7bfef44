"""China GEC in the ledger: monthly issuance in whole MWh with the remainder carried, expiry,
single retirement, and bundled certificates that move only with their contract."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import errors as err
from ledger.events import Body, Issue, Retire, Split, Transfer, TransferBundled
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import Status
from tests.ledger.conftest import HOUR, T0, World, gec_month

MWH = 1_000_000
AT = T0 + 30 * HOUR  # 2026-03-30: after February 2026 (Beijing time) has ended


def _rejects(world: World, signer: EventSigner, body: Body, error: type[Exception]) -> str:
    signed = signer.sign(body, max(AT, world.state.head_time or AT))
    signer.last_seq -= 1
    before = world.state.copy()
    with pytest.raises(error) as info:
        world.state.apply(signed)
    assert world.state.size == before.size
    assert world.state.bundles == before.bundles
    assert world.state.cells == before.cells
    return str(info.value)


def _gec(world: World, year: int, month: int, energy: int, metered: int) -> Issue:
    start, end = gec_month(year, month)
    cell = world.state.cells.get(("GS-WIND", start))
    return Issue(
        "GS-WIND",
        Scheme.CHINA_GEC,
        start,
        end,
        cell.next_id if cell else 0,
        energy,
        metered,
        "alice",
        f"GEC-{year}{month:02d}",
    )


def test_monthly_issuance_in_whole_mwh_carries_the_remainder(world: World) -> None:
    # November 2025: 2.4 MWh metered -> 2 GECs, 0.4 MWh carried to December.
    world.issue_gec(2025, 11, 2 * MWH, 2_400_000)
    nov = world.state.cells["GS-WIND", gec_month(2025, 11)[0]]
    assert (nov.issued_wh, nov.carried_in_wh) == (2 * MWH, 0)
    assert "not a positive multiple" in _rejects(
        world, world.issuer, _gec(world, 2025, 12, 1_500_000, 1_700_000), err.AmountError
    )
    # December: 1.7 MWh metered + 0.4 carried = 2.1 MWh -> 2 GECs (without the carry only 1).
    world.issue_gec(2025, 12, 2 * MWH, 1_700_000)
    dec = world.state.cells["GS-WIND", gec_month(2025, 12)[0]]
    assert dec.carried_in_wh == 400_000
    # ... and no third: 2.1 MWh hold two whole certificates.
    assert "carried" in _rejects(
        world, world.issuer, _gec(world, 2025, 12, MWH, 1_700_000), err.IssuanceLimitError
    )
    # January 2026: 0.6 MWh metered + 0.1 carried: nothing to issue, the statement carries it.
    world.issue_gec(2026, 1, 0, 600_000)
    jan = world.state.cells["GS-WIND", gec_month(2026, 1)[0]]
    assert (jan.carried_in_wh, jan.issued_wh, jan.metered_wh) == (100_000, 0, 600_000)
    # February: 0.5 MWh + 0.7 carried = 1.2 MWh -> 1 GEC.
    changes = world.issue_gec(2026, 2, MWH, 500_000)
    assert changes.bundles[0].energy_wh == MWH
    assert world.state.cells["GS-WIND", gec_month(2026, 2)[0]].carried_in_wh == 700_000
    world.state.check_conservation()


def test_a_zero_issuance_is_only_for_schemes_that_carry(world: World) -> None:
    start = T0
    body = Issue("DEV", Scheme.ENERGYTAG_GC, start, start + HOUR, 0, 0, 5, "alice", None)
    _rejects(world, world.issuer, body, err.AmountError)


def test_gec_expires_two_years_from_its_production_month(world: World) -> None:
    bundle = world.issue_gec(2026, 2, 3 * MWH, 3 * MWH).bundles[0]
    start = gec_month(2026, 2)[0]  # 2026-01-31T16:00Z
    assert bundle.expires_at == start.replace(year=2028)
    assert bundle.scheme is Scheme.CHINA_GEC


def test_a_gec_cannot_be_retired_twice_or_after_it_expires(world: World) -> None:
    first = world.issue_gec(2026, 2, 2 * MWH, 2 * MWH).bundles[0]
    parts = world.apply(world.alice.sign(Split(first.bundle_id, (MWH, MWH)), AT)).bundles[1:]
    first, second = parts[0], parts[1]
    retire = Retire(first.bundle_id, "acme", "dc-js", AT - 24 * HOUR, AT, "CN-JS")
    world.apply(world.alice.sign(retire, AT))
    assert world.state.bundles[first.bundle_id].status is Status.RETIRED
    again = Retire(first.bundle_id, "acme", "dc-gd", AT - 24 * HOUR, AT, "CN-GD")
    assert "is retired: cannot retire" in _rejects(
        world, world.alice, again, err.InvalidTransitionError
    )
    late = second.expires_at
    assert late is not None
    retire_late = Retire(second.bundle_id, "acme", "dc-js", AT, AT + HOUR, "CN-JS")
    expired = world.alice.sign(retire_late, late)
    world.alice.last_seq -= 1
    with pytest.raises(err.ExpiryError, match="expired"):
        world.state.apply(expired)
    earlier = world.alice.sign(
        Retire(second.bundle_id, "acme", "dc-js", AT, AT + HOUR, "CN-JS"),
        late - timedelta(seconds=1),
    )
    world.apply(earlier)
    world.state.check_conservation()


def test_bundled_certificates_move_only_with_their_contract(world: World) -> None:
    bundle = world.issue_gec(2026, 2, 3 * MWH, 3 * MWH).bundles[0].bundle_id
    world.apply(world.alice.sign(TransferBundled(bundle, "bob", "GT-2026-02"), AT))
    moved = world.state.bundles[bundle]
    assert (moved.owner, moved.contract) == ("bob", "GT-2026-02")
    # The buyer cannot resell them on their own, nor re-bundle them with another contract ...
    assert "cannot be transferred separately" in _rejects(
        world, world.bob, Transfer(bundle, "alice"), err.BundledError
    )
    _rejects(world, world.bob, TransferBundled(bundle, "alice", "GT-other"), err.BundledError)
    # ... and split parts stay bundled.
    parts = world.apply(world.bob.sign(Split(bundle, (MWH, 2 * MWH)), AT)).bundles[1:]
    assert {p.contract for p in parts} == {"GT-2026-02"}
    _rejects(world, world.bob, Transfer(parts[0].bundle_id, "alice"), err.BundledError)
    # Retiring them for the buyer's own consumption is what they are for.
    world.apply(
        world.bob.sign(Retire(parts[0].bundle_id, "bob", "dc-gs", AT - HOUR, AT, "CN-GS"), AT)
    )
    world.state.check_conservation()


def test_only_bundling_schemes_bundle(world: World) -> None:
    bundle = world.issue(0, 4_000_000)
    assert "cannot be bundled" in _rejects(
        world, world.alice, TransferBundled(bundle, "bob", "GT-1"), err.BundledError
    )
