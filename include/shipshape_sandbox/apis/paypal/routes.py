"""The routes mounted under /paypal (`build`), each on the one `PayPalAPI` of the sandbox."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from starlette.routing import Route

from shipshape_sandbox.apis.paypal import settings
from shipshape_sandbox.apis.paypal.api import PayPalAPI
from shipshape_sandbox.apis.paypal.common import API
from shipshape_sandbox.apis.paypal.errors import render_fault
from shipshape_sandbox.apis.paypal.orders import get_capture, get_order, track
from shipshape_sandbox.apis.paypal.search import transactions
from shipshape_sandbox.apis.paypal.trackers import add_trackers, get_tracker, list_trackers, put_tracker

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from shipshape_sandbox.server import Sandbox


def build(sandbox: Sandbox) -> list[BaseRoute]:
    """The PayPal routes, mounted under /paypal."""
    api = PayPalAPI(sandbox)
    sandbox.register_error_renderer(API, render_fault)
    sandbox.stats.limit(f"{API}:requests", settings.RATE_BURST, settings.RATE_PER_SECOND, "access token")
    return [
        Route("/v1/oauth2/token", api.token, methods=["POST"]),
        Route("/v1/reporting/transactions", partial(transactions, api), methods=["GET"]),
        Route("/v2/checkout/orders/{order_id}", partial(get_order, api), methods=["GET"]),
        Route("/v2/checkout/orders/{order_id}/track", partial(track, api), methods=["POST"]),
        Route("/v2/payments/captures/{capture_id}", partial(get_capture, api), methods=["GET"]),
        Route("/v1/shipping/trackers", partial(list_trackers, api), methods=["GET"]),
        Route("/v1/shipping/trackers", partial(add_trackers, api), methods=["POST"]),
        Route("/v1/shipping/trackers-batch", partial(add_trackers, api), methods=["POST"]),
        Route("/v1/shipping/trackers/{tracker_id}", partial(get_tracker, api), methods=["GET"]),
        Route("/v1/shipping/trackers/{tracker_id}", partial(put_tracker, api), methods=["PUT"]),
    ]
