"""The routes mounted under /stripe (`build`): list and retrieve for each resource, a charge's refunds,
the two updates, Stripe's 404 for anything else, and injected faults in Stripe's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipshape_sandbox.apis.stripe import limits
from shipshape_sandbox.apis.stripe.api import _Api, _dumps, _respond, _route_path
from shipshape_sandbox.apis.stripe.common import API, DEFAULT_API_VERSION, _request_id
from shipshape_sandbox.apis.stripe.errors import StripeError, _no_such, rate_limit_error
from shipshape_sandbox.apis.stripe.listing import RESOURCES, list_objects, retrieve
from shipshape_sandbox.apis.stripe.mutations import _update_charge, _update_payment_intent
from shipshape_sandbox.apis.stripe.params import _check_known

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from shipshape_sandbox.apis.stripe.api import Ctx
    from shipshape_sandbox.apis.stripe.listing import Resource
    from shipshape_sandbox.server import Sandbox


def build(sandbox: Sandbox) -> list[BaseRoute]:
    api = _Api(sandbox)
    sandbox.register_error_renderer(API, _fault_renderer)
    sandbox.stats.limit(f"{API}:requests", limits.TEST_MODE_RATE, limits.TEST_MODE_RATE,
                        "secret key (test mode, global)")
    routes: list[BaseRoute] = []
    for resource in RESOURCES.values():
        routes.append(api.route(resource.path, _lister(api, resource)))
        routes.append(api.route(resource.path + "/{id}", _retriever(api, resource)))

    def charge_refunds(ctx: Ctx) -> tuple[int, dict]:
        charge_id = ctx.request.path_params["charge"]
        if api.world.stripe_charges.get(charge_id) is None:
            raise _no_such("charge", charge_id, "charge", 404)
        resource = RESOURCES["refund"]
        _check_known(ctx.params, ("limit", "starting_after", "ending_before", "expand"))
        status, payload = list_objects(api, resource, ctx, rows=api.state.refunds_of_charge(charge_id))
        payload["url"] = f"/v1/charges/{charge_id}/refunds"
        return status, payload

    routes.append(api.route("/v1/charges/{charge}/refunds", charge_refunds))
    routes.append(api.route(
        "/v1/charges/{id}", lambda ctx: _update_charge(api, ctx, ctx.request.path_params["id"]),
        methods=("POST",), operation="charges.update",
    ))
    routes.append(api.route(
        "/v1/payment_intents/{id}", lambda ctx: _update_payment_intent(api, ctx, ctx.request.path_params["id"]),
        methods=("POST",), operation="payment_intents.update",
    ))

    def unrecognized(ctx: Ctx) -> tuple[int, dict]:
        raise StripeError(
            404,
            f"Unrecognized request URL ({ctx.request.method}: {_route_path(ctx.request)}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    # Last, so a known path with an unsupported method also lands here, as on Stripe.
    routes.append(api.route("/{path:path}", unrecognized, methods=("GET", "POST", "DELETE", "PUT", "PATCH")))
    return routes


def _lister(api: _Api, resource: Resource) -> Callable[[Ctx], tuple[int, dict]]:
    return lambda ctx: list_objects(api, resource, ctx)


def _retriever(api: _Api, resource: Resource) -> Callable[[Ctx], tuple[int, dict]]:
    return lambda ctx: retrieve(api, resource, ctx, ctx.request.path_params["id"])


def _fault_renderer(status: int, retry_after: float | None) -> Response:
    """Injected faults in Stripe's shape. Stripe sends no Retry-After and, on rate limiting, no
    `Stripe-Should-Retry: true` (its SDKs do not retry rate-limit 429s by themselves)."""
    request_id = _request_id()
    if status == 429:
        err = rate_limit_error()
    else:
        err = StripeError(status, "An unknown error occurred", type_="api_error")
    return _respond(status, _dumps(err.body(request_id)), request_id, DEFAULT_API_VERSION)
