"""Raw rows and the checks a record must pass before it is loaded.

A source's schema turns each API record into a `RawRecord` (id, update time, the payload whole) or
raises `RecordError` naming the field and what is wrong with it; the runner sends such records to
`raw._quarantine` with that reason instead of dropping them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# ISO 4217 active codes (the ones a store or gateway can plausibly send).
ISO_CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD
    CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
    TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)


class RecordError(ValueError):
    """A record that cannot be loaded: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RawRecord:
    source_id: str
    source_updated_at: datetime | None
    payload: dict[str, Any]


def dig(record: dict[str, Any], path: str) -> Any:
    """`record["a"]["b"]` for path "a.b"; None where a step is missing."""
    node: Any = record
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def require_id(record: dict[str, Any], path: str) -> str:
    value = dig(record, path)
    if value is None or value == "":
        raise RecordError(path, "missing id")
    if not isinstance(value, str | int):
        raise RecordError(path, f"id is a {type(value).__name__}, not a string")
    return str(value)


def parse_timestamp(value: Any, field: str, *, required: bool = True) -> datetime | None:
    """ISO 8601 (with Z or an offset, or PayPal's +0000) or epoch seconds, as an aware UTC datetime."""
    if value is None:
        if required:
            raise RecordError(field, "missing timestamp")
        return None
    if isinstance(value, bool):
        raise RecordError(field, f"unparseable timestamp {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(field, f"unparseable timestamp {value!r}") from None
        if parsed.tzinfo is None:
            raise RecordError(field, f"timestamp {value!r} has no time zone")
        if not (1990 <= parsed.year <= 2100):
            raise RecordError(field, f"timestamp {value!r} out of range")
        return parsed.astimezone(UTC)
    raise RecordError(field, f"unparseable timestamp {value!r}")


def check_amount(record: dict[str, Any], path: str, *, allow_negative: bool = False) -> None:
    """An amount (integer minor units or a decimal string) that exists and is not negative."""
    value = dig(record, path)
    if value is None:
        return
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RecordError(path, f"amount {value!r} is not a number") from None
    if not number.is_finite():
        raise RecordError(path, f"amount {value!r} is not finite")
    if number < 0 and not allow_negative:
        raise RecordError(path, f"negative amount {value!r}")


def check_currency(record: dict[str, Any], path: str) -> None:
    value = dig(record, path)
    if value is None:
        return
    if not isinstance(value, str) or value.upper() not in ISO_CURRENCIES:
        raise RecordError(path, f"unknown currency {value!r}")
