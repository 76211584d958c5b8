"""ShipHero's public API, emulated over the world's ShipHero records.

- ``POST /auth/token`` (username, password) and ``POST /auth/refresh`` (refresh_token) issue 28-day JWT
  access tokens, as ShipHero's Auth0-backed endpoints do; errors use Auth0's ``error`` /
  ``error_description`` shape.
- ``POST /graphql`` runs a real GraphQL engine over a faithful subset of ShipHero's schema
  (``shiphero_schema.graphql``): every query answers a ``{request_id, complexity, data}`` wrapper, every
  order mutation an ``{request_id, complexity, order}`` one; connections page with graphene's offset
  cursors (``arrayconnection:<n>``, 100 items when ``first`` is not given).
- Credits are throttled as ShipHero does when ``sandbox.rate_limited``: 4004 credits per account, 60
  restored per second, each operation charged its complexity (connection size x nested cost, +1); short
  of credits the answer is ShipHero's error code 30, and past 7000 requests in 5 minutes an HTTP 429.

Facts checked: developer.shiphero.com (getting started, GraphQL primer, schema pages), a graphql-codegen
dump of ShipHero's schema in a public repository, and public clients handling error code 30.

The emulation is split along its seams: `state` (the constants, what the routes share per sandbox:
tokens, credit buckets, order extras, cached listings), `pagination` (cursors, connections, row
selection), `objects` (the GraphQL objects rendered from the world), `resolvers` (the root query
fields), `mutations` (the order mutations), `schema` (the SDL with resolvers attached), `cost` (an
operation's complexity in credits) and `routes` (auth, throttles, one request end to end, and `build`).
"""

from shipshape_sandbox.apis.shiphero.routes import build, render_error, run_graphql
from shipshape_sandbox.apis.shiphero.state import (
    API,
    CREDITS_PER_SECOND,
    MAX_CREDITS,
    TOKEN_TTL,
    ShipHeroState,
    state_for,
)

__all__ = ["API", "CREDITS_PER_SECOND", "MAX_CREDITS", "TOKEN_TTL", "ShipHeroState", "build", "render_error",
           "run_graphql", "state_for"]
