"""Carrier tracking (an EasyPost-style tracker API): where each package is.

- `client`: HTTP Basic with the API key, base URL with or without /v2, optional request pacing.
- `ratelimit`: 429 + Retry-After (the shared retry loop), and an optional local pacer.
- `pagination`: newest-first `before_id` paging over a fixed update-time window.
- `schema`: the tracker's raw row.
- `streams`: `trackers` -> raw.tracking__trackers.

Connection `tracking_default`: password = the API key; host api.easypost.com (base path /v2), or the
sandbox's host with extra.base_path "/tracking".
"""

from shipshape.sources.tracking.streams import Trackers

STREAMS = [Trackers()]
