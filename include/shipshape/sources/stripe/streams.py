"""Stripe streams: payment_intents, charges, refunds and disputes, each into `raw.stripe__<stream>`.

**Incremental mechanism.** Stripe lists filter by `created` only, so a window [start, end) is read in
two parts:

1. **new objects**: the list endpoint, `created` in [list_from, end), where list_from is the window start,
   pulled back to the previous run's coverage if a run was missed. These are current states (snapshots).
2. **changed objects**: `/v1/events` with `created` in [events_from, end) and `types[]` = this stream's
   event types (explicit names: Stripe's `types[]` takes names, only `type` takes a wildcard). For each
   object the newest event's `data.object` is kept: it is the object's state after its last change in
   the window, so no re-retrieve is paid per changed object (one request per object would cost more
   than the whole events listing). Events of objects the first part already listed are skipped: the
   listing read a state at least as new.

   Three cases do cost a retrieve (`GET /v1/<objects>/<id>`, stamped as a snapshot), all rare:
   * another object's event changed ours without an event of its own (a dispute sets the charge's
     `disputed`; a refund's update changes the charge's embedded refunds): `related_events`;
   * the newest events of one object share a `created` second and carry different objects: Stripe's
     order within one second is not defined, so which one is last is unknown (a capture and a tracking
     update at shipment, say);
   * the event was rendered in another API version than the one we pin (Stripe renders `data.object`
     in the version of the event's day, `event.api_version`), so its shape would differ from the rest.

Stripe keeps events for 30 days only. A first run, or a window whose uncovered part starts beyond that
horizon (with a safety margin), falls back to a **full listing** by `created` up to the window end,
which reads every object's current state.

**Cursor** (`ops.extraction_state`): `{"created_max": the newest `created` seen, "events_through": the end
up to which every change is reflected}`; both only move forward, so rerunning an old window never
rewinds them. `events_through` plans the next run (it closes gaps and decides the 30-day fallback);
`created_max` says how far the data reaches (freshness) and is not used to plan: it is no safe floor
for the listing, since every object sharing its second would be listed again on every run.

**Known gaps**, from Stripe itself: a PaymentIntent update through the API (metadata, shipping, …)
emits no event (there is no `payment_intent.updated`), and neither does a dispute's
`evidence_details.past_due` flipping when its deadline passes; such changes reach the warehouse only
with the object's next event or a full listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shipshape.connections import Connection
from shipshape.ingest.http import ApiError
from shipshape.ingest.records import RawRecord
from shipshape.ingest.stream import ExtractContext, Stream, Window
from shipshape.sources.stripe import schema
from shipshape.sources.stripe.client import StripeClient
from shipshape.sources.stripe.pagination import created_range, epoch_ceil, epoch_floor, list_pages, page_size
from shipshape.sources.stripe.schema import ObjectSchema, Snapshot

EVENT_RETENTION = timedelta(days=30)  # Stripe lists and retrieves events of the last 30 days only
RETENTION_MARGIN = timedelta(hours=1)  # clock skew and the run's own duration eat into the horizon


@dataclass(frozen=True)
class Plan:
    """What one run reads: objects created in [list_from, end) (None: all), events in [events_from, end)."""

    list_from: datetime | None
    events_from: datetime | None  # None: no events needed (a full listing, or changes already covered)
    end: datetime
    why: str

    @property
    def full(self) -> bool:
        return self.list_from is None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def plan(window: Window, state: dict[str, Any] | None, now: datetime) -> Plan:
    """Decide the list and events ranges for `window`, given the cursor and the API's current time."""
    end = window.end
    covered = _moment((state or {}).get("events_through"))  # every change before this is in raw
    if window.start is None or covered is None:
        return Plan(None, None, end, "first load: full listing by created")
    events_from = min(window.start, covered)  # a gap since the last committed run is closed too
    list_from = events_from
    horizon = max(end, now) - EVENT_RETENTION + RETENTION_MARGIN
    if events_from < horizon:
        if covered < min(end, horizon):
            return Plan(None, None, end, f"changes since {events_from.isoformat()} are past Stripe's 30 days "
                                          "of events: full listing by created")
        events_from = horizon  # the part beyond the horizon is already covered (a rerun of an old window)
    if events_from >= end:
        return Plan(list_from, None, end, "changes already covered by a later run: listing new objects only")
    return Plan(list_from, events_from, end, "incremental: new objects, and events for changed ones")


class StripeStream(Stream):
    source = "stripe"
    conn_id = "stripe_default"
    path = ""  # /v1/charges
    schema: ObjectSchema
    event_types: tuple[str, ...] = ()
    # Events of another object that change this stream's object without an event of its own: event type
    # -> the field of data.object holding our object's id. Such an object is retrieved.
    related_events: dict[str, str] = {}

    @property
    def kind(self) -> str:
        return self.schema.kind

    def open_client(self, conn: Connection, transport: httpx.BaseTransport | None = None) -> StripeClient:
        return StripeClient(conn, transport)

    def to_raw(self, record: dict[str, Any]) -> RawRecord:
        return self.schema.row(record)

    def pages(self, ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
        client: StripeClient = ctx.client
        limit = page_size(ctx.settings.get("page_size"))
        now = _moment(ctx.settings.get("now")) or datetime.now(UTC)
        state = ctx.previous_state or {}
        todo = plan(ctx.window, ctx.previous_state, now)
        end = todo.end
        listing = f"[{todo.list_from.isoformat()}, {end.isoformat()})" if todo.list_from else f"before {end.isoformat()}"
        events = f"[{todo.events_from.isoformat()}, {end.isoformat()})" if todo.events_from else "not needed"
        ctx.log.info("%s: %s; objects created %s, events %s", self.key, todo.why, listing, events)

        newest = _moment(state.get("created_max"))
        newest_epoch = epoch_floor(newest) if newest else None
        for page in list_pages(client, self.path, created_range(todo.list_from, end), limit=limit):
            for record in page:
                created = record.get("created")
                if type(created) is int and (newest_epoch is None or created > newest_epoch):
                    newest_epoch = created
            # (A non-object in a list is passed on as it is, for the runner to quarantine.)
            yield [Snapshot(record, end) if isinstance(record, dict) else record for record in page]

        if todo.events_from is not None:
            listed = (epoch_floor(todo.list_from), epoch_ceil(end)) if todo.list_from else None
            yield from self._changes(ctx, todo, listed, limit)

        covered = _moment(state.get("events_through"))
        newest = datetime.fromtimestamp(newest_epoch, UTC) if newest_epoch is not None else None
        ctx.new_state = {
            "created_max": newest.isoformat() if newest else None,
            "events_through": max(end, covered).isoformat() if covered else end.isoformat(),
        }

    # ---------------------------------------------------------------------------------------- changes
    def _changes(self, ctx: ExtractContext, todo: Plan, listed: tuple[int, int] | None,
                 limit: int) -> Iterator[list[dict[str, Any]]]:
        """The newest event of each object changed in the window (newest first), as pages of events.

        Events come newest first, so the first event seen for an object is its newest, except that
        several events in one second come in no defined order: the events of the current second are
        held back until an older second starts, and an object with several differing ones is retrieved.
        """
        client: StripeClient = ctx.client
        params: dict[str, Any] = {**created_range(todo.events_from, todo.end), "types[]": list(self.event_types)}
        settled: set[str] = set()  # objects whose newest state is decided
        second: int | None = None  # the `created` second being collected
        pending: dict[str, list[dict[str, Any]]] = {}  # object id -> its events in that second
        stats = {"events": 0, "ties": 0, "other_version": 0, "related": 0}
        for page in list_pages(client, "/v1/events", params, limit=limit):
            out: list[dict[str, Any]] = []
            for event in page:
                stats["events"] += 1
                if not isinstance(event, dict):
                    out.append(event)  # not even an object: quarantined
                    continue
                obj = dig_object(event)
                created = event.get("created")
                via = self.related_events.get(event.get("type"))
                if via is not None:
                    object_id, object_created = (obj or {}).get(via), None
                elif obj is not None and obj.get("object") != self.kind:
                    continue  # another kind's event (types[] should have kept it out)
                else:
                    object_id, object_created = (obj or {}).get("id"), (obj or {}).get("created")
                if type(created) is not int or not isinstance(object_id, str) or not object_id:
                    if via is not None:
                        continue  # a malformed event about another object: its own stream quarantines it
                    # Malformed: the runner quarantines it. Its object (if known) is settled so that an
                    # older event cannot pose as the newest state.
                    if isinstance(object_id, str) and object_id and object_id not in settled:
                        settled.add(object_id)
                        pending.pop(object_id, None)
                    out.append(event)
                    continue
                if object_id in settled:
                    continue
                if listed is not None and type(object_created) is int and listed[0] <= object_created < listed[1]:
                    continue  # listed above, in a state at least as new
                if created != second:
                    out.extend(self._settle(ctx, pending, settled, todo.end, stats))
                    second = created
                pending.setdefault(object_id, []).append(event)
            if out:
                yield out
        rest = self._settle(ctx, pending, settled, todo.end, stats)
        if rest:
            yield rest
        ctx.log.info("%s: %d events read, %d objects changed, %d retrieved (%d changed by another object's event, "
                     "%d same-second ties, %d in another API version)", self.key, stats["events"], len(settled),
                     stats["related"] + stats["ties"] + stats["other_version"], stats["related"], stats["ties"],
                     stats["other_version"])

    def _settle(self, ctx: ExtractContext, pending: dict[str, list[dict[str, Any]]], settled: set[str],
                end: datetime, stats: dict[str, int]) -> list[dict[str, Any]]:
        """Decide the newest state of each object of the second just collected; empties `pending`."""
        client: StripeClient = ctx.client
        out: list[dict[str, Any]] = []
        for object_id, events in pending.items():
            settled.add(object_id)
            first = events[0]
            if any(e.get("type") in self.related_events for e in events):
                stats["related"] += 1
            elif any(dig_object(e) != dig_object(first) for e in events[1:]):
                stats["ties"] += 1
            elif first.get("api_version") != client.version:
                stats["other_version"] += 1
            else:
                out.append(first)
                continue
            current = self._retrieve(ctx, object_id)
            if current is not None:
                out.append(Snapshot(current, end))
        pending.clear()
        return out

    def _retrieve(self, ctx: ExtractContext, object_id: str) -> dict[str, Any] | None:
        try:
            return ctx.client.get_json(f"{self.path}/{object_id}")
        except ApiError as exc:
            if exc.status == 404:  # gone (or never visible to this key): nothing to load, say so
                ctx.log.warning("%s: %s has events but answers 404; skipped", self.key, object_id)
                return None
            raise


def dig_object(event: Any) -> dict[str, Any] | None:
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else None


class PaymentIntents(StripeStream):
    name = "payment_intents"
    path = "/v1/payment_intents"
    schema = schema.PAYMENT_INTENT
    event_types = (
        "payment_intent.amount_capturable_updated", "payment_intent.canceled", "payment_intent.created",
        "payment_intent.partially_funded", "payment_intent.payment_failed", "payment_intent.processing",
        "payment_intent.requires_action", "payment_intent.succeeded",
    )  # fmt: skip


class Charges(StripeStream):
    name = "charges"
    path = "/v1/charges"
    schema = schema.CHARGE
    event_types = (
        "charge.captured", "charge.expired", "charge.failed", "charge.pending", "charge.refunded",
        "charge.succeeded", "charge.updated",
        # A dispute sets the charge's `disputed`, and a refund's update changes the charge's embedded
        # refunds, without a charge event: these carry the dispute or refund, so the charge is retrieved.
        "charge.dispute.created", "charge.refund.updated", "refund.updated", "refund.failed",
    )  # fmt: skip
    related_events = {
        "charge.dispute.created": "charge", "charge.refund.updated": "charge", "refund.updated": "charge",
        "refund.failed": "charge",
    }  # fmt: skip


class Refunds(StripeStream):
    name = "refunds"
    path = "/v1/refunds"
    schema = schema.REFUND
    event_types = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")


class Disputes(StripeStream):
    name = "disputes"
    path = "/v1/disputes"
    schema = schema.DISPUTE
    event_types = (
        "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
        "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
    )  # fmt: skip
