"""Operation complexity as ShipHero charges it in credits: each connection costs its page size times
(1 + its nodes' nested cost), each query 1 more and each mutation 10.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    get_named_type,
)
from graphql.language import BooleanValueNode, IntValueNode, VariableNode

from shipshape_sandbox.apis.shiphero.state import DEFAULT_PAGE, MUTATION_COST


def _arg_value(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in node.arguments or ():
        if arg.name.value != name:
            continue
        value = arg.value
        if isinstance(value, VariableNode):
            return variables.get(value.name.value)
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, BooleanValueNode):
            return value.value
        return getattr(value, "value", None)
    return None


def _fields(selection_set: Any, fragments: dict[str, Any]) -> Iterable[FieldNode]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _fields(fragment.selection_set, fragments)


def _nested_cost(
    selection_set: Any, parent: Any, fragments: dict[str, Any], variables: dict[str, Any]
) -> int:
    """What a selection costs below its parent: each connection costs its page size times (1 + its
    nodes' own nested cost); plain objects cost what their connections cost; scalars are free."""
    if not isinstance(parent, GraphQLObjectType):
        return 0
    total = 0
    for node in _fields(selection_set, fragments):
        definition = parent.fields.get(node.name.value)
        if definition is None:
            continue
        target = get_named_type(definition.type)
        if not isinstance(target, GraphQLObjectType):
            continue
        inner = _nested_cost(node.selection_set, target, fragments, variables)
        if target.name.endswith("Connection"):
            size = _arg_value(node, "first", variables)
            if size is None:
                size = _arg_value(node, "last", variables)
            size = DEFAULT_PAGE if size is None else max(0, int(size))
            total += size * (1 + inner)
        else:
            total += inner
    return total


def operation_costs(
    built: GraphQLSchema, operation: Any, fragments: dict[str, Any], variables: dict[str, Any]
) -> tuple[dict[str, int], set[str], list[str]]:
    """Per top-level response key: its complexity; which keys only ask to be analysed; field names."""
    is_mutation = operation.operation == OperationType.MUTATION
    root = built.mutation_type if is_mutation else built.query_type
    costs: dict[str, int] = {}
    analyzed: set[str] = set()
    names: list[str] = []
    for node in _fields(operation.selection_set, fragments):
        name = node.name.value
        if name.startswith("__") or root is None or name not in root.fields:
            continue
        key = node.alias.value if node.alias else name
        target = get_named_type(root.fields[name].type)
        costs[key] = (MUTATION_COST if is_mutation else 1) + _nested_cost(
            node.selection_set, target, fragments, variables
        )
        names.append(name)
        if not is_mutation and _arg_value(node, "analyze", variables) is True:
            analyzed.add(key)
    return costs, analyzed, names
