"""The raw rows of the PayPal streams: which field is the id, which is the update time, what must hold.

`raw.paypal__transactions`: one row per Transaction Search `transaction_details[]` entry, payload whole
(`transaction_info`, `payer_info`, `shipping_info`, … as `fields=all` returns them).
- id: `transaction_info.transaction_id` (a capture's id for T0006 rows, the refund's for T1107 rows,
  whose `paypal_reference_id` names the capture);
- update time: `transaction_info.transaction_updated_date` (a capture refunded later gets a later one,
  so versions order correctly), else the initiation date;
- checks: an id; parseable initiation and update dates; amounts that are numbers with the sign their
  event code implies (a capture credits the merchant, a refund debits: "-12.30"); ISO currencies.

`raw.paypal__trackers`: one row per Add Tracking v1 tracker.
- id: `{transaction_id}-{tracking_number}`, the tracker id PayPal itself uses in `/v1/shipping/trackers/{id}`;
- update time: `last_updated_time`, or the run's window end when PayPal leaves it out (set by the
  stream through `as_of`), so a later observation still sorts after an earlier one;
- checks: both id parts, and a parseable update time when there is one.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from typing import Any

from shipshape.ingest.records import (
    RawRecord,
    RecordError,
    check_amount,
    check_currency,
    parse_timestamp,
    require_id,
)

CAPTURE = "T0006"  # "PayPal Checkout APIs": an Orders v2 capture, credited to the merchant
REFUND = "T1107"  # "Payment refund, initiated by merchant": a debit, reported with a negative amount
CREDIT_CODES = frozenset({CAPTURE})
DEBIT_CODES = frozenset({REFUND})

# The trackers stream's window end, for trackers PayPal returns without last_updated_time. A context
# variable rather than an attribute: stream objects are shared, runs of them may be concurrent.
as_of: ContextVar[datetime | None] = ContextVar("paypal_trackers_as_of", default=None)


INITIATED = "transaction_info.transaction_initiation_date"
UPDATED = "transaction_info.transaction_updated_date"


def _money(money: Any, path: str, *, sign: int = 0) -> None:
    """A money object {currency_code, value}: a number, of the expected sign (+1, -1, 0 = either), in an
    ISO currency. Checked on the object itself (one lookup per field), errors named by the full path."""
    if not isinstance(money, dict):
        raise RecordError(path, "missing amount" if money is None else "not a money object")
    value = money.get("value")
    if value is None:
        raise RecordError(f"{path}.value", "missing amount")
    if money.get("currency_code") is None:
        raise RecordError(f"{path}.currency_code", "missing currency")
    try:
        check_amount(money, "value", allow_negative=sign <= 0)
        check_currency(money, "currency_code")
    except RecordError as exc:
        raise RecordError(f"{path}.{exc.field}", exc.reason) from None
    if sign < 0 and Decimal(str(value)) > 0:
        raise RecordError(f"{path}.value", f"positive amount {value!r} on a debit")


def transaction_row(record: dict[str, Any]) -> RawRecord:
    if not isinstance(record, dict):
        raise RecordError("transaction_details[]", f"a {type(record).__name__}, not an object")
    info = record.get("transaction_info")
    if not isinstance(info, dict):
        raise RecordError("transaction_info", "missing")
    source_id = info.get("transaction_id")
    if not isinstance(source_id, str) or not source_id:
        source_id = require_id(record, "transaction_info.transaction_id")  # raises, or takes a numeric id
    initiated = parse_timestamp(info.get("transaction_initiation_date"), INITIATED)
    updated = info.get("transaction_updated_date")
    updated = initiated if updated is None else parse_timestamp(updated, UPDATED)
    code = info.get("transaction_event_code")
    if not isinstance(code, str) or not code:
        raise RecordError("transaction_info.transaction_event_code", "missing event code")
    sign = 1 if code in CREDIT_CODES else -1 if code in DEBIT_CODES else 0
    _money(info.get("transaction_amount"), "transaction_info.transaction_amount", sign=sign)
    fee = info.get("fee_amount")
    if fee is not None:
        _money(fee, "transaction_info.fee_amount")  # fees are debits on a capture, refunds of fees credits
    return RawRecord(source_id, updated, record)


def tracker_row(record: dict[str, Any]) -> RawRecord:
    if not isinstance(record, dict):
        raise RecordError("trackers[]", f"a {type(record).__name__}, not an object")
    transaction_id = require_id(record, "transaction_id")
    tracking_number = require_id(record, "tracking_number")
    updated = parse_timestamp(record.get("last_updated_time"), "last_updated_time", required=False)
    return RawRecord(f"{transaction_id}-{tracking_number}", updated or as_of.get(), record)
