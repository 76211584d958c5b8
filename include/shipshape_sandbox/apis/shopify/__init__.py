"""The Shopify GraphQL Admin API, emulated over the sandbox world.

Serves `POST /shopify/admin/api/{version}/graphql.json` with a real GraphQL engine (graphql-core) over
`shopify_schema.graphql`, a faithful subset of Shopify's Admin schema, plus the bulk-operation result
files at `GET /shopify/_bulk/{id}.jsonl`. What it reproduces, and where each fact comes from:

- Versions 2025-01 … 2026-01 are served. A well-formed retired version falls forward to the oldest
  supported one (Shopify's documented rule); the `X-Shopify-API-Version` header names the version served.
  Anything else is a 404. Version differences that matter here are modelled (`groupObjects` on
  `bulkOperationRunQuery` from 2025-07, default flipped to false in 2026-01; five concurrent bulk queries
  from 2026-01; `CURRENT_TOTAL_PRICE` order sort key from 2025-10; root `bulkOperation(id:)` in 2026-01).
- Auth: `X-Shopify-Access-Token`; a wrong or missing token is Shopify's 401 body.
- Errors have graphql-ruby's shapes as Shopify returns them (captured live responses): parse errors
  (`PARSE_ERROR`), `undefinedField`, `argumentNotAccepted`, `missingRequiredArguments`,
  `selectionMismatch`, `argumentLiteralsIncompatible`, `INVALID_VARIABLE`, with `path` starting at the
  operation (`"query Name"`). Validation failures carry no `data` and no cost extension.
- Cost: every executed response carries `extensions.cost`. Requested cost follows Shopify's documented
  table (scalars and enums 0, objects 1, mutations 10) with the logarithmic connection sizing Shopify
  staff described (`2 + floor(2·ln(max(2, first))) × children`) and the adjustments live captures show
  (`MoneyBag`/`MoneyV2`/`PageInfo` free, a mutation payload's own fields free, `fulfillmentTrackingInfoUpdate`
  costing 50). Actual cost re-applies the rule to what was returned; the difference is refunded. The
  bucket is per access token, 2000 points restored at 100/s (Standard plan); a query above 1000 is
  `MAX_COST_EXCEEDED`, and a request the bucket can't pay for is HTTP 200 `THROTTLED`.
- Pagination: Shopify-style opaque cursors (base64 of `{"last_id", "last_value"}`), `first`/`last` up to
  250, `you must provide one of first or last`.

The gateway reference. `ShopifyTransaction.reference` (the Stripe PaymentIntent id, the PayPal capture id)
is exposed as `OrderTransaction.authorizationCode`, the field Shopify documents as the authorization code
"associated with the transaction" and which carries the external gateway's transaction reference, and it
is repeated inside `receiptJson` (a JSON-encoded string, as Shopify returns it) as the gateway's own
receipt: `{"id": "pi_…", "object": "payment_intent"}` for Stripe, `{"transaction_id": "…"}` for PayPal.
`paymentId` stays Shopify's own payment identifier (`#1001.1`), as on real orders.

The sandbox shop has one currency per order (shop money equals presentment money). Fulfillment orders are
derived from the order (one per order, assigned to the location that fulfils it), enough for the real
"query fulfillment orders, then fulfillmentCreate with tracking" workflow.


The emulation is split along its seams: `common` (constants, ids, money, the error shape), `schema`
(versions, the SDL, parse and validation errors), `cost` (query cost and the object walk), `search`,
`pagination`, `state` (what the routes share: buckets, views, indexes, bulk runs), `objects` (the
GraphQL objects), `resolvers` (root fields, mutations, bulk operations) and `routes` (one request end to
end, and `build`).
"""

from shipshape_sandbox.apis.shopify.common import SUPPORTED_VERSIONS, money
from shipshape_sandbox.apis.shopify.routes import build
from shipshape_sandbox.apis.shopify.schema import schema_for, served_version
from shipshape_sandbox.apis.shopify.state import ShopifyApi, ShopifyConfig, api_for, configure

__all__ = ["SUPPORTED_VERSIONS", "ShopifyApi", "ShopifyConfig", "api_for", "build", "configure", "money",
           "schema_for", "served_version"]
