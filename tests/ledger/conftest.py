"""A small ledger world: operator, issuer, two owners, one device; helpers to sign events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.certificates.history import genesis_event, register_key_event
from ledger.events import Body, Issue, RegisterDevice, SignedEvent
from ledger.keys import Role, raw_public_key
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import Changes, LedgerState

T0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # DE-LU spring-forward day
BEIJING = ZoneInfo("Asia/Shanghai")


def gec_month(year: int, month: int) -> tuple[datetime, datetime]:
    """A China GEC issuance period: one calendar month of Beijing time, as UTC instants."""
    start = datetime(year, month, 1, tzinfo=BEIJING)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=BEIJING)
    return start.astimezone(UTC), end.astimezone(UTC)


HOUR = timedelta(seconds=3600)


@dataclass
class World:
    """Keys and a state with genesis, keys and a 10 MW hourly device DEV registered."""

    operator: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))
    issuer: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))
    alice: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))
    bob: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))
    log: list[SignedEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = LedgerState(raw_public_key(self.operator.private_key.public_key()))
        self.apply(genesis_event(self.operator, "operator", T0))
        for signer, party, roles in [
            (self.issuer, "issuer", {Role.ISSUER}),
            (self.alice, "alice", {Role.OWNER}),
            (self.bob, "bob", {Role.OWNER}),
        ]:
            self.apply(
                register_key_event(self.operator, signer.private_key, party, frozenset(roles), T0)
            )
        self.apply(self.issuer.sign(RegisterDevice("DEV", 10_000_000, "wind", "DE-LU", 3600), T0))

    def apply(self, signed: SignedEvent) -> Changes:
        changes = self.state.apply(signed)
        self.log.append(signed)
        return changes

    def sign(self, signer: EventSigner, body: Body, at: datetime | None = None) -> SignedEvent:
        return signer.sign(body, at or T0 + 30 * HOUR)

    def issue(self, hour: int, energy_wh: int, owner: str = "alice") -> str:
        start = T0 + hour * HOUR
        cell = self.state.cells.get(("DEV", start))
        body = Issue(
            "DEV",
            Scheme.ENERGYTAG_GC,
            start,
            start + HOUR,
            cell.next_id if cell else 0,
            energy_wh,
            10_000_000,
            owner,
            None,
        )
        changes = self.apply(self.sign(self.issuer, body))
        return changes.bundles[0].bundle_id

    def issue_gec(
        self,
        year: int,
        month: int,
        energy_wh: int,
        metered_wh: int,
        owner: str = "alice",
        device: str = "GS-WIND",
        at: datetime | None = None,
    ) -> Changes:
        """Issue China GECs of a Beijing-time month for ``device`` (registered on first use,
        a 50 MW Gansu wind plant)."""
        if device not in self.state.devices:
            self.apply(
                self.issuer.sign(RegisterDevice(device, 50_000_000, "wind", "CN-GS", 3600), T0)
            )
        start, end = gec_month(year, month)
        cell = self.state.cells.get((device, start))
        body = Issue(
            device,
            Scheme.CHINA_GEC,
            start,
            end,
            cell.next_id if cell else 0,
            energy_wh,
            metered_wh,
            owner,
            f"GEC-{device}-{year}{month:02d}",
        )
        return self.apply(self.sign(self.issuer, body, at))


@pytest.fixture
def world() -> World:
    return World()
