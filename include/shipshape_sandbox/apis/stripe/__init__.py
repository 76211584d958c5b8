"""Stripe REST API v1 emulation over the sandbox world, served under `/stripe`.

The official `stripe` SDK works against it by changing only its base address (it requests `/v1/...`
under the base). Served: list and retrieve for payment_intents, charges, refunds, disputes and events,
`GET /v1/charges/{id}/refunds`, and `POST /v1/charges/{id}` / `POST /v1/payment_intents/{id}` (shipping,
metadata, receipt_email, description, ...). Stripe's own conventions hold throughout: bearer or basic
auth with the secret key, form-encoded bracket parameters, cursor pagination newest first, `created[...]`
filters, `expand[]`, Stripe's error envelope and codes, `Idempotency-Key` replay, `Request-Id` and
`Stripe-Version` headers, and test-mode rate limits when the sandbox runs with real limits.

Every rendered object carries the full key set of Stripe's own example object (fixtures3.json); fields
the sandbox does not model hold the value a real test-mode object of this kind would hold.


The emulation is split along its seams: `common` (constants, request ids, stable tokens), `limits` (the
rate limits, which tests shrink by patching that module), `errors` (Stripe's error envelope), `params`
(bracket parameters and their checks), `templates` (the example objects' key sets), `render` (world
records as Stripe objects), `state` (what a sandbox's emulation keeps: `StripeState`, `state_for`),
`listing` (the listable kinds, pagination, filters, `expand[]`), `api` (auth, rate limits, idempotency:
what every route runs through), `mutations` (the two updates) and `routes` (`build`).
"""

from shipshape_sandbox.apis.stripe.common import API, DEFAULT_API_VERSION, EVENT_RETENTION
from shipshape_sandbox.apis.stripe.errors import StripeError
from shipshape_sandbox.apis.stripe.limits import TEST_MODE_RATE
from shipshape_sandbox.apis.stripe.routes import build
from shipshape_sandbox.apis.stripe.state import StripeState, state_for
from shipshape_sandbox.apis.stripe.templates import TEMPLATES

__all__ = ["API", "DEFAULT_API_VERSION", "EVENT_RETENTION", "TEMPLATES", "TEST_MODE_RATE", "StripeError",
           "StripeState", "build", "state_for"]
