"""PayPal's responses and errors: the Paypal-Debug-Id on every response, the error body
`{name, message, debug_id, details[], links[]}`, Orders v2's issues with their information links, query
parameter errors, and injected faults in PayPal's shape.
"""

from __future__ import annotations

import math
import secrets
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from typing import Any

    from starlette.responses import Response

MESSAGES = {
    "INVALID_REQUEST": "Request is not well-formed, syntactically incorrect, or violates schema.",
    "AUTHENTICATION_FAILURE": "Authentication failed due to missing authorization header, or invalid "
    "authentication credentials.",
    "NOT_AUTHORIZED": "Authorization failed due to insufficient permissions.",
    "RESOURCE_NOT_FOUND": "The specified resource does not exist.",
    "UNPROCESSABLE_ENTITY": "The requested action could not be performed, semantically incorrect, or failed "
    "business validation.",
    "INTERNAL_SERVER_ERROR": "An internal server error occurred.",
    "SERVICE_UNAVAILABLE": "Service Unavailable.",
    "RATE_LIMIT_REACHED": "Too many requests. Blocked due to rate limiting.",
    "RESULTSET_TOO_LARGE": "Result set size is greater than the maximum limit. Change the filter criteria and "
    "try again.",
}
STATUS_NAMES = {
    400: "INVALID_REQUEST",
    401: "AUTHENTICATION_FAILURE",
    403: "NOT_AUTHORIZED",
    404: "RESOURCE_NOT_FOUND",
    422: "UNPROCESSABLE_ENTITY",
    429: "RATE_LIMIT_REACHED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
ORDERS_ERRORS = "https://developer.paypal.com/api/rest/reference/orders/v2/errors/#"
# The Orders v2 spec enumerates each issue's description; PayPal sends exactly these.
ISSUES = {
    "MISSING_REQUIRED_PARAMETER": "A required field / parameter is missing.",
    "INVALID_STRING_LENGTH": "The value of a field is either too short or too long.",
    "INVALID_PARAMETER_VALUE": "A parameter value is not valid.",
    "INVALID_PARAMETER_SYNTAX": "The value of a field does not conform to the expected format.",
    "CAPTURE_STATUS_NOT_VALID": "Invalid capture status. Tracker information can only be added to captures in "
    "`COMPLETED` state.",
    "CAPTURE_ID_NOT_FOUND": "Specified capture ID does not exist. Check the capture ID and try again.",
    "INVALID_RESOURCE_ID": "Specified resource ID does not exist. Please check the resource ID and try again.",
}


def debug_id() -> str:
    return secrets.token_hex(7)[:13]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """Every PayPal response carries a Paypal-Debug-Id header (and errors repeat it in the body)."""
    hdrs = {
        "Paypal-Debug-Id": body.get("debug_id")
        if isinstance(body, dict) and "debug_id" in body
        else debug_id()
    }
    hdrs.update(headers or {})
    return JSONResponse(body, status_code=status, headers=hdrs)


def error(
    status: int,
    *,
    name: str | None = None,
    message: str | None = None,
    details: list[dict[str, Any]] | None = None,
    links: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """PayPal's error body: {name, message, debug_id, details[], links[]}."""
    name = name or STATUS_NAMES.get(status, "INTERNAL_SERVER_ERROR")
    body: dict[str, Any] = {"name": name, "message": message or MESSAGES.get(name, name)}
    body["debug_id"] = debug_id()
    if details is not None:
        body["details"] = details
    body.update(extra)
    body["links"] = links if links is not None else []
    return _json(body, status, headers)


def orders_error(
    status: int,
    issue: str,
    field_: str | None = None,
    value: str | None = None,
    location: str = "body",
) -> JSONResponse:
    """An Orders v2 error: one detail and the information link PayPal attaches for its issue."""
    detail: dict[str, Any] = {}
    if field_ is not None:
        detail["field"] = field_
    if value is not None:
        detail["value"] = value
    if field_ is not None:
        detail["location"] = location
    detail.update({"issue": issue, "description": ISSUES[issue]})
    link = {"href": ORDERS_ERRORS + issue, "rel": "information_link", "method": "GET"}
    return error(status, details=[detail], links=[link])


def invalid_query(field_: str, issue: str, value: str | None = None, description: str | None = None):
    detail: dict[str, Any] = {"field": field_}
    if value is not None:
        detail["value"] = value
    detail.update({"location": "query", "issue": issue})
    if description:
        detail["description"] = description
    return error(400, details=[detail])


def render_fault(status: int, retry_after: float | None) -> Response:
    """Injected faults in PayPal's shape: 503 SERVICE_UNAVAILABLE, 429 RATE_LIMIT_REACHED (+ Retry-After)."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return error(status, headers=headers)
