"""What every PayPal route goes through (`PayPalAPI`): OAuth2 client-credentials tokens, the bearer check
and the per-token rate limit, and `PayPal-Request-Id` replay for the writes.
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from shipshape_sandbox.apis.paypal import settings
from shipshape_sandbox.apis.paypal.common import API, _seeded
from shipshape_sandbox.apis.paypal.errors import _json, error, render_fault
from shipshape_sandbox.apis.paypal.render import Renderer
from shipshape_sandbox.apis.paypal.state import _Replay, _State, _Token
from shipshape_sandbox.ratelimit import Buckets

if TYPE_CHECKING:
    from typing import Any

    from starlette.requests import Request
    from starlette.responses import Response

    from shipshape_sandbox.server import Sandbox

SCOPES = (
    "https://uri.paypal.com/services/reporting/search/read",
    "https://uri.paypal.com/services/payments/payment",
    "https://uri.paypal.com/services/payments/refund",
    "https://uri.paypal.com/services/payments/orders/client-side-integration",
    "https://uri.paypal.com/services/shipping/trackers/readwrite",
    "https://uri.paypal.com/services/disputes/read-seller",
    "https://uri.paypal.com/services/applications/webhooks",
    "openid",
)


class PayPalAPI:
    """The sandbox's PayPal: its state, its renderer, and the steps every route takes first (the bearer
    check and rate limit, `PayPal-Request-Id` replay). The routes themselves are functions of it."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.state = _State()
        self.render = Renderer(sandbox, self.state)
        seed = sandbox.world.seed
        self.app_id = "APP-" + _seeded(seed, "paypal-app", 17, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    # --- auth and limits
    async def token(self, request: Request) -> Response:
        creds = self.sandbox.credentials
        header = request.headers.get("authorization", "")
        client_id = secret = None
        if header[:6].lower() == "basic ":
            try:
                client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = None
        if client_id != creds.paypal_client_id or secret != creds.paypal_client_secret:
            return _json(
                {"error": "invalid_client", "error_description": "Client Authentication failed"}, 401
            )
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        grant = form.get("grant_type")
        if not grant:
            return _json({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}, 400)
        if grant != "client_credentials":
            return _json(
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Grant type {grant} is not supported",
                },
                400,
            )
        now = time.time()
        token = self.state.current.get(client_id)
        if token is None or token.expires_at - now < 1:
            value = "A21AA" + secrets.token_urlsafe(72).replace("-", "_")
            token = _Token(value, client_id, now + settings.TOKEN_LIFETIME_SECONDS)
            self.state.tokens[value] = token
            self.state.current[client_id] = token
            # Expired tokens are kept a day so their use still answers "not found in cache", not "forged".
            for stale in [k for k, t in self.state.tokens.items() if t.expires_at < now - 86_400]:
                del self.state.tokens[stale]
        nonce = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + secrets.token_urlsafe(32)
        return _json(
            {
                "scope": " ".join(SCOPES),
                "access_token": token.value,
                "token_type": "Bearer",
                "app_id": self.app_id,
                "expires_in": int(token.expires_at - now),
                "nonce": nonce,
            }
        )

    def authorize(self, request: Request) -> Response | None:
        """None when the bearer token is live (and under the rate limit), else PayPal's refusal."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer " or not header[7:].strip():
            return error(
                401,
                links=[
                    {
                        "href": "https://developer.paypal.com/docs/api/overview/#error",
                        "rel": "information_link",
                    }
                ],
            )
        value = header[7:].strip()
        token = self.state.tokens.get(value)
        if token is None:
            return _json(
                {"error": "invalid_token", "error_description": "Token signature verification failed"}, 401
            )
        if token.expires_at <= time.time():
            return _json(
                {"error": "invalid_token", "error_description": "Access Token not found in cache"}, 401
            )
        if self.sandbox.rate_limited:
            taken, wait = self._buckets()[value].try_take(1)
            if not taken:
                return render_fault(429, wait)
            self.sandbox.stats.charge(f"{API}:requests", 1)
        return None

    def _buckets(self) -> Buckets:
        """One leaky bucket per access token, rebuilt if the limits in `settings` were changed (tests do)."""
        buckets = self.state.buckets
        if buckets is None or (buckets.capacity, buckets.restore_rate) != (
            settings.RATE_BURST, settings.RATE_PER_SECOND
        ):
            buckets = self.state.buckets = Buckets(settings.RATE_BURST, settings.RATE_PER_SECOND)
        return buckets

    # --- idempotency (PayPal-Request-Id)
    def replay(self, request: Request, scope: str) -> tuple[str | None, Response | None]:
        key = request.headers.get("paypal-request-id")
        if not key:
            return None, None
        now = time.time()
        slot = f"{scope}:{key}"
        hit = self.state.replays.get(slot)
        if hit is not None and now - hit.stored_at < settings.IDEMPOTENCY_TTL_SECONDS:
            self.sandbox.stats.idempotent_replays[API] += 1
            return slot, _json(hit.body, 200 if hit.status == 201 else hit.status)
        return slot, None

    def remember(self, slot: str | None, key: str | None, status: int, body: Any, applied: bool) -> None:
        if slot is None:
            return
        self.state.replays[slot] = _Replay(status, body, time.time())
        if applied and key:
            self.sandbox.stats.idempotency_keys_applied[f"{API}:{key}"] += 1
