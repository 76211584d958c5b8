"""Stripe's error envelope (`StripeError`) and the errors the emulation answers: invalid and unknown
parameters, missing resources, the rate limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class StripeError(Exception):
    """An error answered in Stripe's envelope. `cacheable` is False for requests that fail before the
    endpoint starts executing (auth, rate limit, parameter validation): Stripe does not save those
    results under an idempotency key."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        cacheable: bool = False,
        headers: dict[str, str] | None = None,
        log_url: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.cacheable = cacheable
        self.headers = headers or {}
        self.log_url = log_url

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        if self.log_url:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error["type"] = self.type
        return {"error": error}


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def _unknown(names: list[str]) -> StripeError:
    if len(names) == 1:
        return _invalid(f"Received unknown parameter: {names[0]}", param=names[0], code="parameter_unknown")
    return _invalid(f"Received unknown parameters: {', '.join(names)}", param=names[0], code="parameter_unknown")


def _missing(param: str) -> StripeError:
    return _invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def _no_such(kind: str, object_id: str, param: str, status: int) -> StripeError:
    return StripeError(status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing", cacheable=True)


def rate_limit_error() -> StripeError:
    return StripeError(
        429,
        "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )
