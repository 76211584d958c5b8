"""The PayPal emulation's settings, read as `settings.NAME` when a request arrives, so a test shortens
one by patching this module (`monkeypatch.setattr(settings, "MAX_RESULT_ITEMS", 4)`).
"""

from __future__ import annotations

from datetime import timedelta

TOKEN_LIFETIME_SECONDS = 32_400  # what PayPal issues (9 h), counted down on reuse
PUBLISH_LAG = timedelta(hours=3)  # "It takes a maximum of three hours for executed transactions to appear"
MAX_RANGE = timedelta(days=31)
MAX_RESULT_ITEMS = 10_000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
RATE_PER_SECOND = 30.0  # PayPal publishes no limit: a plausible per-token request rate...
RATE_BURST = 50.0  # ...with a burst, leaky-bucket style
IDEMPOTENCY_TTL_SECONDS = 6 * 3600  # "The server stores keys for 6 hours"
