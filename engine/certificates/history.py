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
    batch: bool = False
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
        """For each hour and site: an issue and its retirement (signed as the client would).

        With ``batch`` the issuer signs each hour's issues, and the owner each hour's
        retirements, with one batch signature (leaf version 2); otherwise one signature each.
        """
        hour = timedelta(seconds=3600)
        for h in range(self.hours) if hours is None else hours:
            start = self.start + h * hour
            end = start + hour
            at = end + timedelta(minutes=5)
            issues = [(self._issue(site, start, end), at) for site in range(self.sites)]
            retires = [(self._retire(site, start, end), at) for site in range(self.sites)]
            if self.batch:
                yield from self.issuer.sign_batch(issues)
                yield from self.owner.sign_batch(retires)
                continue
            for (issue, _), (retire, _) in zip(issues, retires, strict=True):
                yield self.issuer.sign(issue, at)
                yield self.owner.sign(retire, at)

    def _issue(self, site: int, start: datetime, end: datetime) -> Issue:
        return Issue(
            f"DEV-{site}",
            Scheme.ENERGYTAG_GC,
            start,
            end,
            0,
            self.energy_wh,
            self.energy_wh,
            "buyer",
            None,
        )

    def _retire(self, site: int, start: datetime, end: datetime) -> Retire:
        bundle = bundle_id_for(f"DEV-{site}", start, 0, self.energy_wh)
        return Retire(bundle, "buyer", f"site-{site}", start, end, "DE-LU")
