"""Build standard ledger histories: an operator, an issuer, owners, devices, hourly issuance.

Used by the benchmark, the demo and tests; everything is deterministic given the keys and times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.events import Issue, RegisterDevice, RegisterKey, Retire, SignedEvent
from ledger.keys import Role, key_id_of, raw_public_key
from ledger.schemes import Scheme
from ledger.signer import EventSigner
from ledger.state import bundle_id_for

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def register_key_event(
    operator: EventSigner,
    key: Ed25519PrivateKey,
    party: str,
    roles: frozenset[Role],
    at: datetime,
    valid_from: datetime = EPOCH,
    valid_until: datetime | None = None,
) -> SignedEvent:
    """The operator's signed registration of ``key`` for ``party``."""
    public = key.public_key()
    body = RegisterKey(
        key_id=key_id_of(public),
        public_key=raw_public_key(public),
        party=party,
        roles=roles,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    return operator.sign(body, at)


def genesis_event(operator: EventSigner, party: str, at: datetime) -> SignedEvent:
    """Leaf 0: the operator registers its own key (operator, issuer and owner roles)."""
    return register_key_event(
        operator,
        operator.private_key,
        party,
        frozenset({Role.OPERATOR, Role.ISSUER, Role.OWNER}),
        at,
    )


@dataclass
class HourlyScenario:
    """One year (or any span) of hourly certificates for ``sites`` devices, each retired.

    Site ``i`` has device ``DEV-i`` producing a fixed energy every hour; the issuer issues each
    hour's certificate to the owner, who retires it for the site's consumption in that hour.
    """

    sites: int
    start: datetime
    hours: int
    energy_wh: int = 5_000_000
    operator: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))
    issuer: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))
    owner: EventSigner = field(default_factory=lambda: EventSigner(Ed25519PrivateKey.generate()))

    def setup_events(self) -> list[SignedEvent]:
        """Genesis, issuer and owner keys, device registrations."""
        at = self.start
        events = [
            genesis_event(self.operator, "operator", at),
            register_key_event(
                self.operator, self.issuer.private_key, "issuer", frozenset({Role.ISSUER}), at
            ),
            register_key_event(
                self.operator, self.owner.private_key, "buyer", frozenset({Role.OWNER}), at
            ),
        ]
        for site in range(self.sites):
            body = RegisterDevice(f"DEV-{site}", 50_000_000, "wind", "DE-LU", 3600)
            events.append(self.issuer.sign(body, at))
        return events

    def hourly_events(self, hours: range | None = None) -> Iterator[SignedEvent]:
        """For each hour and site: an issue and its retirement (signed as the client would)."""
        hour = timedelta(seconds=3600)
        for h in range(self.hours) if hours is None else hours:
            start = self.start + h * hour
            end = start + hour
            at = end + timedelta(minutes=5)
            for site in range(self.sites):
                device = f"DEV-{site}"
                yield self.issuer.sign(
                    Issue(
                        device,
                        Scheme.ENERGYTAG_GC,
                        start,
                        end,
                        0,
                        self.energy_wh,
                        self.energy_wh,
                        "buyer",
                        None,
                    ),
                    at,
                )
                yield self.owner.sign(
                    Retire(
                        bundle_id_for(device, start, 0, self.energy_wh),
                        "buyer",
                        f"site-{site}",
                        start,
                        end,
                        "DE-LU",
                    ),
                    at,
                )
