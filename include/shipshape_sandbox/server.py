"""The sandbox process: one ASGI app serving all five APIs, plus `/_sandbox/*` control endpoints.

Each API lives in `shipshape_sandbox.apis.<name>` and exposes `build(sandbox) -> list[BaseRoute]`, mounted
under `/<name>`. Handlers are `async def` and never await while touching the world, so the event loop
serialises every read and write without locks.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from shipshape_sandbox.faults import FaultPolicy
from shipshape_sandbox.live import LiveClock
from shipshape_sandbox.world import World

API_NAMES = ("shopify", "stripe", "paypal", "shiphero", "tracking")
SHOPIFY_API_VERSION = "2025-10"


@dataclass(frozen=True)
class Credentials:
    """The secrets each emulated API accepts; derived from the seed so a restart keeps them."""

    shopify_access_token: str
    stripe_secret_key: str
    paypal_client_id: str
    paypal_client_secret: str
    shiphero_username: str
    shiphero_password: str
    tracking_api_key: str

    @classmethod
    def for_seed(cls, seed: int) -> Credentials:
        def token(label: str, n: int) -> str:
            return hashlib.sha256(f"shipshape-sandbox:{seed}:{label}".encode()).hexdigest()[:n]

        return cls(
            shopify_access_token="shpat_" + token("shopify", 32),
            stripe_secret_key="sk_test_" + token("stripe", 24),
            paypal_client_id="A" + token("paypal-id", 40).upper(),
            paypal_client_secret="E" + token("paypal-secret", 40).upper(),
            shiphero_username="ops@sandbox-merchant.example",
            shiphero_password=token("shiphero", 20),
            tracking_api_key="EZTK" + token("tracking", 28),
        )

    def as_json(self) -> dict[str, dict[str, str]]:
        return {
            "shopify": {"access_token": self.shopify_access_token},
            "stripe": {"secret_key": self.stripe_secret_key},
            "paypal": {"client_id": self.paypal_client_id, "client_secret": self.paypal_client_secret},
            "shiphero": {"username": self.shiphero_username, "password": self.shiphero_password},
            "tracking": {"api_key": self.tracking_api_key},
        }


@dataclass
class Stats:
    """What the sandbox has been asked and done; served at /_sandbox/stats."""

    requests: Counter = field(default_factory=Counter)  # "METHOD /path/template" -> count
    throttled: Counter = field(default_factory=Counter)  # api -> throttled responses served
    faults_injected: Counter = field(default_factory=Counter)  # "api:error|throttle|slow" -> count
    mutations_received: Counter = field(default_factory=Counter)  # "api:operation" -> count
    mutations_applied: Counter = field(default_factory=Counter)  # "api:operation" -> count
    idempotent_replays: Counter = field(default_factory=Counter)  # api -> repeated keys answered from cache
    idempotency_keys_applied: Counter = field(default_factory=Counter)  # "api:key" -> times a key changed state
    # What each rate limit charged, so a benchmark can compute the least time the limits allow from what
    # was really spent: "api:unit" -> units (requests, Shopify cost points net of refunds, ShipHero credits),
    # counted whether limits are on or off; `limits` holds each one's bucket (capacity, rate per second).
    charged: Counter = field(default_factory=Counter)
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def limit(self, key: str, capacity: float, rate: float, per: str) -> None:
        """Declare the rate limit `key` ("api:unit"): a bucket of `capacity` units refilled at `rate`/s per `per`."""
        self.limits[key] = {"capacity": float(capacity), "rate": float(rate), "per": per}

    def charge(self, key: str, units: float) -> None:
        self.charged[key] += units

    def mutation(self, api: str, operation: str, applied: bool) -> None:
        self.mutations_received[f"{api}:{operation}"] += 1
        if applied:
            self.mutations_applied[f"{api}:{operation}"] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "throttled": dict(self.throttled),
            "throttled_total": sum(self.throttled.values()),
            "faults_injected": dict(self.faults_injected),
            "mutations_received": dict(self.mutations_received),
            "mutations_applied": dict(self.mutations_applied),
            "mutations_received_total": sum(self.mutations_received.values()),
            "mutations_applied_total": sum(self.mutations_applied.values()),
            "idempotent_replays": dict(self.idempotent_replays),
            "charged": dict(self.charged),
            "limits": self.limits,
            "idempotency_keys_applied_more_than_once": sorted(
                k for k, n in self.idempotency_keys_applied.items() if n > 1
            ),
        }


# An API's own shape for an injected fault: (status, retry_after seconds or None) -> Response.
ErrorRenderer = Callable[[int, float | None], Response]


def _default_error(status: int, retry_after: float | None) -> Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    return JSONResponse({"error": "sandbox injected fault", "status": status}, status_code=status, headers=headers)


class Sandbox:
    """The world, its credentials, its faults, its rate-limit mode and its stats: what every API shares."""

    def __init__(
        self,
        world: World,
        *,
        faults: str = "none",
        rate_limits: str = "real",
        base_url: str = "http://127.0.0.1:8765",
        live: LiveClock | None = None,
    ) -> None:
        if rate_limits not in ("real", "off"):
            raise ValueError(f"rate_limits must be 'real' or 'off', not {rate_limits!r}")
        self.world = world
        self.credentials = Credentials.for_seed(world.seed)
        self.faults = FaultPolicy(faults, seed=world.seed)
        self.rate_limits = rate_limits
        self.base_url = base_url.rstrip("/")
        self.stats = Stats()
        self.error_renderers: dict[str, ErrorRenderer] = {}
        self.live = live  # None: the clock moves only with advance(); else it follows the wall clock

    @property
    def rate_limited(self) -> bool:
        return self.rate_limits == "real"

    def register_error_renderer(self, api: str, renderer: ErrorRenderer) -> None:
        """Let an API answer injected 5xx/429 faults in its own error shape."""
        self.error_renderers[api] = renderer

    def advance(self, hours: float) -> dict[str, Any]:
        from shipshape_sandbox import lifecycle

        before = self.world.clock
        applied = lifecycle.advance(self.world, timedelta(hours=hours))
        return {"from": before.isoformat(), "to": self.world.clock.isoformat(), "events_applied": applied}


class _FaultsAndStats:
    """ASGI middleware: counts requests and injects the fault policy's failures on API paths."""

    def __init__(self, app, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path.strip("/").split("/", 1)[0]
        if api in API_NAMES:
            fault = self.sandbox.faults.roll_request()
            if fault is not None:
                self.sandbox.stats.faults_injected[f"{api}:{fault}"] += 1
            if fault == "slow":
                await asyncio.sleep(self.sandbox.faults.slow_seconds)
            elif fault in ("error", "throttle"):
                status, retry = (503, None) if fault == "error" else (429, 1.0)
                if fault == "throttle":
                    self.sandbox.stats.throttled[api] += 1
                renderer = self.sandbox.error_renderers.get(api, _default_error)
                self.sandbox.stats.requests[f"{scope['method']} {path} (fault)"] += 1
                await renderer(status, retry)(scope, receive, send)
                return

        async def counting_send(message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", None)
                key = f"{scope['method']} {path if template is None else _full_template(scope, template)}"
                self.sandbox.stats.requests[key] += 1
                if message.get("status") == 429 and api in API_NAMES:
                    self.sandbox.stats.throttled[api] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


def _full_template(scope, template: str) -> str:
    root = scope.get("root_path", "") or ""
    return root + template if not template.startswith(root or "\0") else template


def _control_routes(sandbox: Sandbox) -> list[BaseRoute]:
    async def credentials(request: Request) -> Response:
        return JSONResponse(sandbox.credentials.as_json())

    async def truth(request: Request) -> Response:
        from shipshape_sandbox.truth import compute_truth

        return JSONResponse(compute_truth(sandbox.world))

    async def stats(request: Request) -> Response:
        return JSONResponse(sandbox.stats.as_json())

    async def advance(request: Request) -> Response:
        hours = request.query_params.get("hours")
        if hours is None:
            try:
                body = json.loads(await request.body() or b"{}")
            except json.JSONDecodeError:
                body = {}
            hours = body.get("hours")
        try:
            value = float(hours)
        except (TypeError, ValueError):
            return JSONResponse({"error": "give hours as ?hours=H or {\"hours\": H}"}, status_code=400)
        if value <= 0:
            return JSONResponse({"error": "hours must be positive"}, status_code=400)
        return JSONResponse(sandbox.advance(value))

    async def health(request: Request) -> Response:
        world = sandbox.world
        return JSONResponse(
            {
                "status": "ok",
                "clock": world.clock.isoformat(),
                "seed": world.seed,
                "faults": sandbox.faults.mode,
                "rate_limits": sandbox.rate_limits,
                "live": None if sandbox.live is None else {"speed": sandbox.live.speed},
                "counts": world_counts(world),
            }
        )

    return [
        Route("/credentials", credentials),
        Route("/truth", truth),
        Route("/stats", stats),
        Route("/advance", advance, methods=["POST"]),
        Route("/health", health),
    ]


def world_counts(world: World) -> dict[str, int]:
    """How many records each API serves: what `make demo` prints and ingest tests compare against."""
    return {
        "shopify.orders": len(world.shopify_orders),
        "shopify.inventory_items": len(world.shopify_inventory_items),
        "shopify.locations": len(world.shopify_locations),
        "stripe.payment_intents": len(world.stripe_payment_intents),
        "stripe.charges": len(world.stripe_charges),
        "stripe.refunds": len(world.stripe_refunds),
        "stripe.disputes": len(world.stripe_disputes),
        "stripe.events": len(world.stripe_events),
        "paypal.orders": len(world.paypal_orders),
        "paypal.captures": len(world.paypal_captures),
        "paypal.refunds": len(world.paypal_refunds),
        "paypal.trackers": len(world.paypal_trackers),
        "shiphero.orders": len(world.shiphero_orders),
        "shiphero.shipments": len(world.shiphero_shipments),
        "shiphero.products": len(world.shiphero_products),
        "tracking.trackers": len(world.trackers),
    }


def create_app(sandbox: Sandbox, apis: tuple[str, ...] = API_NAMES) -> Starlette:
    """The ASGI app: every API under its prefix, and the control endpoints under /_sandbox."""
    routes: list[BaseRoute] = [Mount("/_sandbox", routes=_control_routes(sandbox))]
    for name in apis:
        module = importlib.import_module(f"shipshape_sandbox.apis.{name}")
        routes.append(Mount(f"/{name}", routes=module.build(sandbox)))
    lifespan = None
    if sandbox.live is not None:
        live = sandbox.live

        def lifespan(app):  # noqa: ARG001 - Starlette's lifespan signature
            return live.ticking(sandbox.world)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return _FaultsAndStats(app, sandbox)  # type: ignore[return-value]
