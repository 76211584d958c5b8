"""The raw row of a tracker: id `trk_…`, versions ordered by `updated_at` (every carrier scan updates it).

Checks: an id, a parseable `updated_at` (and `created_at` when present), fees that are not negative.
"""

from __future__ import annotations

from typing import Any

from shipshape.ingest.records import RawRecord, RecordError, check_amount, parse_timestamp, require_id


def tracker_row(record: dict[str, Any]) -> RawRecord:
    source_id = require_id(record, "id")
    updated_at = parse_timestamp(record.get("updated_at"), "updated_at")
    parse_timestamp(record.get("created_at"), "created_at", required=False)
    fees = record.get("fees") or []
    if not isinstance(fees, list):
        raise RecordError("fees", "not a list")
    for i, fee in enumerate(fees):
        if not isinstance(fee, dict):
            raise RecordError(f"fees[{i}]", "not an object")
        try:
            check_amount(fee, "amount")
        except RecordError as exc:
            raise RecordError(f"fees[{i}].amount", exc.reason) from None
    return RawRecord(source_id, updated_at, record)
