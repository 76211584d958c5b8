"""The Shopify GraphQL Admin API, emulated over the sandbox world.

Serves `POST /shopify/admin/api/{version}/graphql.json` with a real GraphQL engine (graphql-core) over
`shopify_schema.graphql`, a faithful subset of Shopify's Admin schema, plus the bulk-operation result
files at `GET /shopify/_bulk/{id}.jsonl`. What it reproduces, and where each fact comes from:

- Versions 2025-01 … 2026-01 are served. A well-formed retired version falls forward to the oldest
  supported one (Shopify's documented rule); the `X-Shopify-API-Version` header names the version served.
  Anything else is a 404. Version differences that matter here are modelled (`groupObjects` on
  `bulkOperationRunQuery` from 2025-07, default flipped to false in 2026-01; five concurrent bulk queries
  from 2026-01; `CURRENT_TOTAL_PRICE` order sort key from 2025-10; root `bulkOperation(id:)` in 2026-01).
- Auth: `X-Shopify-Access-Token`; a wrong or missing token is Shopify's 401 body.
- Errors have graphql-ruby's shapes as Shopify returns them (captured live responses): parse errors
  (`PARSE_ERROR`), `undefinedField`, `argumentNotAccepted`, `missingRequiredArguments`,
  `selectionMismatch`, `argumentLiteralsIncompatible`, `INVALID_VARIABLE`, with `path` starting at the
  operation (`"query Name"`). Validation failures carry no `data` and no cost extension.
- Cost: every executed response carries `extensions.cost`. Requested cost follows Shopify's documented
  table (scalars and enums 0, objects 1, mutations 10) with the logarithmic connection sizing Shopify
  staff described (`2 + floor(2·ln(max(2, first))) × children`) and the adjustments live captures show
  (`MoneyBag`/`MoneyV2`/`PageInfo` free, a mutation payload's own fields free, `fulfillmentTrackingInfoUpdate`
  costing 50). Actual cost re-applies the rule to what was returned; the difference is refunded. The
  bucket is per access token, 2000 points restored at 100/s (Standard plan); a query above 1000 is
  `MAX_COST_EXCEEDED`, and a request the bucket can't pay for is HTTP 200 `THROTTLED`.
- Pagination: Shopify-style opaque cursors (base64 of `{"last_id", "last_value"}`), `first`/`last` up to
  250, `you must provide one of first or last`.

The gateway reference. `ShopifyTransaction.reference` (the Stripe PaymentIntent id, the PayPal capture id)
is exposed as `OrderTransaction.authorizationCode`, the field Shopify documents as the authorization code
"associated with the transaction" and which carries the external gateway's transaction reference, and it
is repeated inside `receiptJson` (a JSON-encoded string, as Shopify returns it) as the gateway's own
receipt: `{"id": "pi_…", "object": "payment_intent"}` for Stripe, `{"transaction_id": "…"}` for PayPal.
`paymentId` stays Shopify's own payment identifier (`#1001.1`), as on real orders.

The sandbox shop has one currency per order (shop money equals presentment money). Fulfillment orders are
derived from the order (one per order, assigned to the location that fulfils it), enough for the real
"query fulfillment orders, then fulfillmentCreate with tracking" workflow.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import math
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Undefined,
    VariableNode,
    Visitor,
    build_schema,
    execute,
    get_named_type,
    is_abstract_type,
    is_enum_type,
    is_input_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
    is_required_argument,
    parse,
    print_ast,
    type_from_ast,
    validate,
    value_from_ast,
    visit,
)
from graphql.language import Lexer, Source, TokenKind
from graphql.utilities.validate_input_value import validate_input_value
from graphql.validation import (
    FieldsOnCorrectTypeRule,
    KnownArgumentNamesRule,
    ProvidedRequiredArgumentsRule,
    ScalarLeafsRule,
    specified_rules,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shipshape_sandbox import lifecycle
from shipshape_sandbox.ratelimit import Bucket
from shipshape_sandbox.world import (
    ShopifyBulkOperation,
    ShopifyFulfillment,
    ShopifyInventoryLevel,
    ShopifyLineItem,
    ShopifyLocation,
    ShopifyOrder,
    ShopifyTrackingInfo,
    ShopifyTransaction,
    World,
    iso,
)

if TYPE_CHECKING:
    from shipshape_sandbox.server import Sandbox

API = "shopify"
SUPPORTED_VERSIONS = ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01")
_VERSION_FORMAT = re.compile(r"\d{4}-(?:01|04|07|10)")
BUCKET_SIZE = 2000.0  # Standard plan: 100 points/s restore, bucket of 20 s
RESTORE_RATE = 100.0
MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
MUTATION_COST = 10
MUTATION_COSTS = {"fulfillmentTrackingInfoUpdate": 50}  # live capture: 51 with one trackingInfo list
FREE_TYPES = frozenset({"MoneyBag", "MoneyV2", "PageInfo"})
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
SHOP_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # when the sandbox shop's locations and items were set up
BULK_BATCH = 1000  # root records per slice of a bulk query; the event loop breathes between slices
INVENTORY_REASONS = frozenset({
    "correction", "cycle_count_available", "damaged", "movement_canceled", "movement_created",
    "movement_received", "movement_updated", "other", "promotion", "quality_control", "received",
    "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock",
    "shrinkage",
})
GATEWAY_NAMES = {"stripe": "Stripe", "paypal": "PayPal Express Checkout", "manual": "Manual"}


# ------------------------------------------------------------------------------------------ versions
def served_version(requested: str) -> str | None:
    """The API version Shopify would answer a request for `requested` with, or None (404)."""
    if requested in SUPPORTED_VERSIONS or requested == "unstable":
        return requested
    if _VERSION_FORMAT.fullmatch(requested) and requested < SUPPORTED_VERSIONS[0]:
        return SUPPORTED_VERSIONS[0]
    return None


_SDL_PATH = Path(__file__).with_name("shopify_schema.graphql")
_SINCE = re.compile(r"@since\((\d{4}-\d{2})\)")
_UNTIL = re.compile(r"@until\((\d{4}-\d{2})\)")


@cache
def schema_for(version: str) -> GraphQLSchema:
    """The schema as served at `version` (version-tagged SDL lines kept or dropped)."""
    lines = []
    for line in _SDL_PATH.read_text().splitlines():
        since, until = _SINCE.search(line), _UNTIL.search(line)
        if since and version < since.group(1):
            continue
        if until and version >= until.group(1):
            continue
        lines.append(line)
    return build_schema("\n".join(lines))


# -------------------------------------------------------------------------------------------- format
def money(cents: int) -> str:
    """Shopify's Decimal rendering of an amount: "12.3", "12.0", "12.05"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    text = f"{whole}.{frac:02d}".rstrip("0")
    return sign + (text + "0" if text.endswith(".") else text)


def bag(cents: int, currency: str) -> dict[str, Any]:
    amount = {"amount": money(cents), "currencyCode": currency}
    return {"presentmentMoney": amount, "shopMoney": dict(amount)}


def gid(kind: str, num: int | str, query: str = "") -> str:
    return f"gid://shopify/{kind}/{num}{query}"


_GID = re.compile(r"gid://shopify/([A-Za-z]+)/(\d+)(?:\?.*)?")


def parse_gid(value: str, kind: str | None = None) -> tuple[str, int]:
    """(type, number) of a global id; raises Shopify's coercion error for a malformed one."""
    match = _GID.fullmatch(value or "")
    if not match:
        raise GraphQLError(f"Invalid global id '{value}'",
                           extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"})
    return match.group(1), int(match.group(2))


def _gid_number(value: Any, kind: str) -> int | None:
    """The number in a `gid://shopify/<kind>/N`, or None when it names something else or nothing."""
    match = _GID.fullmatch(value) if isinstance(value, str) else None
    if not match or match.group(1) != kind:
        return None
    return int(match.group(2))


def _error(message: str, nodes: Iterable[Any] = (), path: list | None = None,
           extensions: dict | None = None, locations: list | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"message": message}
    if locations is None:
        locations = []
        for node in nodes:
            if node is not None and node.loc is not None:
                loc = node.loc.source.get_location(node.loc.start)
                locations.append({"line": loc.line, "column": loc.column})
    if locations:
        out["locations"] = locations
    if path is not None:
        out["path"] = path
    if extensions:
        out["extensions"] = extensions
    return out


# ------------------------------------------------------------------------------------ parse errors
_RUBY_TOKENS = {
    TokenKind.BRACE_L: "LCURLY", TokenKind.BRACE_R: "RCURLY", TokenKind.PAREN_L: "LPAREN",
    TokenKind.PAREN_R: "RPAREN", TokenKind.BRACKET_L: "LBRACKET", TokenKind.BRACKET_R: "RBRACKET",
    TokenKind.COLON: "COLON", TokenKind.DOLLAR: "VAR_SIGN", TokenKind.BANG: "BANG", TokenKind.EQUALS: "EQUALS",
    TokenKind.AT: "DIR_SIGN", TokenKind.SPREAD: "ELLIPSIS", TokenKind.PIPE: "PIPE", TokenKind.AMP: "AMP",
    TokenKind.NAME: "IDENTIFIER", TokenKind.INT: "INT", TokenKind.FLOAT: "FLOAT", TokenKind.STRING: "STRING",
    TokenKind.BLOCK_STRING: "STRING",
}


def _syntax_error(text: str, err: GraphQLSyntaxError) -> tuple[str, int, int]:
    """graphql-ruby's wording of a syntax error: (message without location, line, column)."""
    pos = err.positions[0] if err.positions else 0
    line, col = (err.locations[0].line, err.locations[0].column) if err.locations else (1, 1)
    lexer = Lexer(Source(text))
    last = None
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF:
            if token.start >= pos:
                name = _RUBY_TOKENS.get(token.kind, token.kind.name)
                value = token.value if token.value is not None else token.kind.value
                return f'syntax error, unexpected {name} ("{value}")', token.line, token.column
            last = token
            token = lexer.advance()
    except GraphQLSyntaxError:
        return "syntax error, unexpected invalid token", line, col
    if last is not None:  # graphql-ruby reports an early end of file at the last token it read
        return "syntax error, unexpected end of file", last.line, last.column
    return "syntax error, unexpected end of file", line, col


# -------------------------------------------------------------------------------------- validation
def _has_variable(node: Any) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_args):
            nonlocal found
            found = True

    visit(node, Finder())
    return found


class _RubyRules(Visitor):
    """The validation rules whose graphql-ruby messages, codes and paths clients match on."""

    def __init__(self, type_info: TypeInfo, errors: list[tuple[Any, dict]]) -> None:
        super().__init__()
        self.type_info = type_info
        self.errors = errors
        self.path: list[str] = []

    def _add(self, node: Any, error: dict) -> None:
        self.errors.append((node, error))

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
        kind = node.operation.value
        self.path.append(f"{kind} {node.name.value}" if node.name else kind)

    def leave_operation_definition(self, *_args):
        self.path.pop()

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_args):
        self.path.append(f"fragment {node.name.value}")

    def leave_fragment_definition(self, *_args):
        self.path.pop()

    def enter_inline_fragment(self, node: InlineFragmentNode, *_args):
        self.path.append(f"... on {node.type_condition.name.value}" if node.type_condition else "...")

    def leave_inline_fragment(self, *_args):
        self.path.pop()

    def leave_field(self, *_args):
        self.path.pop()

    def enter_field(self, node: FieldNode, *_args):
        self.path.append(node.alias.value if node.alias else node.name.value)
        parent = self.type_info.get_parent_type()
        field_def = self.type_info.get_field_def()
        name = node.name.value
        if parent is None or name.startswith("__"):
            return
        path = list(self.path)
        if field_def is None:
            self._add(node, _error(f"Field '{name}' doesn't exist on type '{parent.name}'", [node], path,
                                   {"code": "undefinedField", "typeName": parent.name, "fieldName": name}))
            return
        given = {arg.name.value for arg in (node.arguments or ())}
        for arg in node.arguments or ():
            arg_def = field_def.args.get(arg.name.value)
            if arg_def is None:
                self._add(arg, _error(
                    f"Field '{name}' doesn't accept argument '{arg.name.value}'", [arg], path + [arg.name.value],
                    {"code": "argumentNotAccepted", "name": name, "typeName": "Field",
                     "argumentName": arg.name.value}))
            elif not _has_variable(arg.value) and value_from_ast(arg.value, arg_def.type) is Undefined:
                self._add(arg, _error(
                    f"Argument '{arg.name.value}' on Field '{name}' has an invalid value "
                    f"({print_ast(arg.value)}). Expected type '{arg_def.type}'.", [arg], path + [arg.name.value],
                    {"code": "argumentLiteralsIncompatible", "typeName": "Field", "argumentName": arg.name.value}))
        missing = [
            arg_name for arg_name, arg_def in field_def.args.items()
            if is_required_argument(arg_def) and arg_name not in given
        ]
        if missing:
            self._add(node, _error(
                f"Field '{name}' is missing required arguments: {', '.join(missing)}", [node], path,
                {"code": "missingRequiredArguments", "className": "Field", "name": name,
                 "arguments": ", ".join(missing)}))
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            if node.selection_set and node.selection_set.selections:
                kinds = "enums" if is_enum_type(named) else "scalars"
                picked = ", ".join(
                    sel.name.value for sel in node.selection_set.selections if isinstance(sel, FieldNode))
                self._add(node, _error(
                    f"Selections can't be made on {kinds} (field '{name}' returns {named.name} but has "
                    f"selections [{picked}])", [node], path,
                    {"code": "selectionMismatch", "nodeName": f"field '{name}'", "typeName": named.name}))
        elif not node.selection_set:
            self._add(node, _error(
                f"Field must have selections (field '{name}' returns {named.name} but has no selections. "
                f"Did you mean '{name} {{ ... }}'?)", [node], path,
                {"code": "selectionMismatch", "nodeName": f"field '{name}'", "typeName": named.name}))


_CORE_RULES = tuple(
    rule for rule in specified_rules
    if rule not in (FieldsOnCorrectTypeRule, KnownArgumentNamesRule, ProvidedRequiredArgumentsRule, ScalarLeafsRule)
)


def validation_errors(schema: GraphQLSchema, document: DocumentNode) -> list[dict]:
    """Static validation errors, worded as Shopify (graphql-ruby) words them."""
    ruby: list[tuple[Any, dict]] = []
    type_info = TypeInfo(schema)
    visit(document, TypeInfoVisitor(type_info, _RubyRules(type_info, ruby)))
    spans = [(node.loc.start, node.loc.end) for node, _ in ruby if node.loc is not None]
    out = [error for _, error in ruby]
    for err in validate(schema, document, _CORE_RULES):
        starts = [node.loc.start for node in (err.nodes or []) if node.loc is not None]
        if any(lo <= start <= hi for start in starts for lo, hi in spans):
            continue  # already reported in graphql-ruby's words
        out.append(_error(err.message, err.nodes or []))
    return out


def _explain(error: GraphQLError, invalid: Any) -> tuple[list, str]:
    """graphql-ruby's explanation of a variable coercion problem, and any path it adds."""
    message = error.message
    missing = re.search(r"to include required field '(\w+)'", message)
    if missing:
        return [missing.group(1)], "Expected value to not be null"
    if "not to be None" in message or "to be provided" in message:
        return [], "Expected value to not be null"
    undefined = re.search(r"Expected value of type '(\w+)' not to include unknown field '(\w+)'", message)
    if undefined:
        return [undefined.group(2)], f"Field is not defined on {undefined.group(1)}"
    enum = re.search(r"does not exist in '(\w+)' enum", message)
    if enum:
        return [], f"Expected {json.dumps(invalid)} to be one of: {enum.group(1)}"
    scalar = re.match(r"(\w+) cannot represent", message)
    if scalar:
        return [], f"Could not coerce value {json.dumps(invalid)} to {scalar.group(1)}"
    return [], message


def _value_at(value: Any, path: list) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def variable_errors(schema: GraphQLSchema, operation: OperationDefinitionNode, raw: dict) -> list[dict]:
    """Shopify's `INVALID_VARIABLE` errors for variables that don't coerce to their declared types."""
    errors = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        var_type = type_from_ast(schema, definition.type)
        if var_type is None or not is_input_type(var_type):
            continue
        type_text = print_ast(definition.type)
        value = raw.get(name, Undefined)
        if value is Undefined or value is None:
            if value is Undefined and definition.default_value is not None:
                continue
            if is_non_null_type(var_type):
                errors.append(_error(
                    f"Variable ${name} of type {type_text} was provided invalid value", [definition],
                    extensions={"code": "INVALID_VARIABLE", "value": None,
                                "problems": [{"path": [], "explanation": "Expected value to not be null"}]}))
            continue
        problems: list[dict] = []

        def on_error(error, path, problems=problems, value=value):
            extra, explanation = _explain(error, _value_at(value, path))
            problems.append({"path": [*path, *extra], "explanation": explanation})

        validate_input_value(value, var_type, on_error)
        if problems:
            message = f"Variable ${name} of type {type_text} was provided invalid value"
            if len(problems) == 1 and problems[0]["path"]:
                where = ".".join(str(p) for p in problems[0]["path"])
                message += f" for {where} ({problems[0]['explanation']})"
            errors.append(_error(message, [definition],
                                 extensions={"code": "INVALID_VARIABLE", "value": value, "problems": problems}))
    return errors


# ------------------------------------------------------------------------------------- selections
def _applies(schema: GraphQLSchema, condition: str | None, runtime: GraphQLObjectType) -> bool:
    if condition is None or condition == runtime.name:
        return True
    target = schema.get_type(condition)
    return target is not None and is_abstract_type(target) and schema.is_sub_type(target, runtime)


def collect(schema: GraphQLSchema, runtime: GraphQLObjectType, selection_sets: Iterable[Any],
            fragments: dict[str, FragmentDefinitionNode]) -> OrderedDict[str, list[FieldNode]]:
    """Fields selected on an object of type `runtime`, by response key, fragments merged."""
    out: OrderedDict[str, list[FieldNode]] = OrderedDict()

    def walk(selection_set: Any) -> None:
        if selection_set is None:
            return
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                out.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition.name.value if sel.type_condition else None
                if _applies(schema, cond, runtime):
                    walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                frag = fragments.get(sel.name.value)
                if frag is not None and _applies(schema, frag.type_condition.name.value, runtime):
                    walk(frag.selection_set)

    for selection_set in selection_sets:
        walk(selection_set)
    return out


def _is_connection(named: Any, field_def: Any) -> bool:
    return named.name.endswith("Connection") and ("first" in field_def.args or "last" in field_def.args)


def connection_multiplier(size: int | None) -> int:
    """Shopify's logarithmic sizing of a connection's children (`first`/`last` items requested)."""
    if not size or size <= 0:
        return 0
    return math.floor(2 * math.log(max(2, size)))


def _arg(node: FieldNode, name: str, variables: dict) -> Any:
    for arg in node.arguments or ():
        if arg.name.value == name:
            if isinstance(arg.value, VariableNode):
                return variables.get(arg.value.name.value)
            return _literal(arg.value)
    return None


def _literal(value_node: Any) -> Any:
    kind = value_node.kind
    if kind == "int_value":
        return int(value_node.value)
    if kind in ("string_value", "enum_value"):
        return value_node.value
    if kind == "boolean_value":
        return value_node.value
    return None


class CostModel:
    """Requested and actual query cost, by Shopify's rules (see the module docstring).

    Requested cost sizes each connection by its `first`/`last`; actual cost re-runs the same walk with
    the number of items each connection really returned (recorded per response path while executing).
    """

    def __init__(self, schema: GraphQLSchema, fragments: dict, variables: dict) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def cost(self, operation: OperationDefinitionNode, sizes: dict[tuple, int] | None = None) -> int:
        mutation = operation.operation.value == "mutation"
        root = self.schema.mutation_type if mutation else self.schema.query_type
        total = 0
        for key, nodes in collect(self.schema, root, [operation.selection_set], self.fragments).items():
            name = nodes[0].name.value
            field_def = root.fields.get(name)
            if field_def is None:
                continue
            if mutation:  # a flat price per mutation; the payload's own fields are free, what they hold isn't
                total += MUTATION_COSTS.get(name, MUTATION_COST)
                named = get_named_type(field_def.type)
                for sub_key, sub in collect(self.schema, named, [n.selection_set for n in nodes],
                                            self.fragments).items():
                    sub_def = named.fields.get(sub[0].name.value)
                    if sub_def is not None and not is_leaf_type(get_named_type(sub_def.type)):
                        total += self._children(get_named_type(sub_def.type), sub, (key, sub_key), sizes)
            else:
                total += self._field(field_def, nodes, (key,), sizes)
        return total

    def _children(self, named: Any, nodes: list[FieldNode], path: tuple, sizes: dict | None) -> int:
        runtimes = self.schema.get_possible_types(named) if is_abstract_type(named) else [named]
        best = 0
        for runtime in runtimes:
            cost = 0
            for key, sub in collect(self.schema, runtime, [n.selection_set for n in nodes], self.fragments).items():
                sub_def = runtime.fields.get(sub[0].name.value)
                if sub_def is not None:
                    cost += self._field(sub_def, sub, (*path, key), sizes)
            best = max(best, cost)
        return best

    def _field(self, field_def: Any, nodes: list[FieldNode], path: tuple, sizes: dict | None) -> int:
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            return 0
        children = self._children(named, nodes, path, sizes)
        if named.name in FREE_TYPES:
            return children
        if _is_connection(named, field_def):
            if sizes is None:
                size = _arg(nodes[0], "first", self.variables) or _arg(nodes[0], "last", self.variables)
            else:
                size = sizes.get(path, 0)
            return 2 + connection_multiplier(size if isinstance(size, int) else 0) * children
        return 1 + children


def runtime_type(schema: GraphQLSchema, named: Any, value: dict) -> GraphQLObjectType:
    """The object type of a rendered value of (possibly abstract) type `named`."""
    if not is_abstract_type(named):
        return named
    type_name = value.get("__typename")
    if type_name is None:
        match = _GID.fullmatch(value.get("id") or "") if isinstance(value.get("id"), str) else None
        type_name = match.group(1) if match else None
    found = schema.get_type(type_name) if type_name else None
    if is_object_type(found):
        return found
    return schema.get_possible_types(named)[0]


def connection_items(value: dict) -> list:
    if isinstance(value.get("nodes"), list):
        return value["nodes"]
    if isinstance(value.get("edges"), list):
        return [edge.get("node") for edge in value["edges"] if isinstance(edge, dict)]
    return []


def walk_objects(schema: GraphQLSchema, named: Any, nodes: list[FieldNode], value: Any, fragments: dict,
                 visitor: Callable[[str, dict], None]) -> None:
    """Call `visitor(type name, rendered dict)` for every object in a response subtree."""
    if isinstance(value, list):
        for item in value:
            walk_objects(schema, named, nodes, item, fragments, visitor)
        return
    if not isinstance(value, dict) or is_leaf_type(named):
        return
    runtime = runtime_type(schema, named, value)
    visitor(runtime.name, value)
    for key, sub in collect(schema, runtime, [n.selection_set for n in nodes], fragments).items():
        sub_def = runtime.fields.get(sub[0].name.value)
        if sub_def is not None:
            walk_objects(schema, get_named_type(sub_def.type), sub, value.get(key), fragments, visitor)


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


# ------------------------------------------------------------------------------------- pagination
def encode_cursor(record_id: int, value: Any) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = json.dumps({"last_id": record_id, "last_value": value}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, kind: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        record_id = int(data["last_id"])
        value = data["last_value"]
        if kind == "time":
            value = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        elif kind == "int":
            value = int(value)
        return value, record_id
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


@dataclass
class View:
    """Records in ascending sort order with their (sort value, id) keys, for bisecting."""

    rows: list
    keys: list[tuple]
    kind: str  # how the sort value travels in cursors: time | int


class Connection:
    """A page of a connection; `nodes`/`edges`/`pageInfo` render lazily."""

    def __init__(self, items: list, keys: list[tuple], has_next: bool, has_prev: bool,
                 wrap: Callable[[Any], Any]) -> None:
        self.items, self.keys, self.has_next, self.has_prev, self.wrap = items, keys, has_next, has_prev, wrap

    def _cursors(self) -> list[str]:
        return [encode_cursor(key[1], key[0]) for key in self.keys]

    def nodes(self, info: Any) -> list:
        return [self.wrap(item) for item in self.items]

    def edges(self, info: Any) -> list:
        return [{"cursor": c, "node": self.wrap(item)} for item, c in zip(self.items, self._cursors(), strict=True)]

    def pageInfo(self, info: Any) -> dict:  # noqa: N802 - GraphQL field name
        cursors = self._cursors() if self.keys else []
        return {
            "hasNextPage": self.has_next, "hasPreviousPage": self.has_prev,
            "startCursor": cursors[0] if cursors else None, "endCursor": cursors[-1] if cursors else None,
        }


def paginate(ctx: Ctx, info: Any, view: View, args: dict, wrap: Callable[[Any], Any], *,
             top_level: bool = False) -> Connection:
    """Slice a view Shopify's way: first/last/after/before/reverse, hasNext/PreviousPage over the whole list."""
    page = _slice(ctx, view, args, wrap, top_level)
    path = tuple(step for step in info.path.as_list() if isinstance(step, str))
    ctx.sizes[path] = max(ctx.sizes.get(path, 0), len(page.items))
    return page


def _slice(ctx: Ctx, view: View, args: dict, wrap: Callable[[Any], Any], top_level: bool) -> Connection:
    first, last = args.get("first"), args.get("last")
    reverse = bool(args.get("reverse"))
    keys, rows = view.keys, view.rows
    n = len(rows)
    if ctx.bulk is not None:  # bulk operations ignore paging; the top level is served in batches
        if top_level:
            if ctx.bulk.snapshot is None:
                order = range(n - 1, -1, -1) if reverse else range(n)
                ctx.bulk.snapshot = View([rows[i] for i in order], [keys[i] for i in order], view.kind)
            snap, lo = ctx.bulk.snapshot, ctx.bulk.position
            hi = min(len(snap.rows), lo + BULK_BATCH)
            return Connection(snap.rows[lo:hi], snap.keys[lo:hi], False, False, wrap)
        order = range(n - 1, -1, -1) if reverse else range(n)
        return Connection([rows[i] for i in order], [keys[i] for i in order], False, False, wrap)
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and size > MAX_PAGE_SIZE:
            raise GraphQLError(f"{name} must be less than or equal to {MAX_PAGE_SIZE}")
        if size is not None and size < 0:
            raise GraphQLError(f"{name} must be greater than or equal to 0")
    lo, hi = 0, n
    if args.get("after"):
        value, record_id = decode_cursor(args["after"], view.kind)
        lo = n - bisect.bisect_left(keys, (value, record_id)) if reverse else bisect.bisect_right(keys, (value, record_id))
        if top_level and lo > 0 and ctx.api.sandbox.faults.repeat_boundary():
            lo -= 1  # flaky: the record before the cursor comes round again
    if args.get("before"):
        value, record_id = decode_cursor(args["before"], view.kind)
        hi = n - bisect.bisect_right(keys, (value, record_id)) if reverse else bisect.bisect_left(keys, (value, record_id))
    hi = max(lo, hi)
    if first is not None:
        hi = min(hi, lo + first)
    if last is not None:
        lo = max(lo, hi - last)
    positions = [n - 1 - i for i in range(lo, hi)] if reverse else list(range(lo, hi))
    return Connection([rows[p] for p in positions], [keys[p] for p in positions], hi < n, lo > 0, wrap)


def list_view(records: list, key: Callable[[Any], int] = lambda r: r.id) -> View:
    ordered = sorted(records, key=key)
    return View(ordered, [(key(r), key(r)) for r in ordered], "int")


# -------------------------------------------------------------------------------------------- state
@dataclass
class ShopifyConfig:
    """Knobs tests turn before the app is built: bucket size, restore rate and the bucket's clock."""

    capacity: float = BUCKET_SIZE
    restore_rate: float = RESTORE_RATE
    clock: Callable[[], float] = time.monotonic


_CONFIGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_APIS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def configure(sandbox: Sandbox, **changes: Any) -> ShopifyConfig:
    """Set bucket knobs for `sandbox` before `create_app` builds the Shopify routes."""
    config = _CONFIGS.setdefault(sandbox, ShopifyConfig())
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def api_for(sandbox: Sandbox) -> ShopifyApi:
    return _APIS[sandbox]


@dataclass
class BulkRun:
    """A bulk query in progress: the root records it will visit, how far it got, what it wrote."""

    version: str
    group_objects: bool
    snapshot: View | None = None
    position: int = 0
    root_object_count: int = 0
    lines: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    api: ShopifyApi
    version: str
    bulk: BulkRun | None = None
    search: list = field(default_factory=list)
    sizes: dict[tuple, int] = field(default_factory=dict)  # items each connection returned, by path

    @property
    def world(self) -> World:
        return self.api.world


class ShopifyApi:
    """Everything the Shopify routes share: the sandbox, buckets, view caches and bulk runs."""

    def __init__(self, sandbox: Sandbox, config: ShopifyConfig) -> None:
        self.sandbox = sandbox
        self.config = config
        self.buckets: dict[str, Bucket] = {}
        self.views: dict[Any, tuple[int, View]] = {}
        self.filtered: OrderedDict[Any, tuple[int, View]] = OrderedDict()
        self.indexes: dict[str, tuple[int, Any]] = {}
        self.bulk_runs: dict[str, BulkRun] = {}
        self.tasks: set[asyncio.Task] = set()

    @property
    def world(self) -> World:
        return self.sandbox.world

    def bucket(self, token: str) -> Bucket:
        bucket = self.buckets.get(token)
        if bucket is None:
            bucket = self.buckets[token] = Bucket(self.config.capacity, self.config.restore_rate, self.config.clock)
        return bucket

    # --- cached views and indexes (rebuilt when the world's revision moves)
    def _cached(self, key: Any, build: Callable[[], Any]) -> Any:
        hit = self.views.get(key)
        if hit is not None and hit[0] == self.world.revision:
            return hit[1]
        value = build()
        self.views[key] = (self.world.revision, value)
        return value

    def order_view(self, sort_key: str) -> View:
        world = self.world
        if sort_key in ("UPDATED_AT", "CREATED_AT", "PROCESSED_AT"):
            attr = "updated_at" if sort_key == "UPDATED_AT" else "created_at"

            def build() -> View:
                rows = world.shopify_orders.sorted_by(attr)
                return View(rows, [(getattr(r, attr), r.id) for r in rows], "time")

            return self._cached(("orders", attr), build)
        if sort_key in ("TOTAL_PRICE", "CURRENT_TOTAL_PRICE"):
            current = sort_key == "CURRENT_TOTAL_PRICE"

            def build_price() -> View:
                rows = sorted(world.shopify_orders, key=lambda o: (o.total(current), o.id))
                return View(rows, [(o.total(current), o.id) for o in rows], "int")

            return self._cached(("orders", sort_key), build_price)

        # ID, ORDER_NUMBER and the sort keys the sandbox doesn't model order by id (names follow ids)
        def build_id() -> View:
            rows = world.shopify_orders.sorted_by("id")
            return View(rows, [(r.id, r.id) for r in rows], "int")

        return self._cached(("orders", "id"), build_id)

    def filtered_view(self, name: Any, view: View, query: str | None, fields: dict[str, SearchField],
                      narrow_attr: str | None, free_text: Callable[[Any], str], ctx: Ctx,
                      path: list[str]) -> View:
        tree = parse_search(query) if query else None
        if tree is None:
            return view
        unknown = sorted({t.field for t in search_terms(tree) if t.field is not None and t.field not in fields})
        if unknown:
            ctx.search.append({"path": path, "query": query, "parsed": parsed_search(tree), "warnings": [
                {"field": f, "message": "Invalid search field for this query.", "code": "invalid_field"}
                for f in unknown]})
        key = (name, query)
        hit = self.filtered.get(key)
        if hit is not None and hit[0] == self.world.revision:
            self.filtered.move_to_end(key)
            return hit[1]
        lo, hi = 0, len(view.rows)
        if narrow_attr is not None:  # the sort attribute's range narrows by bisection before any scan
            for term in _range_terms(tree):
                if term.field != narrow_attr or term.op == ":":
                    continue
                bound: Any
                if fields[narrow_attr].kind == "time":
                    parsed = _parse_time(term.value)
                    if parsed is None:
                        continue
                    bound, whole_day = parsed
                    if whole_day and term.op in (">", "<="):
                        bound += timedelta(days=1) - timedelta(microseconds=1)
                else:
                    try:
                        bound = int(term.value.rsplit("/", 1)[-1])
                    except ValueError:
                        continue
                if term.op == ">=":
                    lo = max(lo, bisect.bisect_left(view.keys, (bound,)))
                elif term.op == ">":
                    lo = max(lo, bisect.bisect_right(view.keys, (bound, math.inf)))
                elif term.op == "<":
                    hi = min(hi, bisect.bisect_left(view.keys, (bound,)))
                elif term.op == "<=":
                    hi = min(hi, bisect.bisect_right(view.keys, (bound, math.inf)))
        rows, keys = [], []
        for i in range(lo, max(lo, hi)):
            if evaluate(tree, view.rows[i], fields, free_text):
                rows.append(view.rows[i])
                keys.append(view.keys[i])
        result = View(rows, keys, view.kind)
        self.filtered[key] = (self.world.revision, result)
        while len(self.filtered) > 32:
            self.filtered.popitem(last=False)
        return result

    def index(self, name: str) -> Any:
        """Lookups by a child record's id (fulfillment, line item, transaction -> order; variant -> item)."""
        hit = self.indexes.get(name)
        if hit is not None and hit[0] == self.world.revision:
            return hit[1]
        world = self.world
        if name == "fulfillments":
            value = {f.id: (o, f) for o in world.shopify_orders for f in o.fulfillments}
        elif name == "line_items":
            value = {li.id: (o, li) for o in world.shopify_orders for li in o.line_items}
        elif name == "transactions":
            value = {t.id: (o, t) for o in world.shopify_orders for t in o.transactions}
        elif name == "variants":
            value = {i.variant_id: i for i in world.shopify_inventory_items}
        elif name == "levels_by_item":
            value = {}
            for level in world.shopify_inventory_levels.values():
                value.setdefault(level.inventory_item_id, []).append(level)
        elif name == "levels_by_location":
            value = {}
            for level in world.shopify_inventory_levels.values():
                value.setdefault(level.location_id, []).append(level)
        else:
            raise KeyError(name)
        self.indexes[name] = (world.revision, value)
        return value

    def fulfilling_location(self) -> ShopifyLocation | None:
        """Where the shop's orders are fulfilled from: the 3PL's location if there is one."""
        locations = sorted(self.world.shopify_locations, key=lambda loc: loc.id)
        for loc in locations:
            if loc.is_active and loc.fulfillment_service_handle:
                return loc
        return next((loc for loc in locations if loc.is_active), locations[0] if locations else None)

    # --- bulk operations
    def bulk_ops(self) -> list[ShopifyBulkOperation]:
        return sorted(self.world.shopify_bulk_operations, key=lambda op: _gid_number(op.id, "BulkOperation") or 0)

    def start_bulk(self, op: ShopifyBulkOperation) -> None:
        """Run a bulk query in slices on the event loop (or at once when there is no loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            while not bulk_step(self, op):
                pass
            return
        task = loop.create_task(_drive_bulk(self, op))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


# ---------------------------------------------------------------------------------------- objects
class Obj:
    """Base of the resolver objects: graphql-core reads attributes, calling methods with (info, **args)."""

    __slots__ = ("ctx", "r")

    def __init__(self, ctx: Ctx, record: Any) -> None:
        self.ctx = ctx
        self.r = record


class MailingAddressObj(Obj):
    __slots__ = ("owner",)

    def __init__(self, ctx: Ctx, record: Any, owner: int) -> None:
        super().__init__(ctx, record)
        self.owner = owner

    @property
    def id(self) -> str:
        return gid("MailingAddress", self.owner, "?model_name=Address")

    address1 = property(lambda self: self.r.address1)
    address2 = property(lambda self: self.r.address2)
    city = property(lambda self: self.r.city)
    company = property(lambda self: self.r.company)
    coordinatesValidated = property(lambda self: False)  # noqa: N815
    country = property(lambda self: self.r.country)
    countryCodeV2 = property(lambda self: self.r.country_code)  # noqa: N815
    firstName = property(lambda self: self.r.first_name)  # noqa: N815
    lastName = property(lambda self: self.r.last_name)  # noqa: N815
    name = property(lambda self: self.r.name)
    phone = property(lambda self: self.r.phone)
    province = property(lambda self: self.r.province)
    provinceCode = property(lambda self: self.r.province_code)  # noqa: N815
    zip = property(lambda self: self.r.zip)
    latitude = property(lambda self: None)
    longitude = property(lambda self: None)
    timeZone = property(lambda self: None)  # noqa: N815

    @property
    def formattedArea(self) -> str | None:  # noqa: N802
        parts = [self.r.city, self.r.province_code or self.r.province, self.r.country]
        return ", ".join(p for p in parts if p) or None


def _fulfilled(order: ShopifyOrder) -> dict[int, int]:
    return order.fulfilled_quantities()


def _order_location_gateways(order: ShopifyOrder) -> list[str]:
    seen: list[str] = []
    for txn in order.transactions:
        if txn.gateway not in seen:
            seen.append(txn.gateway)
    return seen


class OrderObj(Obj):
    __slots__ = ()

    @property
    def id(self) -> str:
        return self.r.gid

    legacyResourceId = property(lambda self: str(self.r.id))  # noqa: N815
    name = property(lambda self: self.r.name)
    email = property(lambda self: self.r.email)
    phone = property(lambda self: None)
    note = property(lambda self: self.r.note)
    tags = property(lambda self: list(self.r.tags))
    test = property(lambda self: False)
    confirmed = property(lambda self: True)
    taxesIncluded = property(lambda self: False)  # noqa: N815
    sourceName = property(lambda self: "web")  # noqa: N815
    createdAt = property(lambda self: iso(self.r.created_at))  # noqa: N815
    updatedAt = property(lambda self: iso(self.r.updated_at))  # noqa: N815
    processedAt = property(lambda self: iso(self.r.created_at))  # noqa: N815
    cancelledAt = property(lambda self: iso(self.r.cancelled_at))  # noqa: N815
    cancelReason = property(lambda self: self.r.cancel_reason if self.r.cancelled_at else None)  # noqa: N815
    closedAt = property(lambda self: iso(self.r.closed_at))  # noqa: N815
    closed = property(lambda self: self.r.closed_at is not None)
    currencyCode = property(lambda self: self.r.currency)  # noqa: N815
    presentmentCurrencyCode = property(lambda self: self.r.currency)  # noqa: N815
    displayFinancialStatus = property(lambda self: self.r.display_financial_status())  # noqa: N815
    displayFulfillmentStatus = property(lambda self: self.r.display_fulfillment_status())  # noqa: N815
    paymentGatewayNames = property(lambda self: _order_location_gateways(self.r))  # noqa: N815

    def _bag(self, cents: int) -> dict:
        return bag(cents, self.r.currency)

    totalPriceSet = property(lambda self: self._bag(self.r.total()))  # noqa: N815
    originalTotalPriceSet = property(lambda self: self._bag(self.r.total()))  # noqa: N815
    currentTotalPriceSet = property(lambda self: self._bag(self.r.total(current=True)))  # noqa: N815
    subtotalPriceSet = property(lambda self: self._bag(self.r.subtotal()))  # noqa: N815
    currentSubtotalPriceSet = property(lambda self: self._bag(self.r.subtotal(current=True)))  # noqa: N815
    totalReceivedSet = property(lambda self: self._bag(self.r.received()))  # noqa: N815
    totalRefundedSet = property(lambda self: self._bag(self.r.refunded()))  # noqa: N815
    netPaymentSet = property(lambda self: self._bag(self.r.received() - self.r.refunded()))  # noqa: N815
    totalCapturableSet = property(lambda self: self._bag(self.r.authorized_uncaptured()))  # noqa: N815
    capturable = property(lambda self: self.r.authorized_uncaptured() > 0)
    totalShippingPriceSet = property(  # noqa: N815
        lambda self: self._bag(self.r.shipping_line.price if self.r.shipping_line else 0))

    @property
    def totalOutstandingSet(self) -> dict:  # noqa: N802
        return self._bag(self.r.total(current=True) - (self.r.received() - self.r.refunded()))

    fullyPaid = property(  # noqa: N815
        lambda self: self.r.received() - self.r.refunded() >= self.r.total(current=True) and self.r.received() > 0)
    unpaid = property(lambda self: self.r.received() == 0)
    requiresShipping = property(lambda self: any(li.requires_shipping for li in self.r.line_items))  # noqa: N815
    subtotalLineItemsQuantity = property(lambda self: sum(li.quantity for li in self.r.line_items))  # noqa: N815
    currentSubtotalLineItemsQuantity = property(  # noqa: N815
        lambda self: sum(li.current_quantity for li in self.r.line_items))

    @property
    def fulfillable(self) -> bool:
        done = _fulfilled(self.r)
        return self.r.cancelled_at is None and any(
            li.requires_shipping and li.current_quantity > done.get(li.id, 0) for li in self.r.line_items)

    @property
    def shippingAddress(self) -> MailingAddressObj | None:  # noqa: N802
        address = self.r.shipping_address
        return MailingAddressObj(self.ctx, address, self.r.id) if address is not None else None

    @property
    def shippingLine(self) -> ShippingLineObj | None:  # noqa: N802
        return ShippingLineObj(self.ctx, self.r) if self.r.shipping_line is not None else None

    def shippingLines(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        rows = [self.r] if self.r.shipping_line is not None else []
        view = View(rows, [(self.r.id, self.r.id) for _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda o: ShippingLineObj(self.ctx, o))

    def lineItems(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        return paginate(self.ctx, info, list_view(self.r.line_items), args, lambda li: LineItemObj(self.ctx, (self.r, li)))

    def fulfillments(self, info: Any, first: int | None = None) -> list:
        items = self.r.fulfillments[:first] if first is not None else self.r.fulfillments
        return [FulfillmentObj(self.ctx, (self.r, f)) for f in items]

    def transactions(self, info: Any, first: int | None = None, capturable: bool | None = None,
                     manuallyResolvable: bool | None = None) -> list:  # noqa: N803
        txns = list(self.r.transactions)
        if capturable:
            txns = [t for t in txns if _capturable(self.r, t)]
        if first is not None:
            txns = txns[:first]
        return [TransactionObj(self.ctx, (self.r, t)) for t in txns]

    def fulfillmentOrders(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        fo = FulfillmentOrderModel.of(self.ctx.api, self.r)
        rows = [fo] if fo is not None else []
        view = View(rows, [(self.r.id, self.r.id) for _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda m: FulfillmentOrderObj(self.ctx, m))


def _capturable(order: ShopifyOrder, txn: ShopifyTransaction) -> bool:
    if txn.kind != "AUTHORIZATION" or txn.status != "SUCCESS":
        return False
    return not any(t.parent_id == txn.id and t.status == "SUCCESS" and t.kind in ("CAPTURE", "VOID")
                   for t in order.transactions)


class ShippingLineObj(Obj):
    __slots__ = ()

    @property
    def _line(self) -> Any:
        return self.r.shipping_line

    id = property(lambda self: gid("ShippingLine", self.r.id))
    code = property(lambda self: self._line.code)
    title = property(lambda self: self._line.title)
    source = property(lambda self: self._line.source)
    carrierIdentifier = property(lambda self: None)  # noqa: N815
    custom = property(lambda self: False)
    deliveryCategory = property(lambda self: None)  # noqa: N815
    phone = property(lambda self: None)
    isRemoved = property(lambda self: False)  # noqa: N815
    originalPriceSet = property(lambda self: bag(self._line.price, self.r.currency))  # noqa: N815
    discountedPriceSet = property(lambda self: bag(self._line.price, self.r.currency))  # noqa: N815
    currentDiscountedPriceSet = property(lambda self: bag(self._line.price, self.r.currency))  # noqa: N815


class LineItemObj(Obj):
    """A line item: `r` is (order, line item)."""

    __slots__ = ()

    @property
    def _li(self) -> ShopifyLineItem:
        return self.r[1]

    def _bag(self, cents: int) -> dict:
        return bag(cents, self.r[0].currency)

    id = property(lambda self: gid("LineItem", self._li.id))
    sku = property(lambda self: self._li.sku)
    title = property(lambda self: self._li.title)
    variantTitle = property(lambda self: self._li.variant_title)  # noqa: N815
    quantity = property(lambda self: self._li.quantity)
    currentQuantity = property(lambda self: self._li.current_quantity)  # noqa: N815
    refundableQuantity = property(lambda self: self._li.current_quantity)  # noqa: N815
    nonFulfillableQuantity = property(lambda self: self._li.quantity - self._li.current_quantity)  # noqa: N815
    requiresShipping = property(lambda self: self._li.requires_shipping)  # noqa: N815
    isGiftCard = property(lambda self: False)  # noqa: N815
    merchantEditable = property(lambda self: self.r[0].cancelled_at is None)  # noqa: N815
    restockable = property(lambda self: True)
    taxable = property(lambda self: True)
    vendor = property(lambda self: None)
    originalUnitPriceSet = property(lambda self: self._bag(self._li.unit_price))  # noqa: N815
    originalTotalSet = property(lambda self: self._bag(self._li.unit_price * self._li.quantity))  # noqa: N815
    totalDiscountSet = property(lambda self: self._bag(0))  # noqa: N815

    @property
    def name(self) -> str:
        li = self._li
        return f"{li.title} - {li.variant_title}" if li.variant_title else li.title

    def discountedTotalSet(self, info: Any, withCodeDiscounts: bool = False) -> dict:  # noqa: N802, N803
        return self._bag(self._li.unit_price * self._li.quantity)

    @property
    def unfulfilledQuantity(self) -> int:  # noqa: N802
        return max(0, self._li.current_quantity - _fulfilled(self.r[0]).get(self._li.id, 0))

    fulfillableQuantity = unfulfilledQuantity  # noqa: N815

    @property
    def unfulfilledOriginalTotalSet(self) -> dict:  # noqa: N802
        return self._bag(self._li.unit_price * self.unfulfilledQuantity)

    @property
    def fulfillmentStatus(self) -> str:  # noqa: N802
        done = _fulfilled(self.r[0]).get(self._li.id, 0)
        if done >= self._li.current_quantity > 0 or (done and done >= self._li.quantity):
            return "fulfilled"
        return "partial" if done > 0 else "unfulfilled"

    @property
    def fulfillmentService(self) -> FulfillmentServiceObj | None:  # noqa: N802
        loc = self.ctx.api.fulfilling_location()
        return FulfillmentServiceObj(self.ctx, loc) if loc is not None and loc.fulfillment_service_handle else None

    @property
    def variant(self) -> VariantObj | None:
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return VariantObj(self.ctx, item) if item is not None else None

    @property
    def product(self) -> ProductObj:
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return ProductObj(self.ctx, (self._li.product_id, item.product_title if item else self._li.title))


class ProductObj(Obj):
    """`r` is (product id, title)."""

    __slots__ = ()
    id = property(lambda self: gid("Product", self.r[0]))
    legacyResourceId = property(lambda self: str(self.r[0]))  # noqa: N815
    title = property(lambda self: self.r[1])


class VariantObj(Obj):
    """A product variant, known through its inventory item (`r`)."""

    __slots__ = ()
    id = property(lambda self: gid("ProductVariant", self.r.variant_id))
    legacyResourceId = property(lambda self: str(self.r.variant_id))  # noqa: N815
    sku = property(lambda self: self.r.sku)
    title = property(lambda self: self.r.variant_title)
    displayName = property(lambda self: f"{self.r.product_title} - {self.r.variant_title}")  # noqa: N815
    inventoryItem = property(lambda self: InventoryItemObj(self.ctx, self.r))  # noqa: N815
    product = property(lambda self: ProductObj(self.ctx, (self.r.product_id, self.r.product_title)))


def _receipt(txn: ShopifyTransaction) -> str:
    """The gateway's receipt, as the JSON text Shopify stores for the transaction."""
    ref = txn.reference
    if ref is None:
        return "{}"
    if txn.gateway == "stripe":
        obj = "payment_intent" if ref.startswith("pi_") else "charge" if ref.startswith("ch_") else "refund"
        return json.dumps({"id": ref, "object": obj}, separators=(",", ":"))
    if txn.gateway == "paypal":
        return json.dumps({"transaction_id": ref}, separators=(",", ":"))
    return json.dumps({"reference": ref}, separators=(",", ":"))


class TransactionObj(Obj):
    """`r` is (order, transaction)."""

    __slots__ = ()

    @property
    def _t(self) -> ShopifyTransaction:
        return self.r[1]

    id = property(lambda self: gid("OrderTransaction", self._t.id))
    kind = property(lambda self: self._t.kind)
    status = property(lambda self: self._t.status)
    gateway = property(lambda self: self._t.gateway)
    formattedGateway = property(lambda self: GATEWAY_NAMES.get(self._t.gateway, self._t.gateway.title()))  # noqa: N815
    amountSet = property(lambda self: bag(self._t.amount, self._t.currency))  # noqa: N815
    authorizationCode = property(lambda self: self._t.reference)  # noqa: N815
    receiptJson = property(lambda self: _receipt(self._t))  # noqa: N815
    createdAt = property(lambda self: iso(self._t.created_at))  # noqa: N815
    processedAt = property(lambda self: iso(self._t.created_at))  # noqa: N815
    test = property(lambda self: False)
    accountNumber = property(lambda self: None)  # noqa: N815
    authorizationExpiresAt = property(lambda self: None)  # noqa: N815
    errorCode = property(lambda self: "CARD_DECLINED" if self._t.status == "FAILURE" else None)  # noqa: N815
    manualPaymentGateway = property(lambda self: self._t.gateway == "manual")  # noqa: N815
    manuallyCapturable = property(lambda self: _capturable(self.r[0], self._t))  # noqa: N815
    multiCapturable = property(lambda self: False)  # noqa: N815
    settlementCurrency = property(lambda self: None)  # noqa: N815
    totalUnsettledSet = property(  # noqa: N815
        lambda self: bag(self._t.amount if _capturable(self.r[0], self._t) else 0, self._t.currency))
    order = property(lambda self: OrderObj(self.ctx, self.r[0]))

    @property
    def paymentId(self) -> str:  # noqa: N802
        position = next(i for i, t in enumerate(self.r[0].transactions) if t.id == self._t.id)
        return f"{self.r[0].name}.{position + 1}"

    @property
    def parentTransaction(self) -> TransactionObj | None:  # noqa: N802
        parent_id = self._t.parent_id
        if parent_id is None:
            return None
        parent = next((t for t in self.r[0].transactions if t.id == parent_id), None)
        return TransactionObj(self.ctx, (self.r[0], parent)) if parent is not None else None


class FulfillmentObj(Obj):
    """`r` is (order, fulfillment)."""

    __slots__ = ()

    @property
    def _f(self) -> ShopifyFulfillment:
        return self.r[1]

    id = property(lambda self: gid("Fulfillment", self._f.id))
    legacyResourceId = property(lambda self: str(self._f.id))  # noqa: N815
    status = property(lambda self: self._f.status)
    displayStatus = property(lambda self: "FULFILLED" if self._f.status == "SUCCESS" else "CANCELED")  # noqa: N815
    createdAt = property(lambda self: iso(self._f.created_at))  # noqa: N815
    updatedAt = property(lambda self: iso(self._f.updated_at))  # noqa: N815
    deliveredAt = property(lambda self: None)  # noqa: N815
    estimatedDeliveryAt = property(lambda self: None)  # noqa: N815
    inTransitAt = property(lambda self: None)  # noqa: N815
    requiresShipping = property(lambda self: True)  # noqa: N815
    totalQuantity = property(lambda self: sum(q for _, q in self._f.line_items))  # noqa: N815
    order = property(lambda self: OrderObj(self.ctx, self.r[0]))

    @property
    def name(self) -> str:
        position = next(i for i, f in enumerate(self.r[0].fulfillments) if f.id == self._f.id)
        return f"{self.r[0].name}-F{position + 1}"

    def trackingInfo(self, info: Any, first: int | None = None) -> list:  # noqa: N802
        items = self._f.tracking[:first] if first is not None else self._f.tracking
        return [{"company": t.company, "number": t.number, "url": t.url} for t in items]

    def fulfillmentLineItems(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        rows = [(i, li_id, qty) for i, (li_id, qty) in enumerate(self._f.line_items)]
        view = View(rows, [(self._f.id * 100 + i, self._f.id * 100 + i) for i, _, _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda row: FulfillmentLineItemObj(self.ctx, (self.r[0], self._f, row)))

    def fulfillmentOrders(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        fo = FulfillmentOrderModel.of(self.ctx.api, self.r[0])
        rows = [fo] if fo is not None else []
        view = View(rows, [(self.r[0].id, self.r[0].id) for _ in rows], "int")
        return paginate(self.ctx, info, view, args, lambda m: FulfillmentOrderObj(self.ctx, m))

    @property
    def location(self) -> LocationObj | None:
        loc = self.ctx.api.fulfilling_location()
        return LocationObj(self.ctx, loc) if loc is not None else None

    @property
    def service(self) -> FulfillmentServiceObj | None:
        loc = self.ctx.api.fulfilling_location()
        return FulfillmentServiceObj(self.ctx, loc) if loc is not None and loc.fulfillment_service_handle else None


class FulfillmentLineItemObj(Obj):
    """`r` is (order, fulfillment, (position, line item id, quantity))."""

    __slots__ = ()

    @property
    def _li(self) -> ShopifyLineItem | None:
        return next((li for li in self.r[0].line_items if li.id == self.r[2][1]), None)

    id = property(lambda self: gid("FulfillmentLineItem", self.r[1].id * 100 + self.r[2][0]))
    quantity = property(lambda self: self.r[2][2])
    lineItem = property(lambda self: LineItemObj(self.ctx, (self.r[0], self._li)))  # noqa: N815

    @property
    def originalTotalSet(self) -> dict:  # noqa: N802
        li = self._li
        return bag((li.unit_price if li else 0) * self.r[2][2], self.r[0].currency)

    discountedTotalSet = originalTotalSet  # noqa: N815


@dataclass
class FulfillmentOrderModel:
    """The one fulfillment order the sandbox derives per order: its remaining work at one location."""

    order: ShopifyOrder
    location: ShopifyLocation | None
    remaining: dict[int, int]

    @classmethod
    def of(cls, api: ShopifyApi, order: ShopifyOrder) -> FulfillmentOrderModel | None:
        done = order.fulfilled_quantities()
        remaining = {li.id: max(0, li.current_quantity - done.get(li.id, 0))
                     for li in order.line_items if li.current_quantity > 0}
        return cls(order, api.fulfilling_location(), remaining)

    @property
    def status(self) -> str:
        if not any(self.remaining.values()) or self.order.cancelled_at is not None:
            return "CLOSED"
        if any(f.status == "SUCCESS" for f in self.order.fulfillments):
            return "IN_PROGRESS"
        return "OPEN"


class FulfillmentOrderObj(Obj):
    __slots__ = ()

    @property
    def _o(self) -> ShopifyOrder:
        return self.r.order

    id = property(lambda self: gid("FulfillmentOrder", self._o.id))
    orderId = property(lambda self: self._o.gid)  # noqa: N815
    orderName = property(lambda self: self._o.name)  # noqa: N815
    orderProcessedAt = property(lambda self: iso(self._o.created_at))  # noqa: N815
    order = property(lambda self: OrderObj(self.ctx, self._o))
    status = property(lambda self: self.r.status)
    requestStatus = property(lambda self: "UNSUBMITTED")  # noqa: N815
    createdAt = property(lambda self: iso(self._o.created_at))  # noqa: N815
    updatedAt = property(lambda self: iso(self._o.updated_at))  # noqa: N815
    fulfillAt = property(  # noqa: N815
        lambda self: iso(self._o.created_at.replace(minute=0, second=0, microsecond=0)))
    fulfillBy = property(lambda self: None)  # noqa: N815
    channelId = property(lambda self: None)  # noqa: N815

    @property
    def supportedActions(self) -> list[dict]:  # noqa: N802
        actions = {"OPEN": ["CREATE_FULFILLMENT", "MOVE", "HOLD", "SPLIT"],
                   "IN_PROGRESS": ["CREATE_FULFILLMENT", "HOLD", "SPLIT"]}.get(self.r.status, [])
        return [{"action": a, "externalUrl": None} for a in actions]

    @property
    def assignedLocation(self) -> dict:  # noqa: N802
        loc = self.r.location
        return {"address1": None, "address2": None, "city": None, "countryCode": "US",
                "location": LocationObj(self.ctx, loc) if loc else None, "name": loc.name if loc else "",
                "phone": None, "province": None, "zip": None}

    def lineItems(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        items = [li for li in self._o.line_items if li.id in self.r.remaining]
        return paginate(self.ctx, info, list_view(items), args, lambda li: FulfillmentOrderLineItemObj(self.ctx, (self.r, li)))

    def fulfillments(self, info: Any, **args: Any) -> Connection:
        return paginate(self.ctx, info, list_view(self._o.fulfillments), args,
                        lambda f: FulfillmentObj(self.ctx, (self._o, f)))


class FulfillmentOrderLineItemObj(Obj):
    """`r` is (fulfillment order model, line item)."""

    __slots__ = ()

    @property
    def _li(self) -> ShopifyLineItem:
        return self.r[1]

    id = property(lambda self: gid("FulfillmentOrderLineItem", self._li.id))
    lineItem = property(lambda self: LineItemObj(self.ctx, (self.r[0].order, self._li)))  # noqa: N815
    totalQuantity = property(lambda self: self._li.current_quantity)  # noqa: N815
    remainingQuantity = property(lambda self: self.r[0].remaining.get(self._li.id, 0))  # noqa: N815
    requiresShipping = property(lambda self: self._li.requires_shipping)  # noqa: N815
    sku = property(lambda self: self._li.sku)
    productTitle = property(lambda self: self._li.title)  # noqa: N815
    variantTitle = property(lambda self: self._li.variant_title)  # noqa: N815
    vendor = property(lambda self: None)
    originalUnitPriceSet = property(lambda self: bag(self._li.unit_price, self.r[0].order.currency))  # noqa: N815

    @property
    def inventoryItemId(self) -> str | None:  # noqa: N802
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return gid("InventoryItem", item.id) if item is not None else None

    @property
    def variant(self) -> VariantObj | None:
        item = self.ctx.api.index("variants").get(self._li.variant_id)
        return VariantObj(self.ctx, item) if item is not None else None


class FulfillmentServiceObj(Obj):
    """The fulfillment service behind a location (`r`)."""

    __slots__ = ()
    id = property(lambda self: gid("FulfillmentService", self.r.id, "?id=true"))
    handle = property(lambda self: self.r.fulfillment_service_handle)
    serviceName = property(lambda self: {"shiphero": "ShipHero"}.get(  # noqa: N815
        self.r.fulfillment_service_handle, self.r.fulfillment_service_handle.title()))
    callbackUrl = property(lambda self: None)  # noqa: N815
    fulfillmentOrdersOptIn = property(lambda self: True)  # noqa: N815
    inventoryManagement = property(lambda self: True)  # noqa: N815
    permitsSkuSharing = property(lambda self: True)  # noqa: N815
    trackingSupport = property(lambda self: True)  # noqa: N815
    type = property(lambda self: "THIRD_PARTY")
    location = property(lambda self: LocationObj(self.ctx, self.r))


class LocationObj(Obj):
    __slots__ = ()
    id = property(lambda self: gid("Location", self.r.id))
    legacyResourceId = property(lambda self: str(self.r.id))  # noqa: N815
    name = property(lambda self: self.r.name)
    isActive = property(lambda self: self.r.is_active)  # noqa: N815
    isFulfillmentService = property(lambda self: self.r.fulfillment_service_handle is not None)  # noqa: N815
    activatable = property(lambda self: not self.r.is_active)
    deactivatable = property(lambda self: self.r.is_active and self.r.fulfillment_service_handle is None)
    deletable = property(lambda self: False)
    addressVerified = property(lambda self: False)  # noqa: N815
    deactivatedAt = property(lambda self: None)  # noqa: N815
    fulfillsOnlineOrders = property(lambda self: self.r.is_active)  # noqa: N815
    shipsInventory = property(lambda self: self.r.is_active)  # noqa: N815
    hasUnfulfilledOrders = property(lambda self: False)  # noqa: N815
    createdAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    updatedAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    address = property(lambda self: {  # noqa: N815
        "address1": None, "address2": None, "city": None, "country": "United States", "countryCode": "US",
        "formatted": ["United States"], "latitude": None, "longitude": None, "phone": None, "province": None,
        "provinceCode": None, "zip": None})

    @property
    def hasActiveInventory(self) -> bool:  # noqa: N802
        return bool(self.ctx.api.index("levels_by_location").get(self.r.id))

    @property
    def fulfillmentService(self) -> FulfillmentServiceObj | None:  # noqa: N802
        return FulfillmentServiceObj(self.ctx, self.r) if self.r.fulfillment_service_handle else None

    def inventoryLevels(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        levels = self.ctx.api.index("levels_by_location").get(self.r.id, [])
        return paginate(self.ctx, info, list_view(levels, key=lambda lv: lv.inventory_item_id), args,
                        lambda lv: InventoryLevelObj(self.ctx, lv))

    def inventoryLevel(self, info: Any, inventoryItemId: str) -> InventoryLevelObj | None:  # noqa: N802, N803
        _, item_id = parse_gid(inventoryItemId)
        level = self.ctx.world.shopify_inventory_levels.get((item_id, self.r.id))
        return InventoryLevelObj(self.ctx, level) if level is not None else None


class InventoryItemObj(Obj):
    __slots__ = ()
    id = property(lambda self: gid("InventoryItem", self.r.id))
    legacyResourceId = property(lambda self: str(self.r.id))  # noqa: N815
    sku = property(lambda self: self.r.sku)
    tracked = property(lambda self: self.r.tracked)
    requiresShipping = property(lambda self: True)  # noqa: N815
    createdAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    updatedAt = property(lambda self: iso(self.r.updated_at or SHOP_EPOCH))  # noqa: N815
    duplicateSkuCount = property(lambda self: 0)  # noqa: N815
    harmonizedSystemCode = property(lambda self: None)  # noqa: N815
    countryCodeOfOrigin = property(lambda self: None)  # noqa: N815
    provinceCodeOfOrigin = property(lambda self: None)  # noqa: N815
    inventoryHistoryUrl = property(lambda self: None)  # noqa: N815
    unitCost = property(lambda self: None)  # noqa: N815
    variant = property(lambda self: VariantObj(self.ctx, self.r))

    def inventoryLevels(self, info: Any, **args: Any) -> Connection:  # noqa: N802
        levels = self.ctx.api.index("levels_by_item").get(self.r.id, [])
        return paginate(self.ctx, info, list_view(levels, key=lambda lv: lv.location_id), args,
                        lambda lv: InventoryLevelObj(self.ctx, lv))

    def inventoryLevel(self, info: Any, locationId: str) -> InventoryLevelObj | None:  # noqa: N802, N803
        _, location_id = parse_gid(locationId)
        level = self.ctx.world.shopify_inventory_levels.get((self.r.id, location_id))
        return InventoryLevelObj(self.ctx, level) if level is not None else None


def level_gid(level: ShopifyInventoryLevel) -> str:
    return gid("InventoryLevel", level.location_id, f"?inventory_item_id={level.inventory_item_id}")


class InventoryLevelObj(Obj):
    __slots__ = ()
    id = property(lambda self: level_gid(self.r))
    canDeactivate = property(lambda self: False)  # noqa: N815
    deactivationAlert = property(lambda self: None)  # noqa: N815
    createdAt = property(lambda self: iso(SHOP_EPOCH))  # noqa: N815
    updatedAt = property(lambda self: iso(self.r.updated_at))  # noqa: N815

    @property
    def item(self) -> InventoryItemObj:
        return InventoryItemObj(self.ctx, self.ctx.world.shopify_inventory_items.get(self.r.inventory_item_id))

    @property
    def location(self) -> LocationObj:
        return LocationObj(self.ctx, self.ctx.world.shopify_locations.get(self.r.location_id))

    def quantities(self, info: Any, names: list[str]) -> list[dict]:
        level = self.r
        values = {"available": level.available, "on_hand": level.on_hand,
                  "committed": max(0, level.on_hand - level.available)}
        return [{
            "id": gid("InventoryQuantity", level.location_id,
                      f"?inventory_item_id={level.inventory_item_id}&name={name}"),
            "name": name, "quantity": values.get(name, 0), "updatedAt": iso(level.updated_at),
        } for name in names]


class BulkOperationObj(Obj):
    __slots__ = ()
    id = property(lambda self: self.r.id)
    status = property(lambda self: self.r.status)
    errorCode = property(lambda self: self.r.error_code)  # noqa: N815
    createdAt = property(lambda self: iso(self.r.created_at))  # noqa: N815
    completedAt = property(lambda self: iso(self.r.completed_at))  # noqa: N815
    objectCount = property(lambda self: str(self.r.object_count))  # noqa: N815
    query = property(lambda self: self.r.query)
    type = property(lambda self: "QUERY")

    @property
    def rootObjectCount(self) -> str:  # noqa: N802
        run = self.ctx.api.bulk_runs.get(self.r.id)
        return str(run.root_object_count if run else 0)

    def _file_url(self) -> str:
        return f"{self.ctx.api.sandbox.base_url}/shopify/_bulk/{_gid_number(self.r.id, 'BulkOperation')}.jsonl"

    @property
    def fileSize(self) -> str | None:  # noqa: N802
        return str(self.r.file_size) if self.r.status == "COMPLETED" and self.r.result else None

    @property
    def url(self) -> str | None:  # no data, no file (Shopify answers null for an empty result)
        return self._file_url() if self.r.status == "COMPLETED" and self.r.result else None

    @property
    def partialDataUrl(self) -> str | None:  # noqa: N802
        return self._file_url() if self.r.status == "FAILED" and self.r.result else None


class AdjustmentGroupObj(Obj):
    """`r` is a dict describing one inventorySetQuantities application."""

    __slots__ = ()
    id = property(lambda self: self.r["id"])
    createdAt = property(lambda self: self.r["createdAt"])  # noqa: N815
    reason = property(lambda self: self.r["reason"])
    referenceDocumentUri = property(lambda self: self.r["referenceDocumentUri"])  # noqa: N815

    def changes(self, info: Any, inventoryItemIds: list[str] | None = None, locationIds: list[str] | None = None,  # noqa: N803
                quantityNames: list[str] | None = None) -> list[dict]:  # noqa: N803
        out = []
        world = self.ctx.world
        for change in self.r["changes"]:
            if inventoryItemIds is not None and gid("InventoryItem", change["item"]) not in inventoryItemIds:
                continue
            if locationIds is not None and gid("Location", change["location"]) not in locationIds:
                continue
            if quantityNames is not None and change["name"] not in quantityNames:
                continue
            item = world.shopify_inventory_items.get(change["item"])
            loc = world.shopify_locations.get(change["location"])
            out.append({"name": change["name"], "delta": change["delta"],
                        "quantityAfterChange": change["after"], "ledgerDocumentUri": None,
                        "item": InventoryItemObj(self.ctx, item) if item else None,
                        "location": LocationObj(self.ctx, loc) if loc else None})
        return out


# -------------------------------------------------------------------------------------------- roots
def _node(ctx: Ctx, value: str) -> Obj | None:
    kind, number = parse_gid(value)
    world = ctx.world
    if kind == "Order":
        order = world.shopify_orders.get(number)
        return OrderObj(ctx, order) if order else None
    if kind == "Fulfillment":
        hit = ctx.api.index("fulfillments").get(number)
        return FulfillmentObj(ctx, hit) if hit else None
    if kind == "FulfillmentOrder":
        order = world.shopify_orders.get(number)
        model = FulfillmentOrderModel.of(ctx.api, order) if order else None
        return FulfillmentOrderObj(ctx, model) if model else None
    if kind == "LineItem":
        hit = ctx.api.index("line_items").get(number)
        return LineItemObj(ctx, hit) if hit else None
    if kind == "OrderTransaction":
        hit = ctx.api.index("transactions").get(number)
        return TransactionObj(ctx, hit) if hit else None
    if kind == "Location":
        loc = world.shopify_locations.get(number)
        return LocationObj(ctx, loc) if loc else None
    if kind == "InventoryItem":
        item = world.shopify_inventory_items.get(number)
        return InventoryItemObj(ctx, item) if item else None
    if kind == "InventoryLevel":
        item_id = _query_param(value, "inventory_item_id")
        level = world.shopify_inventory_levels.get((item_id, number)) if item_id is not None else None
        return InventoryLevelObj(ctx, level) if level else None
    if kind == "ProductVariant":
        item = ctx.api.index("variants").get(number)
        return VariantObj(ctx, item) if item else None
    if kind == "BulkOperation":
        op = world.shopify_bulk_operations.get(value)
        return BulkOperationObj(ctx, op) if op is not None else None
    return None


def _query_param(value: str, name: str) -> int | None:
    match = re.search(rf"[?&]{name}=(\d+)", value)
    return int(match.group(1)) if match else None


_TYPE_BY_OBJ = {
    OrderObj: "Order", FulfillmentObj: "Fulfillment", FulfillmentOrderObj: "FulfillmentOrder",
    LineItemObj: "LineItem", TransactionObj: "OrderTransaction", LocationObj: "Location",
    InventoryItemObj: "InventoryItem", InventoryLevelObj: "InventoryLevel", VariantObj: "ProductVariant",
    BulkOperationObj: "BulkOperation", ProductObj: "Product", MailingAddressObj: "MailingAddress",
    FulfillmentLineItemObj: "FulfillmentLineItem", FulfillmentOrderLineItemObj: "FulfillmentOrderLineItem",
    AdjustmentGroupObj: "InventoryAdjustmentGroup",
}


def _resolve_type(value: Any, info: Any, abstract: Any) -> str | None:
    return _TYPE_BY_OBJ.get(type(value))


def _resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """graphql-core's default resolver, minus the generality the sandbox's objects don't need."""
    if type(source) is dict:
        return source.get(info.field_name)
    value = getattr(source, info.field_name, None)
    return value(info, **args) if callable(value) else value


def _never_awaitable(_value: Any) -> bool:
    return False  # every resolver here is synchronous; skip graphql-core's per-value awaitable probe


def _free_text_order(order: ShopifyOrder) -> str:
    return " ".join([order.name.lower(), order.email.lower(), *(t.lower() for t in order.tags)])


class Root:
    """QueryRoot and Mutation fields."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    # --- queries
    def orders(self, info: Any, sortKey: str = "PROCESSED_AT", query: str | None = None, **args: Any) -> Connection:  # noqa: N803
        api = self.ctx.api
        view = api.order_view(sortKey)
        narrow = {"UPDATED_AT": "updated_at", "CREATED_AT": "created_at", "PROCESSED_AT": "processed_at",
                  "ID": "id", "ORDER_NUMBER": "id"}.get(sortKey)
        view = api.filtered_view(("orders", sortKey), view, query, ORDER_SEARCH, narrow, _free_text_order, self.ctx,
                                 [info.path.key])
        return paginate(self.ctx, info, view, args, lambda o: OrderObj(self.ctx, o), top_level=True)

    def order(self, info: Any, id: str) -> OrderObj | None:  # noqa: A002
        kind, number = parse_gid(id)
        order = self.ctx.world.shopify_orders.get(number) if kind == "Order" else None
        return OrderObj(self.ctx, order) if order else None

    def node(self, info: Any, id: str) -> Obj | None:  # noqa: A002
        return _node(self.ctx, id)

    def nodes(self, info: Any, ids: list[str]) -> list:
        return [_node(self.ctx, value) for value in ids]

    def fulfillment(self, info: Any, id: str) -> FulfillmentObj | None:  # noqa: A002
        node = _node(self.ctx, id)
        return node if isinstance(node, FulfillmentObj) else None

    def fulfillmentOrder(self, info: Any, id: str) -> FulfillmentOrderObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, FulfillmentOrderObj) else None

    def locations(self, info: Any, includeInactive: bool = False, includeLegacy: bool = False,  # noqa: N803
                  sortKey: str = "NAME", query: str | None = None, **args: Any) -> Connection:  # noqa: N803
        rows = [loc for loc in self.ctx.world.shopify_locations if includeInactive or loc.is_active]
        if sortKey == "NAME":
            ordered = sorted(rows, key=lambda loc: (loc.name.lower(), loc.id))
            view = View(ordered, [(i, loc.id) for i, loc in enumerate(ordered)], "int")
        else:
            view = list_view(rows)
        view = self.ctx.api.filtered_view(("locations", sortKey, includeInactive), view, query, LOCATION_SEARCH, None,
                                          lambda loc: loc.name.lower(), self.ctx, [info.path.key]) if query else view
        return paginate(self.ctx, info, view, args, lambda loc: LocationObj(self.ctx, loc), top_level=True)

    def location(self, info: Any, id: str | None = None) -> LocationObj | None:  # noqa: A002
        if id is None:
            merchant = sorted((loc for loc in self.ctx.world.shopify_locations
                               if loc.is_active and not loc.fulfillment_service_handle), key=lambda loc: loc.id)
            return LocationObj(self.ctx, merchant[0]) if merchant else None
        node = _node(self.ctx, id)
        return node if isinstance(node, LocationObj) else None

    def inventoryItems(self, info: Any, query: str | None = None, **args: Any) -> Connection:  # noqa: N802
        api = self.ctx.api
        view = api._cached(("inventory_items", "id"), lambda: list_view(list(api.world.shopify_inventory_items)))
        view = api.filtered_view("inventory_items", view, query, INVENTORY_ITEM_SEARCH, "id",
                                 lambda i: i.sku.lower(), self.ctx, [info.path.key])
        return paginate(self.ctx, info, view, args, lambda i: InventoryItemObj(self.ctx, i), top_level=True)

    def inventoryItem(self, info: Any, id: str) -> InventoryItemObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, InventoryItemObj) else None

    def inventoryLevel(self, info: Any, id: str) -> InventoryLevelObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, InventoryLevelObj) else None

    def currentBulkOperation(self, info: Any, type: str = "QUERY") -> BulkOperationObj | None:  # noqa: N802, A002
        if type != "QUERY":
            return None
        ops = self.ctx.api.bulk_ops()
        return BulkOperationObj(self.ctx, ops[-1]) if ops else None

    def bulkOperation(self, info: Any, id: str) -> BulkOperationObj | None:  # noqa: N802, A002
        node = _node(self.ctx, id)
        return node if isinstance(node, BulkOperationObj) else None

    # --- mutations
    def fulfillmentCreate(self, info: Any, fulfillment: dict, message: str | None = None) -> dict:  # noqa: N802
        result = fulfillment_create(self.ctx, fulfillment)
        self.ctx.api.sandbox.stats.mutation(API, "fulfillmentCreate", result["fulfillment"] is not None)
        return result

    def fulfillmentTrackingInfoUpdate(self, info: Any, fulfillmentId: str, trackingInfoInput: dict,  # noqa: N802, N803
                                      notifyCustomer: bool | None = None) -> dict:  # noqa: N803
        result = tracking_info_update(self.ctx, fulfillmentId, trackingInfoInput)
        self.ctx.api.sandbox.stats.mutation(API, "fulfillmentTrackingInfoUpdate", result["fulfillment"] is not None)
        return result

    def inventorySetQuantities(self, info: Any, input: dict) -> dict:  # noqa: N802, A002
        result, applied = inventory_set_quantities(self.ctx, input)
        self.ctx.api.sandbox.stats.mutation(API, "inventorySetQuantities", applied)
        return result

    def bulkOperationRunQuery(self, info: Any, query: str, groupObjects: bool = True) -> dict:  # noqa: N802, N803
        result = bulk_run_query(self.ctx, query, groupObjects)
        self.ctx.api.sandbox.stats.mutation(API, "bulkOperationRunQuery", result["bulkOperation"] is not None)
        return result


# -------------------------------------------------------------------------------------- mutations
def _user_error(field_path: list[str] | None, message: str, code: str | None = None) -> dict:
    out: dict[str, Any] = {"field": field_path, "message": message}
    if code is not None:
        out["code"] = code
    return out


def _touch(world: World, order: ShopifyOrder) -> None:
    """The order changed now (the lifecycle's helper when it has one)."""
    touch = getattr(lifecycle, "touch_shopify_order", None)
    if touch is not None:
        touch(world, order)
    else:
        order.updated_at = world.clock
        world.changed()


def _tracking(spec: dict | None) -> list[ShopifyTrackingInfo]:
    if not spec:
        return []
    numbers = spec.get("numbers") or ([spec["number"]] if spec.get("number") else [])
    urls = spec.get("urls") or ([spec["url"]] if spec.get("url") else [])
    company = spec.get("company")
    return [ShopifyTrackingInfo(number=n, company=company, url=urls[i] if i < len(urls) else None)
            for i, n in enumerate(numbers)]


def fulfillment_create(ctx: Ctx, spec: dict) -> dict:
    """fulfillmentCreate: fulfil fulfillment-order line items (all remaining when none are listed)."""
    world = ctx.world
    missing = {"fulfillment": None, "userErrors": [_user_error(["fulfillment"], "Fulfillment order does not exist.")]}
    bad_quantity = {"fulfillment": None, "userErrors": [
        _user_error(["fulfillment"], "Invalid fulfillment order line item quantity requested.")]}
    order: ShopifyOrder | None = None
    wanted: dict[int, int] = {}
    for pair in spec.get("lineItemsByFulfillmentOrder") or []:
        number = _gid_number(pair.get("fulfillmentOrderId"), "FulfillmentOrder")
        found = world.shopify_orders.get(number) if number is not None else None
        if found is None or (order is not None and found.id != order.id):
            return missing
        order = found
        model = FulfillmentOrderModel.of(ctx.api, order)
        if model.status == "CLOSED":
            return bad_quantity
        lines = pair.get("fulfillmentOrderLineItems")
        if not lines:
            for li_id, qty in model.remaining.items():
                if qty > 0:
                    wanted[li_id] = wanted.get(li_id, 0) + qty
            continue
        for line in lines:
            li_id = _gid_number(line.get("id"), "FulfillmentOrderLineItem")
            qty = line.get("quantity") or 0
            if li_id not in model.remaining or qty <= 0 or wanted.get(li_id, 0) + qty > model.remaining[li_id]:
                return bad_quantity
            wanted[li_id] = wanted.get(li_id, 0) + qty
    if order is None:
        return missing
    if not wanted:
        return bad_quantity
    fulfillment = ShopifyFulfillment(
        id=world.next_id("shopify_fulfillment", 5_400_000_000_000),
        created_at=world.clock,
        updated_at=world.clock,
        status="SUCCESS",
        tracking=_tracking(spec.get("trackingInfo")),
        line_items=[(li.id, wanted[li.id]) for li in order.line_items if li.id in wanted],
    )
    order.fulfillments.append(fulfillment)
    _touch(world, order)
    return {"fulfillment": FulfillmentObj(ctx, (order, fulfillment)), "userErrors": []}


def tracking_info_update(ctx: Ctx, fulfillment_id: str, spec: dict) -> dict:
    number = _gid_number(fulfillment_id, "Fulfillment")
    hit = ctx.api.index("fulfillments").get(number) if number is not None else None
    if hit is None:
        return {"fulfillment": None, "userErrors": [_user_error(["fulfillmentId"], "Fulfillment does not exist.")]}
    order, fulfillment = hit
    fulfillment.tracking = _tracking(spec)
    fulfillment.updated_at = ctx.world.clock
    _touch(ctx.world, order)
    return {"fulfillment": FulfillmentObj(ctx, (order, fulfillment)), "userErrors": []}


def inventory_set_quantities(ctx: Ctx, spec: dict) -> tuple[dict, bool]:
    """inventorySetQuantities (2025-01 … 2026-01 shape: compareQuantity / ignoreCompareQuantity)."""
    world = ctx.world
    errors: list[dict] = []
    name = spec.get("name")
    if name not in ("available", "on_hand"):
        errors.append(_user_error(["input", "name"], "The quantity name must be either 'available' or 'on_hand'.",
                                  "INVALID_NAME"))
    if spec.get("reason") not in INVENTORY_REASONS:
        errors.append(_user_error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"))
    ignore_compare = bool(spec.get("ignoreCompareQuantity"))
    seen: set[tuple[int, int]] = set()
    plan: list[tuple[ShopifyInventoryLevel, int]] = []
    for i, qty in enumerate(spec.get("quantities") or []):
        where = ["input", "quantities", str(i)]
        item_id = _gid_number(qty.get("inventoryItemId"), "InventoryItem")
        location_id = _gid_number(qty.get("locationId"), "Location")
        if item_id is None or world.shopify_inventory_items.get(item_id) is None:
            errors.append(_user_error([*where, "inventoryItemId"], "The specified inventory item could not be found.",
                                      "INVALID_INVENTORY_ITEM"))
            continue
        if location_id is None or world.shopify_locations.get(location_id) is None:
            errors.append(_user_error([*where, "locationId"], "The specified location could not be found.",
                                      "INVALID_LOCATION"))
            continue
        if (item_id, location_id) in seen:
            errors.append(_user_error(where, "The combination of inventoryItemId and locationId must be unique.",
                                      "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
            continue
        seen.add((item_id, location_id))
        level = world.shopify_inventory_levels.get((item_id, location_id))
        if level is None:
            errors.append(_user_error([*where, "locationId"],
                                      "The specified inventory item is not stocked at the location.",
                                      "ITEM_NOT_STOCKED_AT_LOCATION"))
            continue
        value = qty.get("quantity")
        if value > 1_000_000_000:
            errors.append(_user_error([*where, "quantity"], "The total quantity can't be higher than 1,000,000,000.",
                                      "INVALID_QUANTITY_TOO_HIGH"))
            continue
        if value < -1_000_000_000:
            errors.append(_user_error([*where, "quantity"], "The total quantity can't be lower than -1,000,000,000.",
                                      "INVALID_QUANTITY_TOO_LOW"))
            continue
        if name == "on_hand" and value < 0:
            errors.append(_user_error([*where, "quantity"], "The quantity can't be negative.",
                                      "INVALID_QUANTITY_NEGATIVE"))
            continue
        if not ignore_compare:
            compare = qty.get("compareQuantity")
            current = level.available if name == "available" else level.on_hand
            if compare is None:
                errors.append(_user_error(
                    [*where, "compareQuantity"],
                    "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                    "COMPARE_QUANTITY_REQUIRED"))
                continue
            if compare != current:
                errors.append(_user_error([*where, "compareQuantity"],
                                          "The compareQuantity value does not match persisted value.",
                                          "COMPARE_QUANTITY_STALE"))
                continue
        plan.append((level, value))
    if errors:
        return {"inventoryAdjustmentGroup": None, "userErrors": errors}, False
    changes = []
    for level, value in plan:
        before_available, before_on_hand = level.available, level.on_hand
        if name == "available":
            if value != before_available:
                if hasattr(lifecycle, "set_shopify_available"):
                    lifecycle.set_shopify_available(world, level.inventory_item_id, level.location_id, value)
                else:
                    level.on_hand += value - level.available
                    level.available = value
                    level.updated_at = world.clock
                    world.changed()
            delta = level.available - before_available
            changes.append({"name": "available", "delta": delta, "after": level.available,
                            "item": level.inventory_item_id, "location": level.location_id})
            changes.append({"name": "on_hand", "delta": level.on_hand - before_on_hand, "after": level.on_hand,
                            "item": level.inventory_item_id, "location": level.location_id})
        else:
            if value != before_on_hand:
                level.available += value - level.on_hand
                level.on_hand = value
                level.updated_at = world.clock
                item = world.shopify_inventory_items.get(level.inventory_item_id)
                if item is not None:
                    item.updated_at = world.clock
                world.changed()
            changes.append({"name": "on_hand", "delta": level.on_hand - before_on_hand, "after": level.on_hand,
                            "item": level.inventory_item_id, "location": level.location_id})
            changes.append({"name": "available", "delta": level.available - before_available,
                            "after": level.available, "item": level.inventory_item_id,
                            "location": level.location_id})
    if all(change["delta"] == 0 for change in changes):
        return {"inventoryAdjustmentGroup": None, "userErrors": []}, False
    group = {
        "id": gid("InventoryAdjustmentGroup", world.next_id("shopify_inventory_adjustment_group", 100_000_000_000)),
        "createdAt": iso(world.clock), "reason": spec.get("reason"),
        "referenceDocumentUri": spec.get("referenceDocumentUri"),
        "changes": [c for c in changes if c["delta"] != 0 or c["name"] == name],
    }
    return {"inventoryAdjustmentGroup": AdjustmentGroupObj(ctx, group), "userErrors": []}, True


# ------------------------------------------------------------------------------------------- bulk
def _bulk_invalid(message: str) -> dict:
    return {"bulkOperation": None, "userErrors": [_user_error(["query"], message, "INVALID")]}


def _connection_fields(schema: GraphQLSchema, named: Any, selection_sets: list, fragments: dict,
                       depth: int, found: list[list]) -> bool:
    """Record every connection below as [depth, name, node selects `id`, has nested connections]."""
    any_found = False
    for runtime in (schema.get_possible_types(named) if is_abstract_type(named) else [named]):
        for sub in collect(schema, runtime, selection_sets, fragments).values():
            sub_def = runtime.fields.get(sub[0].name.value)
            if sub_def is None:
                continue
            sub_named = get_named_type(sub_def.type)
            if is_leaf_type(sub_named):
                continue
            if _is_connection(sub_named, sub_def):
                node_type, node_sel = _connection_node_selection(schema, sub_named, sub, fragments)
                selects_id = node_type is not None and "id" in collect(schema, node_type, node_sel, fragments)
                entry = [depth + 1, sub[0].name.value, selects_id, False]
                found.append(entry)
                if node_type is not None:
                    entry[3] = _connection_fields(schema, node_type, node_sel, fragments, depth + 1, found)
                any_found = True
            elif _connection_fields(schema, sub_named, [n.selection_set for n in sub], fragments, depth, found):
                any_found = True
    return any_found


class _Holder:
    """A stand-in field node holding a selection set (so selection lists can be merged)."""

    def __init__(self, selection_set: Any) -> None:
        self.selection_set = selection_set


def _connection_node_selection(schema: GraphQLSchema, conn_type: Any, nodes: list, fragments: dict):
    """The node type of a connection and the selection sets made on its nodes (via edges.node or nodes)."""
    node_type = get_named_type(conn_type.fields["nodes"].type) if "nodes" in conn_type.fields else None
    selections = []
    conn_fields = collect(schema, conn_type, [n.selection_set for n in nodes], fragments)
    for sub in conn_fields.values():
        name = sub[0].name.value
        if name == "nodes":
            selections.extend(s.selection_set for s in sub)
        elif name == "edges":
            edge_type = get_named_type(conn_type.fields["edges"].type)
            for edge_sub in collect(schema, edge_type, [s.selection_set for s in sub], fragments).values():
                if edge_sub[0].name.value == "node":
                    selections.extend(s.selection_set for s in edge_sub)
    return node_type, selections


def bulk_run_query(ctx: Ctx, query: str, group_objects: bool) -> dict:
    api = ctx.api
    schema = schema_for(ctx.version)
    try:
        document = parse(query)
    except GraphQLSyntaxError as err:
        message, _, _ = _syntax_error(query, err)
        return _bulk_invalid(f"Invalid bulk query: {message}")
    problems = validation_errors(schema, document)
    if problems:
        return _bulk_invalid(f"Invalid bulk query: {problems[0]['message']}")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if len(operations) != 1 or operations[0].operation.value != "query":
        return _bulk_invalid("Invalid bulk query: bulk queries must contain exactly one query operation.")
    root = schema.query_type
    roots = collect(schema, root, [operations[0].selection_set], fragments)
    found: list[list] = []
    _connection_fields(schema, root, [operations[0].selection_set], fragments, 0, found)
    if not found:
        return _bulk_invalid("Bulk queries must contain at least one connection.")
    if len(roots) != 1:
        return _bulk_invalid("Bulk queries must contain exactly one top-level field.")
    top = next(iter(roots.values()))
    top_def = root.fields[top[0].name.value]
    if not _is_connection(get_named_type(top_def.type), top_def):
        return _bulk_invalid("Bulk queries must have a connection field at the top level.")
    if len(found) > 5:
        return _bulk_invalid("Bulk queries cannot contain more than 5 connections.")
    if any(entry[0] > 2 for entry in found):
        return _bulk_invalid("Bulk queries cannot contain connections with a nesting depth greater than 2.")
    nested_parents_without_id = [name for _, name, selects_id, nested in found if nested and not selects_id]
    if nested_parents_without_id:
        return _bulk_invalid("The parent 'node' field for a nested connection must select the 'id' field. "
                             f"Connection fields without 'id': {', '.join(nested_parents_without_id)}.")
    running = [op for op in api.bulk_ops() if op.status in ("CREATED", "RUNNING", "CANCELING")]
    limit = 5 if ctx.version >= "2026-01" else 1
    if len(running) >= limit:
        return {"bulkOperation": None, "userErrors": [_user_error(
            None, f"A bulk query operation for this app and shop is already in progress: {running[-1].id}.",
            "OPERATION_IN_PROGRESS")]}
    world = ctx.world
    op = ShopifyBulkOperation(
        id=gid("BulkOperation", world.next_id("shopify_bulk_operation", 3_200_000_000_000)),
        query=query, status="CREATED", created_at=world.clock)
    world.shopify_bulk_operations.add(op)
    api.bulk_runs[op.id] = BulkRun(ctx.version, group_objects)
    api.start_bulk(op)
    return {"bulkOperation": BulkOperationObj(ctx, op), "userErrors": []}


async def _drive_bulk(api: ShopifyApi, op: ShopifyBulkOperation) -> None:
    try:
        while not bulk_step(api, op):
            await asyncio.sleep(0)  # between slices only: each slice reads the world in one go
    except Exception:  # noqa: BLE001 - a failed bulk query is reported on the operation, as Shopify does
        op.status, op.error_code, op.completed_at = "FAILED", "INTERNAL_SERVER_ERROR", api.world.clock
        api.world.changed()


def bulk_step(api: ShopifyApi, op: ShopifyBulkOperation) -> bool:
    """Run the next slice of a bulk query; write Shopify's JSONL (children after their parent). Done?"""
    run = api.bulk_runs[op.id]
    world = api.world
    schema = schema_for(run.version)
    document = parse(op.query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    ctx = Ctx(api, run.version, bulk=run)
    result = execute(schema, document, root_value=Root(ctx), context_value=ctx, type_resolver=_resolve_type,
                     field_resolver=_resolve_field, is_awaitable=_never_awaitable)
    if result.errors or not result.data:
        op.status, op.error_code, op.completed_at = "FAILED", "INTERNAL_SERVER_ERROR", world.clock
        op.result = "".join(run.lines).encode() or None
        world.changed()
        return True
    root = schema.query_type
    visited = 0
    for key, nodes in collect(schema, root, [operation.selection_set], fragments).items():
        conn_type = get_named_type(root.fields[nodes[0].name.value].type)
        node_type, selections = _connection_node_selection(schema, conn_type, nodes, fragments)
        for item in connection_items(result.data.get(key) or {}):
            visited += 1
            _emit(schema, node_type, selections, item, None, fragments, run.lines, api.sandbox.faults)
    run.position += visited
    run.root_object_count += visited
    op.object_count = len(run.lines)
    done = visited == 0 or run.snapshot is None or run.position >= len(run.snapshot.rows)
    if op.status == "CREATED":
        op.status = "RUNNING"
        world.changed()
    if done:
        body = "".join(run.lines).encode()
        op.status, op.completed_at = "COMPLETED", world.clock
        op.file_size, op.result = len(body), body
        run.lines, run.snapshot = [], None
        world.changed()
    return done


def _emit(schema: GraphQLSchema, node_type: Any, selections: list, item: Any, parent_id: str | None,
          fragments: dict, lines: list[str], faults: Any) -> None:
    if not isinstance(item, dict):
        return
    runtime = runtime_type(schema, node_type, item)
    line: dict[str, Any] = {}
    children = []
    for key, sub in collect(schema, runtime, selections, fragments).items():
        sub_def = runtime.fields.get(sub[0].name.value)
        if sub_def is None or key not in item:
            continue
        sub_named = get_named_type(sub_def.type)
        if not is_leaf_type(sub_named) and _is_connection(sub_named, sub_def):
            children.append((sub_named, sub, item[key]))
        else:
            line[key] = item[key]
    if parent_id is not None:
        line["__parentId"] = parent_id
    if runtime.name == "Order" and "id" in line and faults.mode == "hostile":
        _corrupt_order(faults, line)
    lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
    for conn_type, sub, value in children:
        child_type, child_selections = _connection_node_selection(schema, conn_type, sub, fragments)
        for child in connection_items(value or {}):
            _emit(schema, child_type, child_selections, child, item.get("id"), fragments, lines, faults)


# ------------------------------------------------------------------------------------------ request
def _cost_extension(api: ShopifyApi, requested: int, actual: int | None, available: float) -> dict:
    return {"cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {
            "maximumAvailable": float(api.config.capacity),
            "currentlyAvailable": int(available),
            "restoreRate": float(api.config.restore_rate),
        },
    }}


def handle_graphql(api: ShopifyApi, version: str, token: str, query: Any, variables: Any,
                   operation_name: str | None) -> dict:
    """One GraphQL request, start to finish, as Shopify answers it (always HTTP 200 from here)."""
    if not isinstance(query, str) or not query.strip():
        return {"errors": [{"message": "No query string was present"}]}
    schema = schema_for(version)
    try:
        document = parse(query)
    except GraphQLSyntaxError as err:
        message, line, column = _syntax_error(query, err)
        return {"errors": [_error(f"{message} at [{line}, {column}]", locations=[{"line": line, "column": column}],
                                  extensions={"code": "PARSE_ERROR"})]}
    problems = validation_errors(schema, document)
    if problems:
        return {"errors": problems}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
        if not operations:
            return {"errors": [{"message": f'No operation named "{operation_name}"'}]}
    elif len(operations) > 1:
        return {"errors": [{"message": "An operation name is required"}]}
    operation = operations[0]
    raw_variables = variables if isinstance(variables, dict) else {}
    problems = variable_errors(schema, operation, raw_variables)
    if problems:
        return {"errors": problems}
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    model = CostModel(schema, fragments, raw_variables)
    requested = model.cost(operation)
    if requested > MAX_QUERY_COST:
        return {"errors": [{
            "message": (
                f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
                "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
                "cost of a query is calculated.\n\n"
                "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
                "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"),
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST,
                           "documentation": RATE_LIMIT_DOCS},
        }]}
    limited = api.sandbox.rate_limited
    bucket = api.bucket(token)
    if limited:
        taken, _wait = bucket.try_take(requested)
        if not taken:
            api.sandbox.stats.throttled[API] += 1
            return {"errors": [{"message": "Throttled",
                                "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}],
                    "extensions": _cost_extension(api, requested, None, bucket.available)}
    ctx = Ctx(api, version)
    result = execute(schema, document, root_value=Root(ctx), context_value=ctx, variable_values=raw_variables,
                     operation_name=operation_name, type_resolver=_resolve_type,
                     field_resolver=_resolve_field, is_awaitable=_never_awaitable)
    data = result.data
    actual = model.cost(operation, ctx.sizes)
    api.sandbox.stats.charge(f"{API}:cost", actual)  # net of the refund: what the bucket keeps
    if limited:
        bucket.give_back(max(0, requested - actual))
        available = bucket.available
    else:
        available = api.config.capacity - actual
    if data and api.sandbox.faults.mode == "hostile":
        _corrupt_orders(api, schema, operation, fragments, data)
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [_format_execution_error(err) for err in result.errors]
    out["data"] = data
    extensions = _cost_extension(api, requested, actual, available)
    if ctx.search:
        extensions["search"] = ctx.search
    out["extensions"] = extensions
    return out


def _format_execution_error(err: GraphQLError) -> dict:
    return _error(err.message, err.nodes or [], list(err.path) if err.path is not None else None,
                  err.extensions or None)


def _corrupt_orders(api: ShopifyApi, schema: GraphQLSchema, operation: OperationDefinitionNode,
                    fragments: dict, data: dict) -> None:
    def visitor(type_name: str, value: dict) -> None:
        if type_name == "Order" and "id" in value:
            _corrupt_order(api.sandbox.faults, value)

    root = schema.mutation_type if operation.operation.value == "mutation" else schema.query_type
    walk_objects(schema, root, [_Holder(operation.selection_set)], data, fragments, visitor)


def _corrupt_order(faults: Any, rendered: dict) -> None:
    """hostile: malform the orders the seed picks (only fields the query selected can be hit)."""
    faults.corrupt("shopify.order", rendered, id_path=("id",), amount_path=("totalPriceSet", "shopMoney", "amount"),
                   currency_path=("currencyCode",), timestamp_path=("updatedAt",))


def _shopify_error_response(status: int, retry_after: float | None) -> Response:
    """Injected faults, in the shape Shopify's GraphQL endpoint gives them."""
    if status == 429:
        headers = {"Retry-After": f"{retry_after if retry_after is not None else 1.0:.1f}"}
        return JSONResponse({"errors": [{"message": "Throttled",
                                         "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}]},
                            status_code=429, headers=headers)
    request_id = str(uuid.uuid4())
    return JSONResponse({"errors": [{
        "message": f"Internal error. Looks like something went wrong on our end.\nRequest ID: {request_id} "
                   "(include this in support requests).",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }]}, status_code=status, headers={"X-Request-Id": request_id})


def build(sandbox: Sandbox) -> list[BaseRoute]:
    """The Shopify routes, mounted under /shopify."""
    api = ShopifyApi(sandbox, _CONFIGS.get(sandbox) or ShopifyConfig())
    _APIS[sandbox] = api
    sandbox.register_error_renderer(API, _shopify_error_response)
    sandbox.stats.limit(f"{API}:cost", api.config.capacity, api.config.restore_rate, "access token")

    async def graphql(request: Request) -> Response:
        requested_version = request.path_params["version"]
        version = served_version(requested_version)
        if version is None:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        token = request.headers.get("x-shopify-access-token")
        if token != sandbox.credentials.shopify_access_token:
            return JSONResponse({"errors": INVALID_TOKEN}, status_code=401)
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/graphql"):
            payload: Any = {"query": body.decode("utf-8", "replace")}
        else:
            try:
                payload = json.loads(body or b"{}")
            except json.JSONDecodeError:
                payload = None
        if not isinstance(payload, dict) or "query" not in payload:
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, status_code=400)
        # no awaits from here on: the event loop serialises every read and write of the world
        result = handle_graphql(api, version, token, payload.get("query"), payload.get("variables"),
                                payload.get("operationName"))
        headers = {"X-Shopify-API-Version": version, "X-Request-Id": str(uuid.uuid4())}
        return JSONResponse(result, headers=headers)

    async def bulk_file(request: Request) -> Response:
        op = sandbox.world.shopify_bulk_operations.get(gid("BulkOperation", request.path_params["number"]))
        if op is None or op.result is None:
            return Response("NoSuchKey", status_code=404, media_type="text/plain")
        return Response(op.result, media_type="application/jsonl")

    return [
        Route("/admin/api/{version}/graphql.json", graphql, methods=["POST"]),
        Route("/_bulk/{number}.jsonl", bulk_file, methods=["GET"]),
    ]
