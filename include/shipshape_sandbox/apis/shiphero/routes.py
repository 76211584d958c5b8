"""The HTTP side under /shiphero: Auth0-style token and refresh endpoints, bearer authentication, the
request and credit throttles, injected faults in ShipHero's shapes, and one GraphQL request end to end
(`run_graphql`); `build` makes the routes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jwt
from graphql import GraphQLError, OperationType, execute, parse, validate
from graphql.utilities import get_operation_ast
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shipshape_sandbox.apis.shiphero.cost import operation_costs
from shipshape_sandbox.apis.shiphero.schema import schema
from shipshape_sandbox.apis.shiphero.state import (
    API,
    CREDITS_PER_SECOND,
    MAX_CREDITS,
    REQUEST_WINDOW_SECONDS,
    REQUESTS_PER_WINDOW,
    THROTTLE_CODE,
    TOKEN_AUDIENCE,
    TOKEN_ISSUER,
    TOKEN_SCOPE,
    TOKEN_TTL,
    ShipHeroState,
    state_for,
)
from shipshape_sandbox.server import Sandbox


def _auth0_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _unauthorized(code: str, description: str) -> JSONResponse:
    return JSONResponse({"code": code, "description": description}, status_code=401)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _issue_access_token(state: ShipHeroState) -> str:
    now = int(state.clock())
    payload = {
        "iss": TOKEN_ISSUER,
        "sub": state.subject,
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "azp": "sandbox" + state.secret[:24],
        "scope": TOKEN_SCOPE,
        "gty": "password",
    }
    return jwt.encode(payload, state.secret, algorithm="HS256")


def _token_response(state: ShipHeroState, refresh_token: str | None = None) -> JSONResponse:
    """A new access token, as /auth/token (with the refresh token) and /auth/refresh (without) answer."""
    body = {"access_token": _issue_access_token(state), "expires_in": TOKEN_TTL, "scope": TOKEN_SCOPE,
            "token_type": "Bearer"}
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return JSONResponse(body)


def _authenticate(state: ShipHeroState, request: Request) -> str | JSONResponse:
    header = request.headers.get("authorization")
    if not header:
        return _unauthorized("authorization_header_missing", "Authorization header is expected")
    parts = header.split()
    if parts[0].lower() != "bearer":
        return _unauthorized("invalid_header", "Authorization header must start with Bearer")
    if len(parts) != 2:
        return _unauthorized("invalid_header", "Authorization header must be Bearer token")
    try:
        claims = jwt.decode(
            parts[1], state.secret, algorithms=["HS256"], audience=TOKEN_AUDIENCE, issuer=TOKEN_ISSUER,
            options={"verify_exp": False, "verify_iat": False},
        )  # fmt: skip
    except jwt.InvalidAudienceError:
        return _unauthorized("invalid_claims", "incorrect claims, please check the audience and issuer")
    except jwt.InvalidIssuerError:
        return _unauthorized("invalid_claims", "incorrect claims, please check the audience and issuer")
    except jwt.PyJWTError:
        return _unauthorized("invalid_header", "Unable to parse authentication token.")
    if float(claims.get("exp", 0)) <= state.clock():
        return _unauthorized("token_expired", "token is expired")
    return str(claims.get("sub"))


def _throttle_error(operation: str, request_id: str, required: int, remaining: float, wait: float) -> dict:
    seconds = max(1, math.ceil(wait))
    have = max(0, int(remaining))
    return {
        "code": THROTTLE_CODE,
        "message": (
            f"There are not enough credits to perfom the requested operation, which requires {required} "
            f"credits. The account currently has {have} credits remaining, and you can get {required} "
            f"credits in {seconds} seconds"
        ),
        "operation": operation,
        "request_id": request_id,
        "required_credits": required,
        "remaining_credits": have,
        "time_remaining": f"{seconds} seconds",
    }


def render_error(status: int, retry_after: float | None) -> Response:
    """Injected faults as ShipHero shows them: throttles as its code 30 error, 5xx from its proxy."""
    if status == 429:
        wait = retry_after or 1.0
        body = {"errors": [_throttle_error("graphql", "0" * 24, MAX_CREDITS, 0, wait)], "data": None}
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}.get(
        status, "Internal Server Error"
    )
    html = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return HTMLResponse(html, status_code=status)


def build(sandbox: Sandbox) -> list[BaseRoute]:
    state = state_for(sandbox)
    creds = sandbox.credentials
    sandbox.register_error_renderer(API, render_error)
    sandbox.stats.limit(f"{API}:credits", MAX_CREDITS, CREDITS_PER_SECOND, "account")
    sandbox.stats.limit(f"{API}:requests", REQUESTS_PER_WINDOW, REQUESTS_PER_WINDOW / REQUEST_WINDOW_SECONDS, "account")

    async def auth_token(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _auth0_error(400, "invalid_request", "Missing required parameter: username")
        username, password = body.get("username"), body.get("password")
        if not username:
            return _auth0_error(400, "invalid_request", "Missing required parameter: username")
        if not password:
            return _auth0_error(400, "invalid_request", "Missing required parameter: password")
        if username != creds.shiphero_username or password != creds.shiphero_password:
            return _auth0_error(403, "invalid_grant", "Wrong email or password.")
        return _token_response(state, refresh_token=state.refresh_token)

    async def auth_refresh(request: Request) -> Response:
        body = await _json_body(request)
        token = body.get("refresh_token") if isinstance(body, dict) else None
        if not token:
            return _auth0_error(400, "invalid_request", "Missing required parameter: refresh_token")
        if token != state.refresh_token:
            return _auth0_error(403, "invalid_grant", "Unknown or invalid refresh token.")
        return _token_response(state)

    async def graphql_endpoint(request: Request) -> Response:
        body = await _json_body(request)
        subject = _authenticate(state, request)
        if isinstance(subject, Response):
            return subject
        if not isinstance(body, dict):
            return JSONResponse({"errors": [{"message": "POST body sent invalid JSON."}]}, status_code=400)
        return run_graphql(state, subject, body)

    return [
        Route("/auth/token", auth_token, methods=["POST"]),
        Route("/auth/refresh", auth_refresh, methods=["POST"]),
        Route("/graphql", graphql_endpoint, methods=["POST"]),
    ]


def run_graphql(state: ShipHeroState, subject: str, body: dict[str, Any]) -> Response:
    """Parse, validate, charge credits, execute: one GraphQL request against the world."""
    sandbox = state.sandbox
    query = body.get("query")
    variables = body.get("variables") or {}
    operation_name = body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return JSONResponse({"errors": [{"message": "Must provide query string."}]}, status_code=400)
    if not isinstance(variables, dict):
        return JSONResponse({"errors": [{"message": "Variables are invalid JSON."}]}, status_code=400)
    if sandbox.rate_limited:
        taken, wait = state.requests[subject].try_take(1)
        if not taken:
            sandbox.stats.throttled[API] += 1
            seconds = max(1, math.ceil(wait))
            body_429 = {
                "errors": [{"message": f"Too many requests. Try again in {seconds} seconds", "code": 429}]
            }
            return JSONResponse(body_429, status_code=429, headers={"Retry-After": str(seconds)})
    sandbox.stats.charge(f"{API}:requests", 1)
    built = schema()
    try:
        document = parse(query)
    except GraphQLError as error:
        return JSONResponse({"errors": [error.formatted]}, status_code=400)
    errors = validate(built, document)
    if errors:
        return JSONResponse({"errors": [e.formatted for e in errors]}, status_code=400)
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        message = (
            f"Unknown operation named '{operation_name}'."
            if operation_name
            else "Must provide operation name if query contains multiple operations."
        )
        return JSONResponse({"errors": [{"message": message}]}, status_code=400)
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    costs, analyzed, names = operation_costs(built, operation, fragments, variables)
    request_id = state.request_id()
    is_mutation = operation.operation == OperationType.MUTATION
    charge = sum(cost for key, cost in costs.items() if key not in analyzed)
    if charge > MAX_CREDITS:
        error = {
            "message": (
                f"The operation requires {charge} credits, more than the {MAX_CREDITS} credits an operation "
                "may use; ask for fewer items (first/last) in its connections"
            ),
            "operation": names[0] if names else None,
            "request_id": request_id,
            "required_credits": charge,
            "max_credits": MAX_CREDITS,
        }
        return JSONResponse({"errors": [error], "data": {key: None for key in costs}})
    if sandbox.rate_limited and charge:
        bucket = state.credits[subject]
        taken, wait = bucket.try_take(charge)
        if not taken:
            sandbox.stats.throttled[API] += 1
            if is_mutation:
                for name in names:
                    sandbox.stats.mutation(API, name, False)
            error = _throttle_error(names[0] if names else "", request_id, charge, bucket.available, wait)
            return JSONResponse({"errors": [error], "data": {key: None for key in costs}})
    sandbox.stats.charge(f"{API}:credits", charge)
    context = {
        "state": state,
        "subject": subject,
        "request_id": request_id,
        "complexity": costs,
        "analyze": analyzed,
    }
    result = execute(
        built, document, variable_values=variables, operation_name=operation_name, context_value=context
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    return JSONResponse(payload, status_code=200 if result.data is not None else 400)
