"""Client-side signing: build, number and sign events with one Ed25519 key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.events import Body, Event, SignedEvent, sign_event, sign_event_batch
from ledger.keys import key_id_of


class EventSigner:
    """Signs events for one key, numbering them with the key's sequence.

    Parameters
    ----------
    private_key
        The signer's Ed25519 key.
    last_seq
        Last sequence number this key used in the log (0 for a new key).
    """

    def __init__(self, private_key: Ed25519PrivateKey, last_seq: int = 0) -> None:
        self.private_key = private_key
        self.key_id = key_id_of(private_key.public_key())
        self.last_seq = last_seq

    def sign(self, body: Body, at: datetime, idempotency_key: str | None = None) -> SignedEvent:
        """Sign ``body`` as the next event of this key at time ``at`` [UTC].

        The default idempotency key is ``<key id>/<seq>``, so re-signing the same sequence
        number for a retry yields the same key.
        """
        seq = self.last_seq + 1
        event = Event(
            at=at,
            key_id=self.key_id,
            seq=seq,
            idempotency_key=idempotency_key or f"{self.key_id}/{seq}",
            body=body,
        )
        signed = sign_event(event, self.private_key)
        self.last_seq = seq
        return signed

    def sign_batch(
        self, items: Sequence[tuple[Body, datetime]], idempotency_prefix: str | None = None
    ) -> list[SignedEvent]:
        """Sign several events (consecutive sequence numbers) with one batch signature.

        Idempotency keys are ``<prefix or key id>/<seq>``.
        """
        prefix = idempotency_prefix or self.key_id
        events = [
            Event(at, self.key_id, self.last_seq + 1 + i, f"{prefix}/{self.last_seq + 1 + i}", body)
            for i, (body, at) in enumerate(items)
        ]
        signed = sign_event_batch(events, self.private_key)
        self.last_seq += len(events)
        return signed
