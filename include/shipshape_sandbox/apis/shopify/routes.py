"""One GraphQL request end to end (auth, version, validation, cost and throttling, execution, faults)
and the Starlette routes mounted under /shopify (`build`).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from graphql import FragmentDefinitionNode, GraphQLSyntaxError, OperationDefinitionNode, execute, parse
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shipshape_sandbox.apis.shopify.common import (
    API,
    INVALID_TOKEN,
    MAX_QUERY_COST,
    RATE_LIMIT_DOCS,
    _error,
    gid,
)
from shipshape_sandbox.apis.shopify.cost import CostModel, walk_objects
from shipshape_sandbox.apis.shopify.resolvers import (
    Root,
    _corrupt_order,
    _Holder,
    _never_awaitable,
    _resolve_field,
    _resolve_type,
)
from shipshape_sandbox.apis.shopify.schema import (
    _syntax_error,
    schema_for,
    served_version,
    validation_errors,
    variable_errors,
)
from shipshape_sandbox.apis.shopify.state import _APIS, _CONFIGS, Ctx, ShopifyApi, ShopifyConfig

if TYPE_CHECKING:
    from typing import Any

    from graphql import GraphQLError, GraphQLSchema
    from starlette.requests import Request
    from starlette.routing import BaseRoute

    from shipshape_sandbox.server import Sandbox


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
