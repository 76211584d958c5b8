"""PayPal REST emulation: OAuth2 client credentials, Transaction Search, Orders v2 (show, track) and the
Add Tracking v1 API, rendered from the world's PayPal records.

Served under `/paypal`, so `https://api-m.paypal.com/v1/...` becomes `<sandbox>/paypal/v1/...`. Shapes follow
PayPal's published OpenAPI specs (paypal/paypal-rest-api-specifications: reporting_transactions_v1,
checkout_orders_v2, shipping_shipment_tracking_v1) and, where the specs and the live service disagree, the
live service as its clients observe it; each such choice is noted where it is made.

Behaviour worth knowing when writing a client against it:

- Tokens: `POST /v1/oauth2/token` (HTTP Basic client_id:secret, `grant_type=client_credentials`). A client
  asking again while its token is alive gets the same token with the remaining `expires_in`, as PayPal does.
  Tokens expire by the wall clock after `TOKEN_LIFETIME_SECONDS`.
- Transaction Search filters and sorts on `transaction_initiation_date` (the "transaction date"; AWS's
  PayPal connector documents it as the filtered field). A refund is its own T1107 row, so it appears in the
  window of its own date; a capture's later status change (S -> V on a full refund) does not move it into a
  later window: re-read a lookback if you need current statuses.
- Publishing lag: a transaction becomes visible `PUBLISH_LAG` after it happened, judged by the world clock;
  `last_refreshed_datetime` is `clock - PUBLISH_LAG`, the response's `end_date` is clamped to it, and a
  `start_date` after it is refused ("Data for the given start date is not available."), as PayPal does.
- Limits: the date range is at most 31 days; more than `MAX_RESULT_ITEMS` (10 000) matching rows answer
  400 `RESULTSET_TOO_LARGE` with no page, so clients must split the window.
- `balance_affecting_records_only=Y` (the default) leaves out denied (D) payments, which move no money.
- Rate limit (only when the sandbox's rate limits are real): PayPal publishes no numbers; we allow
  `RATE_PER_SECOND` requests per second per access token with a burst of `RATE_BURST`, answering 429
  `RATE_LIMIT_REACHED` with a Retry-After header.
- `PayPal-Request-Id` on the write calls: a repeated id answers the first successful response again
  (200 instead of 201 for `/track`) without applying anything; ids are kept for 6 hours as PayPal documents.

Deviations from the shared specs, all deliberate: times are rendered `...Z` (the live reporting API writes
`+0000`, which the spec's own pattern rejects); an empty search answers `"transaction_details": []` as the
live API does (the spec says minItems 1); `GET /v1/shipping/trackers` answers a `tracker_collection`
(`{"trackers": [...], "links": [...]}`), which is what PayPal returns and its clients read, although the spec
declares a single `tracker`; 401s for bad tokens use PayPal's OAuth shape `{"error", "error_description"}`.


The emulation is split along its seams: `settings` (what tests shorten, read when a request arrives),
`common` (the API's name, Transaction Search's codes, seeded ids), `errors` (PayPal's error bodies and
faults), `state` (tokens, request ids, tracker index, cached searches), `render` (world records as PayPal
JSON), `api` (`PayPalAPI`: tokens, the bearer check, the rate limit, `PayPal-Request-Id` replay),
`search` (Transaction Search), `orders` (Orders v2, Payments v2 captures), `trackers` (Add Tracking v1),
`writes` (the tracker checks and write both tracking APIs share) and `routes` (`build`).
"""

from shipshape_sandbox.apis.paypal.common import API, CAPTURE_STATUS_CODES, REFUND_STATUS_CODES
from shipshape_sandbox.apis.paypal.routes import build
from shipshape_sandbox.apis.paypal.settings import PUBLISH_LAG
from shipshape_sandbox.world import iso  # the time format the API renders; tests compare with it

__all__ = ["API", "CAPTURE_STATUS_CODES", "PUBLISH_LAG", "REFUND_STATUS_CODES", "build", "iso"]
