"""Stripe (REST v1) into `raw.stripe__payment_intents`, `raw.stripe__charges`, `raw.stripe__refunds` and
`raw.stripe__disputes`, through the `stripe_default` connection (password = secret key; host
api.stripe.com, or the sandbox with extra.base_path "/stripe"; optional extras `requests_per_second`
and `stripe_version`).

* `client.py`: bearer auth, pinned Stripe-Version, pacing under the documented rate.
* `pagination.py`: newest-first lists, `starting_after` cursors, `created` filters.
* `ratelimit.py`: Stripe's documented limits and the pacer (429s carry no Retry-After).
* `schema.py`: the raw row of each stream, and why list reads are stamped with the window end and
  event snapshots with the event's time.
* `streams.py`: the incremental mechanism (new objects by `created`, changed ones from `/v1/events`, a
  full listing when the events' 30 days do not reach back far enough) and the cursor.
"""

from shipshape.sources.stripe.streams import Charges, Disputes, PaymentIntents, Refunds

STREAMS = [PaymentIntents(), Charges(), Refunds(), Disputes()]
