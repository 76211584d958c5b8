"""PayPal: Transaction Search rows and Add Tracking trackers, into `raw.paypal__transactions` and
`raw.paypal__trackers`, through the `paypal_default` connection (login = client id, password = client
secret, host api-m.paypal.com; extra `requests_per_second`, default 20).

- `client`: OAuth2 client credentials with a cached, masked bearer token; pacing; 429 Retry-After.
- `pagination`: Transaction Search paging, the 31-day and 10 000-row limits, the publishing lag.
- `ratelimit`: the client-side request rate, since PayPal publishes none.
- `schema`: each stream's raw row (id, update time, checks).
- `streams`: the incremental mechanism of each stream, its cursor and its cost per run.
"""

from shipshape.sources.paypal.streams import TrackersStream, TransactionsStream

STREAMS = [TransactionsStream(), TrackersStream()]
