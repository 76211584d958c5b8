"""The Shopify schema by version (`shopify_schema.graphql`, `@since`/`@until`), and how Shopify's
graphql-ruby reports a bad document: parse errors, validation and variable errors in its shapes.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from graphql import (
    FieldNode,
    GraphQLSyntaxError,
    TypeInfo,
    TypeInfoVisitor,
    Undefined,
    Visitor,
    build_schema,
    get_named_type,
    is_enum_type,
    is_input_type,
    is_leaf_type,
    is_non_null_type,
    is_required_argument,
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

from shipshape_sandbox.apis.shopify.common import _VERSION_FORMAT, SUPPORTED_VERSIONS, _error

if TYPE_CHECKING:
    from typing import Any

    from graphql import (
        DocumentNode,
        FragmentDefinitionNode,
        GraphQLError,
        GraphQLSchema,
        InlineFragmentNode,
        OperationDefinitionNode,
    )


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


