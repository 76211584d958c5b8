"""What every Stripe route runs through (`_Api.route`): the API key (bearer or basic auth), the test-mode
rate limits, the parameters, Stripe's response headers, and `Idempotency-Key` replay for writes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.routing import Route

from shipshape_sandbox.apis.stripe import limits
from shipshape_sandbox.apis.stripe.common import API, DEFAULT_API_VERSION, IDEMPOTENCY_TTL, _request_id
from shipshape_sandbox.apis.stripe.errors import StripeError, _invalid, rate_limit_error
from shipshape_sandbox.apis.stripe.params import _flatten, parse_params
from shipshape_sandbox.apis.stripe.render import render_shipping
from shipshape_sandbox.apis.stripe.state import _Saved, state_for
from shipshape_sandbox.world import StripeShipping

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from starlette.requests import Request

    from shipshape_sandbox.server import Sandbox
    from shipshape_sandbox.world import World


@dataclass
class Ctx:
    request: Request
    request_id: str
    api_key: str
    params: dict[str, Any]
    idempotency_key: str | None = None


def _mask_key(key: str) -> str:
    for prefix in ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"):
        if key.startswith(prefix) and len(key) > len(prefix) + 4:
            rest = key[len(prefix) :]
            return prefix + "*" * (len(rest) - 4) + rest[-4:]
    if len(key) > 4:
        return "*" * (len(key) - 4) + key[-4:]
    return key


def _route_path(request: Request) -> str:
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _json_default(value: Any) -> Any:
    if isinstance(value, StripeShipping):
        return render_shipping(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()


def _respond(status: int, body: bytes, request_id: str, version: str, headers: dict[str, str] | None = None) -> Response:
    out = {"Request-Id": request_id, "Stripe-Version": version, "Cache-Control": "no-cache, no-store"}
    if headers:
        out.update(headers)
    return Response(body, status_code=status, media_type="application/json", headers=out)


class _Api:
    """The routes' shared machinery: auth, rate limits, parameters and idempotency (`listing` reads
    through it)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.state = state_for(sandbox)

    @property
    def world(self) -> World:
        return self.sandbox.world

    # --- auth and limits
    def authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials.strip()).decode().partition(":")[0]
            except ValueError:
                key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
                log_url=False,
            )
        if key != self.sandbox.credentials.stripe_secret_key:
            raise StripeError(
                401,
                f"Invalid API Key provided: {_mask_key(key)}",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
                log_url=False,
            )
        return key

    def throttle(self, key: str, endpoint: str) -> None:
        if not self.sandbox.rate_limited:
            return
        rate = limits.LIVE_MODE_RATE if key.startswith(("sk_live_", "rk_live_")) else limits.TEST_MODE_RATE
        ok, _ = self.state.global_buckets[rate][key].try_take(1)
        if ok:
            self.sandbox.stats.charge(f"{API}:requests", 1)
            ok, _ = self.state.endpoint_buckets[f"{key}:{endpoint}"].try_take(1)
        if not ok:
            raise rate_limit_error()

    # --- dispatch
    def route(
        self,
        template: str,
        handler: Callable[[Ctx], Any],
        methods: tuple[str, ...] = ("GET",),
        operation: str | None = None,
    ) -> Route:
        """A route running `handler` after auth and rate limits. A GET handler returns (status, payload);
        a POST handler returns (status, payload, applied) and runs under the idempotency rules."""
        api = self
        writes = methods == ("POST",)

        async def endpoint(request: Request) -> Response:
            request_id = _request_id()
            version = request.headers.get("stripe-version") or DEFAULT_API_VERSION
            body = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
            # No awaits from here on: the event loop serialises every read and write of the world.
            try:
                key = api.authenticate(request)
                api.throttle(key, f"{request.method} {template}")
                pairs = list(request.query_params.multi_items())
                if body:
                    pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                params = parse_params(pairs)
                ctx = Ctx(request, request_id, key, params, request.headers.get("idempotency-key") or None)
                if writes:
                    return api.post(ctx, handler, operation or template, version)
                status, payload = handler(ctx)
                return _respond(status, _dumps(payload), request_id, version)
            except StripeError as err:
                return _respond(err.status, _dumps(err.body(request_id)), request_id, version, err.headers)

        return Route(template, endpoint, methods=list(methods))

    def post(self, ctx: Ctx, handler: Callable[[Ctx], Any], operation: str, version: str) -> Response:
        """Run a state-changing request under Stripe's idempotency rules."""
        key = ctx.idempotency_key
        stats = self.sandbox.stats
        if not key:
            try:
                status, payload, applied = handler(ctx)
            except StripeError:
                stats.mutation(API, operation, False)
                raise
            stats.mutation(API, operation, applied)
            return _respond(status, _dumps(payload), ctx.request_id, version)

        if len(key) > 255:
            raise _invalid(
                "Invalid idempotency key: the key must be no longer than 255 characters.",
                param="idempotency_key",
            )
        path = _route_path(ctx.request)
        fingerprint = tuple(sorted(_flatten(ctx.params)))
        store = self.state.idempotency
        slot = (ctx.api_key, key)
        saved = store.get(slot)
        if saved is not None and self.world.clock - saved.created > IDEMPOTENCY_TTL:
            del store[slot]  # keys expire after 24 hours: the key is new again
            saved = None
        if saved is not None:
            stats.mutation(API, operation, False)
            if (saved.method, saved.path) != (ctx.request.method, path):
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                    f"('{saved.path}' vs '{path}'). Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    type_="idempotency_error",
                )
            if saved.fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    type_="idempotency_error",
                )
            stats.idempotent_replays[API] += 1
            headers = {"Idempotency-Key": key, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
            return _respond(saved.status, saved.body, ctx.request_id, version, headers)

        headers = {"Idempotency-Key": key, "Original-Request": ctx.request_id}
        try:
            status, payload, applied = handler(ctx)
        except StripeError as err:
            stats.mutation(API, operation, False)
            if not err.cacheable:  # failed before the endpoint began executing: nothing is saved
                raise
            status, body = err.status, _dumps(err.body(ctx.request_id))
            store[slot] = _Saved(self.world.clock, ctx.request.method, path, fingerprint, status, body, ctx.request_id)
            return _respond(status, body, ctx.request_id, version, {**err.headers, **headers})
        stats.mutation(API, operation, applied)
        if applied:
            stats.idempotency_keys_applied[f"{API}:{key}"] += 1
        body = _dumps(payload)
        store[slot] = _Saved(self.world.clock, ctx.request.method, path, fingerprint, status, body, ctx.request_id)
        return _respond(status, body, ctx.request_id, version, headers)
