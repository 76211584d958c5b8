"""ShipHero (public GraphQL API): the 3PL's orders, shipments and warehouse inventory.

- `client`: JWT auth and refresh, GraphQL over POST, credit-aware waits and code-30 repeats.
- `ratelimit`: the credit arithmetic (4004 credits, 60/s, complexity per connection).
- `pagination`: offset cursors walked ascending with re-anchoring, so nothing is skipped.
- `schema`: each stream's raw row (id, update time, checks).
- `streams`: `orders`, `shipments`, `inventory` -> raw.shiphero__<stream>.

Connection `shiphero_default`: login = username, password = password (or extra.refresh_token); host
public-api.shiphero.com, or the sandbox's host with extra.base_path "/shiphero".
"""

from shipshape.sources.shiphero.streams import Inventory, Orders, Shipments

STREAMS = [Orders(), Shipments(), Inventory()]
