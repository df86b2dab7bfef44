"""The certificate state machine: transition table, every rejection, random-walk invariants."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger import errors as err
from ledger.events import (
    Body,
    Correct,
    Expire,
    Issue,
    Kind,
    RegisterDevice,
    Retire,
    RevokeKey,
    Split,
    Transfer,
    TransferBundled,
    Withdraw,
    decode_leaf,
)
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import BUNDLE_ACTIONS, MAX_SKEW, TRANSITIONS, Status, replay
from tests.ledger.conftest import HOUR, T0, World, gec_month

LATE = T0 + timedelta(days=400)  # after the 12-month expiry of an EnergyTag GC


def _action(world: World, kind: Kind, bundle: str, energy_wh: int) -> tuple[EventSigner, Body]:
    consumption = (T0, T0 + HOUR)
    return {
        Kind.SPLIT: (world.alice, Split(bundle, (1_000_000, energy_wh - 1_000_000))),
        Kind.TRANSFER: (world.alice, Transfer(bundle, "bob")),
        Kind.RETIRE: (world.alice, Retire(bundle, "acme", "dc1", *consumption, "DE-LU")),
        Kind.WITHDRAW: (world.issuer, Withdraw(bundle, "meter error")),
        Kind.CORRECT: (world.issuer, Correct(bundle, 1_000_000, 10_000_000, "meter fix")),
        Kind.EXPIRE: (world.issuer, Expire(bundle)),
        Kind.TRANSFER_BUNDLED: (world.alice, TransferBundled(bundle, "bob", "GT-1")),
    }[kind]


def _bundle_in(world: World, status: Status) -> str:
    bundle = world.issue(0, 4_000_000)
    if status is Status.ACTIVE:
        return bundle
    kind = {
        Status.SPLIT: Kind.SPLIT,
        Status.RETIRED: Kind.RETIRE,
        Status.WITHDRAWN: Kind.WITHDRAW,
        Status.EXPIRED: Kind.EXPIRE,
    }[status]
    signer, body = _action(world, kind, bundle, 4_000_000)
    world.apply(signer.sign(body, LATE if kind is Kind.EXPIRE else T0 + 30 * HOUR))
    assert world.state.bundles[bundle].status is status
    return bundle


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", BUNDLE_ACTIONS)
def test_transition_table_is_exhaustive(world: World, status: Status, action: Kind) -> None:
    if action is Kind.TRANSFER_BUNDLED and status is Status.ACTIVE:
        # Only bundling schemes (China GEC) may be bundled with a contract.
        bundle = world.issue_gec(2026, 2, 4_000_000, 4_000_000).bundles[0].bundle_id
    else:
        bundle = _bundle_in(world, status)
    signer, body = _action(world, action, bundle, 4_000_000)
    late = action is Kind.EXPIRE or status is Status.EXPIRED  # the log's time never goes back
    signed = signer.sign(body, LATE if late else T0 + 30 * HOUR)
    before = world.state.copy()
    if (status, action) in TRANSITIONS:
        world.apply(signed)
        assert world.state.bundles[bundle].status is TRANSITIONS[status, action]
    else:
        with pytest.raises(err.InvalidTransitionError, match=f"is {status}: cannot {action}"):
            world.state.apply(signed)
        assert world.state.bundles == before.bundles
        assert world.state.cells == before.cells
    world.state.check_conservation()


def test_only_active_bundles_have_transitions() -> None:
    assert {s for s, _ in TRANSITIONS} == {Status.ACTIVE}
    assert {a for _, a in TRANSITIONS} == set(BUNDLE_ACTIONS)


def _rejects(
    world: World,
    signer: EventSigner,
    body: Body,
    error: type[Exception],
    at: datetime | None = None,
) -> None:
    signed = signer.sign(body, at or max(T0 + 30 * HOUR, world.state.head_time or T0))
    signer.last_seq -= 1
    size = world.state.size
    with pytest.raises(error):
        world.state.apply(signed)
    assert world.state.size == size


def test_issue_limits(world: World) -> None:
    start = T0 + 2 * HOUR

    def issue(energy: int, metered: int, id_start: int = 0, **kw: object) -> Issue:
        base = Issue(
            "DEV",
            Scheme.ENERGYTAG_GC,
            start,
            start + HOUR,
            id_start,
            energy,
            metered,
            "alice",
            None,
        )
        return dataclasses.replace(base, **kw)  # type: ignore[arg-type]

    _rejects(world, world.issuer, issue(6, 5), err.IssuanceLimitError)
    _rejects(world, world.issuer, issue(10_000_001, 20_000_000), err.IssuanceLimitError)
    _rejects(world, world.issuer, issue(5, 5, id_start=3), err.AmountError)
    _rejects(world, world.issuer, issue(0, 5), err.AmountError)
    _rejects(world, world.issuer, issue(5, 5, device="NOPE"), err.UnknownDeviceError)
    _rejects(world, world.alice, issue(5, 5), err.UnauthorisedError)
    _rejects(world, world.issuer, issue(5, 5), err.IntervalError, at=start)  # not yet produced
    _rejects(world, world.issuer, issue(5, 5, interval_end=start + 2 * HOUR), err.IntervalError)
    _rejects(
        world,
        world.issuer,
        issue(
            5,
            5,
            interval_start=start + timedelta(minutes=30),
            interval_end=start + timedelta(minutes=90),
        ),
        err.IntervalError,
    )
    feb = gec_month(2026, 2)
    gec = {"scheme": Scheme.CHINA_GEC, "interval_start": feb[0], "interval_end": feb[1]}
    _rejects(world, world.issuer, issue(1_000_000, 1_000_000, **gec), err.EventFormatError)
    _rejects(
        world,
        world.issuer,
        issue(1_500_000, 2_000_000, external_code="GEC-1", **gec),
        err.AmountError,
    )
    # GECs are issued per calendar month of Beijing time, never per hour.
    _rejects(
        world,
        world.issuer,
        issue(1_000_000, 1_000_000, scheme=Scheme.CHINA_GEC, external_code="GEC-1"),
        err.IntervalError,
    )
    world.apply(world.issuer.sign(issue(7_000_000, 8_000_000), T0 + 30 * HOUR))
    # A second issuance for the same hour continues the ids and still respects the meter.
    _rejects(
        world, world.issuer, issue(2_000_000, 8_000_000, id_start=7_000_000), err.IssuanceLimitError
    )
    world.apply(world.issuer.sign(issue(1_000_000, 8_000_000, id_start=7_000_000), T0 + 30 * HOUR))
    world.state.check_conservation()


@pytest.mark.parametrize("hour", [1, 2, 3])  # 02:00 local does not exist on 29 March in DE-LU
def test_issuance_in_utc_hours_around_the_dst_gap(world: World, hour: int) -> None:
    bundle = world.issue(hour, 3_000_000)
    assert world.state.bundles[bundle].interval_start == T0 + hour * HOUR


def test_owner_actions_rejections(world: World) -> None:
    bundle = world.issue(0, 4_000_000)
    _rejects(world, world.bob, Transfer(bundle, "bob"), err.UnauthorisedError)
    _rejects(world, world.issuer, Transfer(bundle, "bob"), err.UnauthorisedError)
    _rejects(world, world.alice, Transfer("nope", "bob"), err.UnknownBundleError)
    _rejects(world, world.alice, Split(bundle, (1, 2)), err.AmountError)
    _rejects(world, world.alice, Split(bundle, (4_000_000,)), err.AmountError)
    _rejects(world, world.alice, Transfer(bundle, "bob"), err.ExpiryError, at=LATE)
    _rejects(world, world.issuer, Expire(bundle), err.ExpiryError)
    _rejects(
        world, world.alice, Retire(bundle, "a", "s", T0 + HOUR, T0, "DE-LU"), err.IntervalError
    )
    _rejects(world, world.bob, Withdraw(bundle, "x"), err.UnauthorisedError)
    world.apply(world.sign(world.alice, Transfer(bundle, "bob")))
    world.apply(world.sign(world.bob, Retire(bundle, "acme", "dc1", T0, T0 + HOUR, "DE-LU")))
    assert world.state.bundles[bundle].retirement is not None
    world.state.check_conservation()


def test_signature_sequence_replay_and_key_validity(world: World) -> None:
    bundle = world.issue(0, 4_000_000)
    good = world.sign(world.alice, Transfer(bundle, "bob"))
    forged = dataclasses.replace(good, signature=bytes(64))
    with pytest.raises(err.SignatureError):
        world.state.apply(forged)
    world.apply(good)
    with pytest.raises(err.StaleSequenceError):
        world.state.apply(good)  # the same event again: stale sequence
    again = world.bob.sign(Transfer(bundle, "alice"), T0 + 30 * HOUR, good.event.idempotency_key)
    with pytest.raises(err.ReplayError):
        world.state.apply(again)
    world.bob.last_seq -= 1
    skipped = EventSigner(world.bob.private_key, world.bob.last_seq + 1)
    with pytest.raises(err.StaleSequenceError):
        world.state.apply(skipped.sign(Transfer(bundle, "alice"), T0 + 30 * HOUR))
    # Rotation: bob's key ends; earlier events stay valid, later ones are refused.
    end = T0 + 40 * HOUR
    world.apply(world.operator.sign(RevokeKey(world.bob.key_id, end), end))
    _rejects(world, world.bob, Transfer(bundle, "alice"), err.KeyNotValidError, at=end)
    stranger = EventSigner(Ed25519PrivateKey.generate())
    _rejects(world, stranger, Transfer(bundle, "alice"), err.UnknownKeyError)
    _rejects(world, world.issuer, RegisterDevice("D2", 1, "pv", "DE-LU", 7), err.IntervalError)
    _rejects(world, world.alice, RevokeKey(world.bob.key_id, end), err.UnauthorisedError)
    state = replay(world.state.operator_public_key, [decode_leaf(s.leaf) for s in world.log])
    assert state.bundles == world.state.bundles


def test_leaf_zero_must_be_the_trusted_operator(world: World) -> None:
    from ledger.keys import raw_public_key
    from ledger.state import LedgerState

    other = LedgerState(raw_public_key(world.alice.private_key.public_key()))
    with pytest.raises(err.UnauthorisedError):
        other.apply(world.log[0])


def test_correction_keeps_conservation(world: World) -> None:
    bundle = world.issue(0, 4_000_000)
    changes = world.apply(world.sign(world.issuer, Correct(bundle, 3_000_000, 3_000_000, "fix")))
    old, new = changes.bundles
    assert old.status is Status.WITHDRAWN
    assert (new.id_start, new.id_end, new.parent) == (4_000_000, 7_000_000, bundle)
    cell = world.state.cells["DEV", T0]
    assert (cell.issued_wh, cell.withdrawn_wh, cell.active_wh) == (7_000_000, 4_000_000, 3_000_000)
    world.state.check_conservation()


class LedgerMachine(RuleBasedStateMachine):
    """Random walks of valid and invalid actions under a moving ledger clock (events signed at
    the clock's time, within the skew, backdated before the head, or in the future); invariants
    after every step."""

    steps = 0

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.now = T0 + 30 * HOUR  # the appending server's clock

    def _try(
        self,
        signer: EventSigner,
        body: Body,
        at: datetime | None = None,
        *,
        time_error: bool = False,
    ) -> bool:
        LedgerMachine.steps += 1
        state = self.world.state
        before = (dict(state.bundles), dict(state.cells), state.size, state.head_time)
        signed = signer.sign(body, at or self.now)
        error: err.LedgerError | None = None
        try:
            state.apply(signed, now=self.now)
        except err.LedgerError as exc:
            error = exc
        if error is None:
            assert not time_error, "an event outside the log's time rules was accepted"
            self.world.log.append(signed)
            return True
        signer.last_seq -= 1
        assert (state.bundles, state.cells, state.size, state.head_time) == before
        assert isinstance(error, err.EventTimeError) or not time_error, error
        return False

    @rule(minutes=st.integers(0, 600), days=st.sampled_from([0, 0, 0, 1, 30, 200]))
    def tick(self, minutes: int, days: int) -> None:
        LedgerMachine.steps += 1
        self.now += timedelta(days=days, minutes=minutes)

    @precondition(lambda self: self.world.state.bundles)
    @rule(data=st.data(), seconds=st.integers(1, 10**8), signer=st.sampled_from(["alice", "bob"]))
    def backdate(self, data: st.DataObject, seconds: int, signer: str) -> None:
        """A signer picks a time before the log head's: always refused, for its time."""
        head = self.world.state.head_time
        assert head is not None
        who = self.world.alice if signer == "alice" else self.world.bob
        body = Transfer(self._pick(data) or "", "bob" if signer == "alice" else "alice")
        self._try(who, body, head - timedelta(seconds=seconds), time_error=True)

    @rule(seconds=st.integers(1, 10**8), hour=st.integers(0, 3))
    def future(self, seconds: int, hour: int) -> None:
        """An issuer signs beyond the skew ahead of the clock: always refused, for its time."""
        start = self.now.replace(minute=0, second=0) + hour * HOUR
        body = Issue("DEV", Scheme.ENERGYTAG_GC, start, start + HOUR, 0, 1, 10, "alice", None)
        at = self.now + MAX_SKEW + timedelta(seconds=seconds)
        self._try(self.world.issuer, body, at, time_error=True)

    @precondition(lambda self: self.world.state.bundles)
    @rule(data=st.data(), seconds=st.integers(-400, 400))
    def skewed(self, data: st.DataObject, seconds: int) -> None:
        """A signer's clock off by a little: refused exactly when outside the skew or before
        the head (otherwise judged like any transfer)."""
        at = self.now + timedelta(seconds=seconds)
        head = self.world.state.head_time
        assert head is not None
        outside = abs(at - self.now) > MAX_SKEW or at < head
        bundle = self._pick(data) or ""
        self._try(self.world.alice, Transfer(bundle, "bob"), at, time_error=outside)

    def _pick(self, data: st.DataObject) -> str | None:
        ids = sorted(self.world.state.bundles)
        return data.draw(st.sampled_from(ids)) if ids else None

    @rule(hour=st.integers(0, 3), energy=st.integers(1, 12_000_000))
    def issue(self, hour: int, energy: int) -> None:
        start = T0 + hour * HOUR
        cell = self.world.state.cells.get(("DEV", start))
        body = Issue(
            "DEV",
            Scheme.ENERGYTAG_GC,
            start,
            start + HOUR,
            cell.next_id if cell else 0,
            energy,
            10_000_000,
            "alice",
            None,
        )
        self._try(self.world.issuer, body)

    @precondition(lambda self: self.world.state.bundles)
    @rule(data=st.data(), cut=st.floats(0.0, 1.0), owner=st.sampled_from(["alice", "bob"]))
    def split(self, data: st.DataObject, cut: float, owner: str) -> None:
        b = self.world.state.bundles[self._pick(data) or ""]
        first = max(1, int(b.energy_wh * cut))
        signer = self.world.alice if owner == "alice" else self.world.bob
        self._try(signer, Split(b.bundle_id, (first, b.energy_wh - first)))

    @precondition(lambda self: self.world.state.bundles)
    @rule(
        data=st.data(),
        action=st.sampled_from(["transfer", "retire", "withdraw", "correct", "expire"]),
        who=st.sampled_from(["alice", "bob", "issuer"]),
    )
    def act(self, data: st.DataObject, action: str, who: str) -> None:
        bundle = self._pick(data) or ""
        signer = {"alice": self.world.alice, "bob": self.world.bob, "issuer": self.world.issuer}[
            who
        ]
        other = "bob" if who == "alice" else "alice"
        body: Body = {
            "transfer": Transfer(bundle, other),
            "retire": Retire(bundle, "acme", "dc1", T0, T0 + HOUR, "DE-LU"),
            "withdraw": Withdraw(bundle, "x"),
            "correct": Correct(bundle, data.draw(st.integers(1, 5_000_000)), 10_000_000, "x"),
            "expire": Expire(bundle),
        }[action]
        self._try(signer, body)

    @invariant()
    def time_is_log_order(self) -> None:
        times = [s.event.at for s in self.world.log]
        assert times == sorted(times)
        assert self.world.state.head_time == times[-1]

    @invariant()
    def conserved(self) -> None:
        state = self.world.state
        state.check_conservation()
        live: dict[tuple[str, datetime], set[int]] = {}
        for b in state.bundles.values():
            if b.status is not Status.SPLIT:
                ids = live.setdefault((b.device, b.interval_start), set())
                span = range(b.id_start, b.id_end, max(1, b.energy_wh // 7))
                assert ids.isdisjoint(span)
                ids.update(span)
        for cell in state.cells.values():
            assert (
                cell.issued_wh
                == cell.active_wh + cell.retired_wh + cell.expired_wh + cell.withdrawn_wh
            )
            assert cell.issued_wh - cell.withdrawn_wh <= 10_000_000


def test_random_walks_keep_conservation() -> None:
    """At least 10,000 random steps in total (examples × steps), invariants after each."""
    LedgerMachine.steps = 0
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=125,
            stateful_step_count=100,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert LedgerMachine.steps >= 10_000


@pytest.mark.parametrize("corruption", ["tally", "overlap", "gap", "orphan", "status"])
def test_conservation_check_catches_corrupted_states(world: World, corruption: str) -> None:
    from ledger.state import _evolve

    bundle_id = world.issue(0, 4_000_000)
    world.apply(world.sign(world.alice, Split(bundle_id, (1_000_000, 3_000_000))))
    world.state.check_conservation()
    state = world.state
    key = ("DEV", T0)
    first = next(b for b in state.bundles.values() if b.parent and b.id_start == 0)
    if corruption == "tally":
        state.cells[key] = _evolve(state.cells[key], active_wh=3_000_000, retired_wh=1_000_000)
    elif corruption == "overlap":
        state.bundles[first.bundle_id] = _evolve(first, id_end=1_500_000)
    elif corruption == "gap":
        del state.bundles[first.bundle_id]
    elif corruption == "orphan":
        state.bundles["x"] = _evolve(first, bundle_id="x", interval_start=T0 + HOUR)
    else:
        state.bundles[first.bundle_id] = _evolve(first, status=Status.RETIRED)
    with pytest.raises(err.ConservationError):
        state.check_conservation()
