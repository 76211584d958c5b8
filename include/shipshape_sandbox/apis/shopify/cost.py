"""Query cost as Shopify computes it: selections by runtime type, the logarithmic connection sizing,
requested and actual cost (`CostModel`), and a walk over the objects a response returned.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    is_object_type,
)

from shipshape_sandbox.apis.shopify.common import _GID, FREE_TYPES, MUTATION_COST, MUTATION_COSTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from graphql import FragmentDefinitionNode, GraphQLObjectType, GraphQLSchema, OperationDefinitionNode


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


