"""Stripe's request rate limits, enforced when the sandbox runs with real limits.

The routes read them as `limits.NAME` when a request arrives, so a test shrinks one by patching this
module (`monkeypatch.setattr(limits, "TEST_MODE_RATE", 5)`), then rebuilds the buckets with
`state_for(sandbox).set_clock(...)`.
"""

TEST_MODE_RATE = 25  # requests per second in test mode (live mode allows 100)
LIVE_MODE_RATE = 100
ENDPOINT_RATE = 25  # per endpoint, unless stated otherwise
PI_UPDATES_PER_HOUR = 1000  # per PaymentIntent
