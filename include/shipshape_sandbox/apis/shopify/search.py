"""Shopify's search syntax (`query:` arguments): parsing, the parsed form Shopify echoes in
`extensions.search`, and matching records by the fields each root connection supports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shipshape_sandbox.apis.shopify.common import SHOP_EPOCH, _gid_number

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from shipshape_sandbox.world import ShopifyOrder


# ---------------------------------------------------------------------------------------- search
@dataclass(frozen=True)
class Term:
    field: str | None
    op: str  # ":", ">", ">=", "<", "<="
    value: str
    negate: bool = False
    quoted: bool = False


_SEARCH_TOKEN = re.compile(r"""\s*(\(|\)|(?:[^\s()"']+|"[^"]*"|'[^']*')+)""")


def parse_search(text: str) -> Any:
    """Shopify's search syntax: `field:value`, comparators, AND/OR/NOT, `-` negation, parentheses."""
    tokens = [m.group(1) for m in _SEARCH_TOKEN.finditer(text or "") if m.group(1)]
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def parse_or() -> Any:
        parts = [parse_and()]
        while peek() == "OR":
            take()
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def parse_and() -> Any:
        parts = []
        while peek() not in (None, ")", "OR"):
            if peek() == "AND":
                take()
                continue
            parts.append(parse_unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def parse_unary() -> Any:
        token = take()
        if token == "NOT":
            return ("not", parse_unary()) if peek() not in (None, ")") else ("and", [])
        if token == "(":
            inner = parse_or()
            if peek() == ")":
                take()
            return inner
        return _term(token)

    return parse_or() if tokens else None


def _unquote(value: str) -> tuple[str, bool]:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1], True
    return value, False


def _term(token: str) -> Term:
    negate = token.startswith("-") and len(token) > 1
    if negate:
        token = token[1:]
    key, sep, rest = token.partition(":")
    if not sep or key.startswith(("'", '"')):
        value, quoted = _unquote(token)
        return Term(None, ":", value, negate, quoted)
    for op in (">=", "<=", ">", "<"):
        if rest.startswith(op):
            value, quoted = _unquote(rest[len(op):])
            return Term(key.lower(), op, value, negate, quoted)
    value, quoted = _unquote(rest)
    return Term(key.lower(), ":", value, negate, quoted)


_RANGES = {">": "range_gt", ">=": "range_gte", "<": "range_lt", "<=": "range_lte"}


def parsed_search(tree: Any) -> Any:
    """The `parsed` form Shopify echoes in its search warnings."""
    if isinstance(tree, Term):
        key = _RANGES.get(tree.op, "match_phrase" if tree.quoted else "match_all")
        node = {"field": tree.field or "default", key: tree.value}
        return {"not": node} if tree.negate else node
    kind, arg = tree
    if kind == "not":
        return {"not": parsed_search(arg)}
    return {kind: [parsed_search(part) for part in arg]}


def _parse_time(value: str) -> tuple[datetime, bool] | None:
    """A search value as a UTC time, and whether it named a whole day."""
    value = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC), True
        stamp = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return None
    return (stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)), False


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    if actual is None:
        return False
    if op == ">":
        return actual > wanted
    if op == ">=":
        return actual >= wanted
    if op == "<":
        return actual < wanted
    if op == "<=":
        return actual <= wanted
    return actual == wanted


@dataclass
class SearchField:
    kind: str  # time | int | text | list | custom
    get: Callable[[Any], Any]
    match: Callable[[Any, str], bool] | None = None


def _term_matches(fields: dict[str, SearchField], term: Term, record: Any, free_text: Callable[[Any], str]) -> bool:
    if term.field is None:
        return term.value.lower() in free_text(record)
    spec = fields[term.field]
    if spec.kind == "time":
        parsed = _parse_time(term.value)
        if parsed is None:
            return False
        stamp, whole_day = parsed
        actual = spec.get(record)
        if actual is None:
            return False
        if whole_day and term.op == ":":
            return stamp <= actual < stamp + timedelta(days=1)
        if whole_day and term.op in (">", "<="):
            stamp += timedelta(days=1) - timedelta(microseconds=1)
        return _compare(actual, term.op, stamp)
    if spec.kind == "int":
        number = _gid_number(term.value, "") if term.value.startswith("gid://") else None
        try:
            wanted = number if number is not None else int(term.value.rsplit("/", 1)[-1])
        except ValueError:
            return False
        return _compare(spec.get(record), term.op, wanted)
    if spec.kind == "custom" and spec.match is not None:
        return spec.match(record, term.value.lower())
    if spec.kind == "list":
        return term.value.lower() in {str(v).lower() for v in spec.get(record) if v is not None}
    actual = spec.get(record)
    return actual is not None and str(actual).lower() == term.value.lower()


def evaluate(tree: Any, record: Any, fields: dict[str, SearchField], free_text: Callable[[Any], str]) -> bool:
    if tree is None:
        return True
    if isinstance(tree, Term):
        if tree.field is not None and tree.field not in fields:
            return True  # unknown fields are ignored (and reported as a search warning)
        result = _term_matches(fields, tree, record, free_text)
        return not result if tree.negate else result
    kind, arg = tree
    if kind == "and":
        return all(evaluate(part, record, fields, free_text) for part in arg)
    if kind == "or":
        return any(evaluate(part, record, fields, free_text) for part in arg)
    return not evaluate(arg, record, fields, free_text)


def search_terms(tree: Any) -> list[Term]:
    if tree is None:
        return []
    if isinstance(tree, Term):
        return [tree]
    kind, arg = tree
    if kind == "not":
        return search_terms(arg)
    return [term for part in arg for term in search_terms(part)]


def _range_terms(tree: Any) -> list[Term]:
    """Terms that every match must satisfy (a pure conjunction), usable to narrow a sorted view."""
    if isinstance(tree, Term):
        return [tree] if not tree.negate else []
    if isinstance(tree, tuple) and tree[0] == "and":
        return [term for part in tree[1] if isinstance(part, Term) and not part.negate for term in [part]]
    return []


def _order_status(order: ShopifyOrder, value: str) -> bool:
    if value == "open":
        return order.closed_at is None and order.cancelled_at is None
    if value == "closed":
        return order.closed_at is not None
    if value == "cancelled":
        return order.cancelled_at is not None
    if value == "not_closed":
        return order.closed_at is None
    return value == "any"


_FULFILLMENT_SEARCH = {
    "shipped": "FULFILLED", "fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED",
    "unshipped": "UNFULFILLED", "unfulfilled": "UNFULFILLED",
}

ORDER_SEARCH: dict[str, SearchField] = {
    "updated_at": SearchField("time", lambda o: o.updated_at),
    "created_at": SearchField("time", lambda o: o.created_at),
    "processed_at": SearchField("time", lambda o: o.created_at),
    "id": SearchField("int", lambda o: o.id),
    "name": SearchField("custom", None, lambda o, v: o.name.lower() in (v, "#" + v.lstrip("#"))),
    "email": SearchField("text", lambda o: o.email),
    "status": SearchField("custom", None, _order_status),
    "financial_status": SearchField(
        "custom", None, lambda o, v: v == "any" or o.display_financial_status().lower() == v),
    "fulfillment_status": SearchField(
        "custom", None, lambda o, v: v == "any" or o.display_fulfillment_status() == _FULFILLMENT_SEARCH.get(v, v.upper())),
    "tag": SearchField("list", lambda o: o.tags),
    "tag_not": SearchField("custom", None, lambda o, v: v not in {t.lower() for t in o.tags}),
    "sku": SearchField("list", lambda o: [li.sku for li in o.line_items]),
    "gateway": SearchField("list", lambda o: [t.gateway for t in o.transactions]),
    "test": SearchField("custom", None, lambda o, v: v == "false"),
}
INVENTORY_ITEM_SEARCH: dict[str, SearchField] = {
    "updated_at": SearchField("time", lambda i: i.updated_at or SHOP_EPOCH),
    "created_at": SearchField("time", lambda i: SHOP_EPOCH),
    "id": SearchField("int", lambda i: i.id),
    "sku": SearchField("text", lambda i: i.sku),
}
LOCATION_SEARCH: dict[str, SearchField] = {
    "id": SearchField("int", lambda loc: loc.id),
    "name": SearchField("text", lambda loc: loc.name),
    "active": SearchField("custom", None, lambda loc, v: loc.is_active == (v == "true")),
}


