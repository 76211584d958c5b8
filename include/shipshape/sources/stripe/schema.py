"""The raw row of each Stripe stream: which id, which time orders its versions, and what must hold.

**source_updated_at.** Stripe objects carry no update time, only `created`. Staging keeps the latest
version of each object by `source_updated_at`, so the stamp has to order states correctly; each record
reaches us in one of two ways and is stamped accordingly:

* **read from a list or a retrieve** (a `Snapshot`): the object's current state at read time. It is
  stamped with the run's **window end**: the read happens at or after the window end, so the state is at
  least as new as that moment, and any later change arrives as an event stamped later still.
* **taken from an event** (`{"object": "event", ...}`): `data.object` is the object's state when the
  event happened, stamped with the **event's `created`**. A stream keeps only the newest event of each
  object in a window, so an older state never gets a newer stamp than the newest one.

Quarantined event records are stored whole (the event), so their `field` is a path into the event:
`created`, `data.object.amount`, …; quarantined list records name the object's own field.

**Checks** (malformed records are quarantined, never loaded): the object kind is the stream's, a
non-empty id, a parseable `created`, every amount a non-negative integer of minor units, and an ISO
currency (Stripe sends it lower case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipshape.ingest.records import (
    RawRecord,
    RecordError,
    check_amount,
    check_currency,
    dig,
    parse_timestamp,
    require_id,
)


class Snapshot(dict):
    """A Stripe object exactly as a list or retrieve returned it, and the time its state is stamped with.

    A dict (so the runner quarantines and loads it as the API's own record) that also carries
    `observed_at`, which the record itself cannot hold without being altered.
    """

    __slots__ = ("observed_at",)

    def __init__(self, record: dict[str, Any], observed_at: datetime) -> None:
        super().__init__(record)
        self.observed_at = observed_at


@dataclass(frozen=True)
class ObjectSchema:
    kind: str  # Stripe's `object` value: payment_intent | charge | refund | dispute
    amounts: tuple[str, ...]  # integer minor-unit amounts that must not be negative

    def row(self, record: dict[str, Any]) -> RawRecord:
        if isinstance(record, Snapshot):
            return RawRecord(self._check(record), record.observed_at, record)
        if isinstance(record, dict) and record.get("object") == "event":
            require_id(record, "id")
            happened = parse_timestamp(record.get("created"), "created")
            payload = dig(record, "data.object")
            if not isinstance(payload, dict):
                raise RecordError("data.object", "event carries no object")
            try:
                return RawRecord(self._check(payload), happened, payload)
            except RecordError as exc:  # name the field by its path in the quarantined event
                raise RecordError("data.object." + exc.field, exc.reason) from None
        if not isinstance(record, dict):
            raise RecordError("record", f"a {type(record).__name__} where Stripe sends an object")
        # The streams yield only snapshots and events; any other object is a bug, not bad data.
        raise TypeError(f"stripe {self.kind}: a record must be a Snapshot or an event, not {type(record).__name__}")

    def _check(self, obj: dict[str, Any]) -> str:
        """Check one Stripe object; return its id."""
        kind = obj.get("object")
        if kind != self.kind:
            raise RecordError("object", f"expected a {self.kind}, got {kind!r}")
        source_id = require_id(obj, "id")
        parse_timestamp(obj.get("created"), "created")
        for name in self.amounts:
            check_amount(obj, name)
            value = obj.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise RecordError(name, f"amount {value!r} is not an integer of minor units")
        if obj.get("currency") is None:
            raise RecordError("currency", "missing currency")
        check_currency(obj, "currency")
        return source_id


PAYMENT_INTENT = ObjectSchema("payment_intent", ("amount", "amount_capturable", "amount_received"))
CHARGE = ObjectSchema("charge", ("amount", "amount_captured", "amount_refunded"))
REFUND = ObjectSchema("refund", ("amount",))
DISPUTE = ObjectSchema("dispute", ("amount",))
