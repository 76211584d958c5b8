"""The Shopify GraphQL Admin API emulation, exercised over real HTTP against hand-built worlds.

Expected error bodies and cost figures are Shopify's own where a live capture exists (noted per test).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shipshape_sandbox.apis import shopify
from shipshape_sandbox.runner import running
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import (
    Address,
    ShopifyBulkOperation,
    ShopifyInventoryItem,
    ShopifyInventoryLevel,
    ShopifyLineItem,
    ShopifyLocation,
    ShopifyOrder,
    ShopifyShippingLine,
    ShopifyTransaction,
    World,
)

CLOCK = datetime(2026, 11, 1, tzinfo=UTC)
ADDRESS = Address("Ada", "Lovelace", "1 Main St", "Apt 2", "Reno", "Nevada", "NV", "89501", "United States", "US")
WAREHOUSE, STORE, ITEM = 71_000_000_001, 71_000_000_002, 44_000_000_001


def make_world(orders: int = 6) -> World:
    """Orders #1001.. created a day apart and updated in a different order, each with two line items."""
    world = World(clock=CLOCK, seed=7)
    world.shopify_locations.add(ShopifyLocation(WAREHOUSE, "ShipHero Warehouse (Reno)", "shiphero"))
    world.shopify_locations.add(ShopifyLocation(STORE, "Flagship Store", None))
    world.shopify_inventory_items.add(ShopifyInventoryItem(
        ITEM, "TEE-M", 45_000_000_001, 46_000_000_001, "Tee", "M", 1500, updated_at=CLOCK - timedelta(days=2)))
    world.shopify_inventory_levels[(ITEM, WAREHOUSE)] = ShopifyInventoryLevel(ITEM, WAREHOUSE, 10, 12, CLOCK - timedelta(days=2))
    world.shopify_inventory_levels[(ITEM, STORE)] = ShopifyInventoryLevel(ITEM, STORE, 3, 3, CLOCK - timedelta(days=2))
    for i in range(orders):
        order_id = 6_100_000_000 + i
        order = ShopifyOrder(
            id=order_id, name=f"#{1001 + i}", created_at=CLOCK - timedelta(days=30 - i),
            updated_at=CLOCK - timedelta(days=10, hours=(i * 7) % orders), currency="USD",
            email=f"buyer{i}@example.com", shipping_address=ADDRESS,
            shipping_line=ShopifyShippingLine("ups_ground", "UPS Ground", 500),
            line_items=[
                ShopifyLineItem(7_000_000 + 2 * i, 46_000_000_001, 45_000_000_001, "TEE-M", "Tee", "M", 2, 2, 1500),
                ShopifyLineItem(7_000_001 + 2 * i, 46_000_000_002, 45_000_000_002, "MUG", "Mug", None, 1, 1, 1250),
            ],
        )
        order.transactions.append(ShopifyTransaction(
            8_000_000 + i, "SALE", "SUCCESS", "stripe", order.total(), "USD", f"pi_test{i}", order.created_at))
        world.shopify_orders.add(order)
    return world


@pytest.fixture
def world() -> World:
    return make_world()


class Client:
    def __init__(self, base: str, sandbox: Sandbox, version: str = "2025-10") -> None:
        self.base, self.sandbox, self.version = base, sandbox, version
        self.http = httpx.Client(timeout=30)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc) -> None:
        self.http.close()

    def post(self, query: str, variables: dict | None = None, *, version: str | None = None,
             token: str | None = None) -> httpx.Response:
        headers = {"X-Shopify-Access-Token": token or self.sandbox.credentials.shopify_access_token}
        url = f"{self.base}/shopify/admin/api/{version or self.version}/graphql.json"
        return self.http.post(url, json={"query": query, "variables": variables}, headers=headers)

    def gql(self, query: str, variables: dict | None = None, **kwargs) -> dict:
        response = self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def client(world: World):
    sandbox = Sandbox(world, rate_limits="off")
    with running(sandbox) as base, Client(base, sandbox) as client:
        yield client


PAGE = """query Page($after: String, $query: String, $sortKey: OrderSortKeys, $reverse: Boolean) {
  orders(first: 2, after: $after, query: $query, sortKey: $sortKey, reverse: $reverse) {
    edges { cursor node { id name updatedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def page_all(client: Client, **variables) -> list[str]:
    names, after, pages = [], None, 0
    while True:
        body = client.gql(PAGE, {**variables, "after": after})
        conn = body["data"]["orders"]
        names += [edge["node"]["name"] for edge in conn["edges"]]
        assert conn["pageInfo"]["hasPreviousPage"] is (pages > 0)
        assert conn["pageInfo"]["endCursor"] == (conn["edges"][-1]["cursor"] if conn["edges"] else None)
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            return names
        after = conn["pageInfo"]["endCursor"]


def test_paging_by_updated_at_with_a_window_query_returns_exactly_the_window(client, world):
    low, high = CLOCK - timedelta(days=10, hours=4), CLOCK - timedelta(days=10, hours=1)
    query = f"updated_at:>='{low.isoformat().replace('+00:00', 'Z')}' AND updated_at:<'{high.isoformat()}'"
    expected = [o.name for o in sorted(world.shopify_orders, key=lambda o: (o.updated_at, o.id))
                if low <= o.updated_at < high]
    assert len(expected) == 3
    assert page_all(client, query=query, sortKey="UPDATED_AT") == expected
    assert page_all(client, query=query, sortKey="UPDATED_AT", reverse=True) == expected[::-1]
    # a space means AND too; and created_at filters with ID order
    created = f"created_at:>=2026-10-05 created_at:<='{(CLOCK - timedelta(days=26)).isoformat()}'"
    assert page_all(client, query=created, sortKey="ID") == ["#1004", "#1005"]
    # the whole list, in the default (processed at) order
    assert page_all(client) == [f"#{1001 + i}" for i in range(6)]
    # a field orders can't be searched by is ignored, with Shopify's search warning
    body = client.gql('{ orders(first: 10, query: "colour:red name:#1002") { nodes { name } } }')
    assert body["data"]["orders"]["nodes"] == [{"name": "#1002"}]
    assert body["extensions"]["search"] == [{
        "path": ["orders"], "query": "colour:red name:#1002",
        "parsed": {"and": [{"field": "colour", "match_all": "red"}, {"field": "name", "match_all": "#1002"}]},
        "warnings": [{"field": "colour", "message": "Invalid search field for this query.", "code": "invalid_field"}]}]


def test_cursors_are_opaque_shopify_style_and_last_before_page_backwards(client, world):
    body = client.gql("{ orders(first: 3, sortKey: ID) { edges { cursor } pageInfo { endCursor } } }")
    cursor = body["data"]["orders"]["pageInfo"]["endCursor"]
    decoded = json.loads(base64.b64decode(cursor))
    assert decoded == {"last_id": 6_100_000_002, "last_value": 6_100_000_002}
    body = client.gql('query($c: String) { orders(last: 2, before: $c, sortKey: ID) { nodes { name } '
                      'pageInfo { hasNextPage hasPreviousPage } } }', {"c": cursor})
    assert body["data"]["orders"] == {"nodes": [{"name": "#1001"}, {"name": "#1002"}],
                                      "pageInfo": {"hasNextPage": True, "hasPreviousPage": False}}


def test_order_fields_render_in_shopify_shapes(client, world):
    order = world.shopify_orders.get(6_100_000_000)
    body = client.gql("""query($id: ID!) { order(id: $id) {
        id legacyResourceId name email currencyCode displayFinancialStatus displayFulfillmentStatus
        totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount } }
        netPaymentSet { shopMoney { amount } } totalRefundedSet { shopMoney { amount } }
        shippingAddress { name address1 provinceCode zip countryCodeV2 }
        shippingLine { code title source originalPriceSet { shopMoney { amount } } }
        lineItems(first: 5) { nodes { sku quantity currentQuantity variantTitle originalUnitPriceSet { shopMoney { amount } } } }
        transactions(first: 5) { kind status gateway authorizationCode receiptJson paymentId amountSet { shopMoney { amount } } }
    } }""", {"id": order.gid})
    data = body["data"]["order"]
    assert data["legacyResourceId"] == "6100000000"  # UnsignedInt64 travels as a string
    assert data["totalPriceSet"] == {"shopMoney": {"amount": "47.5", "currencyCode": "USD"},
                                     "presentmentMoney": {"amount": "47.5"}}
    assert data["netPaymentSet"]["shopMoney"]["amount"] == "47.5"
    assert data["totalRefundedSet"]["shopMoney"]["amount"] == "0.0"
    assert (data["displayFinancialStatus"], data["displayFulfillmentStatus"]) == ("PAID", "UNFULFILLED")
    assert data["shippingAddress"] == {"name": "Ada Lovelace", "address1": "1 Main St", "provinceCode": "NV",
                                       "zip": "89501", "countryCodeV2": "US"}
    assert data["shippingLine"]["originalPriceSet"]["shopMoney"]["amount"] == "5.0"
    assert data["transactions"] == [{
        "kind": "SALE", "status": "SUCCESS", "gateway": "stripe", "authorizationCode": "pi_test0",
        "receiptJson": '{"id":"pi_test0","object":"payment_intent"}', "paymentId": "#1001.1",
        "amountSet": {"shopMoney": {"amount": "47.5"}}}]


def test_unknown_field_and_other_validation_errors_have_shopifys_shape(client):
    # live captures (2025-01) of these exact documents
    response = client.post("query GraphqlBaseValidationUnknownOrderField {\n  orders(first: 1) {\n    nodes {\n"
                           "      id\n      definitelyNotAnOrderField\n    }\n  }\n}\n")
    assert response.status_code == 200
    assert response.json() == {"errors": [{
        "message": "Field 'definitelyNotAnOrderField' doesn't exist on type 'Order'",
        "locations": [{"line": 5, "column": 7}],
        "path": ["query GraphqlBaseValidationUnknownOrderField", "orders", "nodes", "definitelyNotAnOrderField"],
        "extensions": {"code": "undefinedField", "typeName": "Order", "fieldName": "definitelyNotAnOrderField"},
    }]}
    assert client.gql("mutation GraphqlBaseValidationUnknownMutationRoot {\n  definitelyNotAShopifyMutationRoot"
                      "(input: {}) {\n    id\n  }\n}\n") == {"errors": [{
                          "message": "Field 'definitelyNotAShopifyMutationRoot' doesn't exist on type 'Mutation'",
                          "locations": [{"line": 2, "column": 3}],
                          "path": ["mutation GraphqlBaseValidationUnknownMutationRoot",
                                   "definitelyNotAShopifyMutationRoot"],
                          "extensions": {"code": "undefinedField", "typeName": "Mutation",
                                         "fieldName": "definitelyNotAShopifyMutationRoot"}}]}
    assert client.gql("query GraphqlBaseValidationInvalidSyntax {\n  shop {\n    id\n") == {"errors": [{
        "message": "syntax error, unexpected end of file at [3, 5]", "locations": [{"line": 3, "column": 5}],
        "extensions": {"code": "PARSE_ERROR"}}]}
    # the same rules on this schema's fields
    body = client.gql("{ order { id } orders(first: 1, bogus: 1) { nodes { id } } }")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["missingRequiredArguments", "argumentNotAccepted"]
    assert body["errors"][0]["message"] == "Field 'order' is missing required arguments: id"
    assert body["errors"][1]["message"] == "Field 'orders' doesn't accept argument 'bogus'"
    assert client.gql("{ orders(first: 1) }")["errors"][0]["message"] == (
        "Field must have selections (field 'orders' returns OrderConnection but has no selections. "
        "Did you mean 'orders { ... }'?)")
    body = client.gql("mutation Set($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) "
                      "{ userErrors { message } } }")
    assert body == {"errors": [{
        "message": "Variable $input of type InventorySetQuantitiesInput! was provided invalid value",
        "locations": [{"line": 1, "column": 14}],
        "extensions": {"code": "INVALID_VARIABLE", "value": None,
                       "problems": [{"path": [], "explanation": "Expected value to not be null"}]}}]}
    body = client.gql("{ orders { nodes { id } } }")
    assert body["errors"][0]["message"] == "you must provide one of first or last" and body["data"] is None
    assert client.gql("{ orders(first: 251) { nodes { id } } }")["errors"][0]["path"] == ["orders"]


def test_auth_and_versions(client):
    wrong = client.post("{ orders(first: 1) { nodes { id } } }", token="shpat_wrong")
    assert wrong.status_code == 401
    assert wrong.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    missing = client.http.post(f"{client.base}/shopify/admin/api/2025-10/graphql.json", json={"query": "{ __typename }"})
    assert missing.status_code == 401
    retired = client.post("{ orders(first: 1) { nodes { id } } }", version="2023-04")
    assert retired.status_code == 200 and retired.headers["x-shopify-api-version"] == "2025-01"
    assert client.post("{ orders(first: 1) { nodes { id } } }", version="2025-10").headers[
        "x-shopify-api-version"] == "2025-10"
    assert client.post("{ orders(first: 1) { nodes { id } } }", version="2025-13").status_code == 404
    # groupObjects arrived in 2025-07: older versions reject it like any unknown argument
    old = client.gql('mutation { bulkOperationRunQuery(query: "{}", groupObjects: true) { userErrors { message } } }',
                     version="2025-04")
    assert old["errors"][0]["extensions"]["code"] == "argumentNotAccepted"


def test_cost_extension_matches_shopifys_figures(client, world):
    # live captures: `order { fulfillments { trackingInfo } }` costs 3; `locations(first: 1) { nodes }` costs 3
    # (4 with `shop`); a fulfillmentCreate selecting trackingInfo costs 11
    order = world.shopify_orders.get(6_100_000_000)
    body = client.gql("query($id: ID!) { order(id: $id) { id displayFulfillmentStatus fulfillments(first: 5) "
                      "{ id status displayStatus trackingInfo(first: 5) { number url company } } } }", {"id": order.gid})
    assert body["extensions"]["cost"]["requestedQueryCost"] == 3
    body = client.gql("{ locations(first: 1) { nodes { id name isActive } } }")
    assert body["extensions"]["cost"]["requestedQueryCost"] == 3
    # connections size logarithmically: 2 + floor(2 ln 10) x 1 requested; 3 orders returned -> 2 + 2 x 1
    body = client.gql('{ orders(first: 10, query: "created_at:>=2026-10-05") { nodes { id totalPriceSet '
                      '{ shopMoney { amount } } } pageInfo { hasNextPage } } }')
    assert len(body["data"]["orders"]["nodes"]) == 3
    assert body["extensions"]["cost"] == {"requestedQueryCost": 6, "actualQueryCost": 4, "throttleStatus": {
        "maximumAvailable": 2000.0, "currentlyAvailable": 1996, "restoreRate": 100.0}}
    body = client.gql("mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id "
                      "status trackingInfo(first: 5) { number url company } } userErrors { field message } } }",
                      {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{order.id}"}]}})
    assert body["extensions"]["cost"]["requestedQueryCost"] == 11


def test_max_cost_exceeded(client):
    query = """{ orders(first: 250) { edges { node { lineItems(first: 250) { edges { node { variant {
        inventoryItem { inventoryLevels(first: 250) { edges { node { location { id } } } } } } } } } } } } }"""
    assert client.gql(query) == {"errors": [{
        "message": "Query cost is 4765, which exceeds the single query max cost limit (1000).\n\n"
                   "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
                   "cost of a query is calculated.\n\n"
                   "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
                   "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n",
        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 4765, "maxCost": 1000,
                       "documentation": "https://shopify.dev/api/usage/rate-limits"}}]}


EXPENSIVE = "{ orders(first: 50) { nodes { id lineItems(first: 10) { nodes { id } } } } }"  # 2 + 7 x (1 + 6) = 51


def test_throttling_by_query_cost_and_recovery(world):
    now = [1000.0]
    sandbox = Sandbox(world, rate_limits="real")
    shopify.configure(sandbox, capacity=100.0, restore_rate=10.0, clock=lambda: now[0])
    with running(sandbox) as base, Client(base, sandbox) as client:
        costs = []
        for _ in range(4):  # each pays 51 up front, refunded down to its actual cost: 6 orders of 2 items
            costs.append(client.gql(EXPENSIVE)["extensions"]["cost"])  # 2 + floor(2 ln 6) x (1 + 2 + 1 x 1) = 14
        assert [c["actualQueryCost"] for c in costs] == [14] * 4
        assert [c["throttleStatus"]["currentlyAvailable"] for c in costs] == [86, 72, 58, 44]
        throttled = client.post(EXPENSIVE)
        assert throttled.status_code == 200
        assert throttled.json() == {
            "errors": [{"message": "Throttled",
                        "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": {"requestedQueryCost": 51, "actualQueryCost": None, "throttleStatus": {
                "maximumAvailable": 100.0, "currentlyAvailable": 44, "restoreRate": 10.0}}}}
        assert sandbox.stats.throttled["shopify"] == 1
        status = throttled.json()["extensions"]["cost"]["throttleStatus"]
        wait = (51 - status["currentlyAvailable"]) / status["restoreRate"]
        now[0] += wait - 0.5
        assert client.gql(EXPENSIVE)["errors"][0]["extensions"]["code"] == "THROTTLED"  # not yet
        now[0] += 0.5
        assert "errors" not in client.gql(EXPENSIVE)  # exactly the wait the status implied


def test_rate_limits_off_reports_cost_but_never_throttles(world):
    sandbox = Sandbox(world, rate_limits="off")
    shopify.configure(sandbox, capacity=60.0, restore_rate=1.0, clock=lambda: 0.0)
    with running(sandbox) as base, Client(base, sandbox) as client:
        for _ in range(5):
            body = client.gql(EXPENSIVE)
            assert "errors" not in body and body["extensions"]["cost"]["requestedQueryCost"] == 51


def test_fulfillment_create_via_fulfillment_orders_changes_later_reads(client, world):
    order = world.shopify_orders.get(6_100_000_001)
    fos = client.gql("query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id status "
                     "assignedLocation { location { id } } lineItems(first: 5) { nodes { id remainingQuantity "
                     "lineItem { sku } } } } } } }", {"id": order.gid})["data"]["order"]["fulfillmentOrders"]["nodes"]
    assert len(fos) == 1 and fos[0]["status"] == "OPEN"
    assert fos[0]["assignedLocation"]["location"]["id"] == f"gid://shopify/Location/{WAREHOUSE}"
    tee = next(li for li in fos[0]["lineItems"]["nodes"] if li["lineItem"]["sku"] == "TEE-M")
    create = """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f, message: "shipped") {
        fulfillment { id status displayStatus trackingInfo(first: 5) { number company url } }
        userErrors { field message } } }"""
    too_many = client.gql(create, {"f": {"lineItemsByFulfillmentOrder": [
        {"fulfillmentOrderId": fos[0]["id"], "fulfillmentOrderLineItems": [{"id": tee["id"], "quantity": 3}]}]}})
    assert too_many["data"]["fulfillmentCreate"] == {"fulfillment": None, "userErrors": [
        {"field": ["fulfillment"], "message": "Invalid fulfillment order line item quantity requested."}]}
    unknown = client.gql(create, {"f": {"lineItemsByFulfillmentOrder": [
        {"fulfillmentOrderId": "gid://shopify/FulfillmentOrder/1"}]}})
    assert unknown["data"]["fulfillmentCreate"]["userErrors"] == [
        {"field": ["fulfillment"], "message": "Fulfillment order does not exist."}]
    world.clock = CLOCK + timedelta(hours=5)
    partial = client.gql(create, {"f": {
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fos[0]["id"],
                                         "fulfillmentOrderLineItems": [{"id": tee["id"], "quantity": 2}]}],
        "trackingInfo": {"number": "1Z999AA10123456784", "company": "UPS",
                         "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"}}})
    assert partial["data"]["fulfillmentCreate"]["userErrors"] == []
    assert partial["data"]["fulfillmentCreate"]["fulfillment"]["trackingInfo"] == [{
        "number": "1Z999AA10123456784", "company": "UPS", "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"}]
    read = """query($id: ID!) { order(id: $id) { updatedAt displayFulfillmentStatus
        fulfillments(first: 5) { status trackingInfo { number } fulfillmentLineItems(first: 5) { nodes { quantity lineItem { sku } } } }
        fulfillmentOrders(first: 5) { nodes { status lineItems(first: 5) { nodes { remainingQuantity } } } } } }"""
    after = client.gql(read, {"id": order.gid})["data"]["order"]
    assert after["updatedAt"] == "2026-11-01T05:00:00Z"
    assert after["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    assert after["fulfillments"][0]["fulfillmentLineItems"]["nodes"] == [{"quantity": 2, "lineItem": {"sku": "TEE-M"}}]
    assert after["fulfillmentOrders"]["nodes"][0]["status"] == "IN_PROGRESS"
    # the rest, with no line items listed, fulfils whatever remains
    rest = client.gql(create, {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fos[0]["id"]}],
                                     "trackingInfo": {"numbers": ["9400100000000000000001"], "company": "USPS"}}})
    assert rest["data"]["fulfillmentCreate"]["userErrors"] == []
    after = client.gql(read, {"id": order.gid})["data"]["order"]
    assert after["displayFulfillmentStatus"] == "FULFILLED"
    assert [f["trackingInfo"][0]["number"] for f in after["fulfillments"]] == ["1Z999AA10123456784", "9400100000000000000001"]
    assert after["fulfillmentOrders"]["nodes"][0]["status"] == "CLOSED"
    assert order.display_fulfillment_status() == "FULFILLED"  # the world itself changed
    assert client.sandbox.stats.mutations_applied["shopify:fulfillmentCreate"] == 2
    assert client.sandbox.stats.mutations_received["shopify:fulfillmentCreate"] == 4


def test_inventory_set_quantities_changes_later_reads(client, world):
    mutation = """mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) {
        inventoryAdjustmentGroup { reason referenceDocumentUri changes { name delta quantityAfterChange location { id } } }
        userErrors { field message code } } }"""
    item, warehouse = f"gid://shopify/InventoryItem/{ITEM}", f"gid://shopify/Location/{WAREHOUSE}"

    def set_available(quantity: int, **extra) -> dict:
        spec = {"name": "available", "reason": "correction", "referenceDocumentUri": "logistics://shipshape/correction/1",
                "quantities": [{"inventoryItemId": item, "locationId": warehouse, "quantity": quantity, **extra}]}
        return client.gql(mutation, {"input": spec})["data"]["inventorySetQuantities"]

    assert set_available(7)["userErrors"] == [{
        "field": ["input", "quantities", "0", "compareQuantity"],
        "message": "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
        "code": "COMPARE_QUANTITY_REQUIRED"}]
    assert set_available(7, compareQuantity=9)["userErrors"][0]["code"] == "COMPARE_QUANTITY_STALE"
    done = set_available(7, compareQuantity=10)
    assert done == {"inventoryAdjustmentGroup": {
        "reason": "correction", "referenceDocumentUri": "logistics://shipshape/correction/1", "changes": [
            {"name": "available", "delta": -3, "quantityAfterChange": 7, "location": {"id": warehouse}},
            {"name": "on_hand", "delta": -3, "quantityAfterChange": 9, "location": {"id": warehouse}}]},
        "userErrors": []}
    read = client.gql("""{ inventoryItems(first: 5, query: "updated_at:>='2026-11-01T00:00:00Z'") { nodes { id sku
        updatedAt inventoryLevels(first: 5) { edges { node { location { id } quantities(names: ["available", "on_hand"])
        { name quantity } } } } } } }""")["data"]["inventoryItems"]["nodes"]
    assert [n["sku"] for n in read] == ["TEE-M"] and read[0]["updatedAt"] == "2026-11-01T00:00:00Z"
    levels = {e["node"]["location"]["id"]: e["node"]["quantities"] for e in read[0]["inventoryLevels"]["edges"]}
    assert levels[warehouse] == [{"name": "available", "quantity": 7}, {"name": "on_hand", "quantity": 9}]
    assert world.shopify_inventory_levels[(ITEM, WAREHOUSE)].available == 7
    body = client.gql(mutation, {"input": {"name": "committed", "reason": "nope", "ignoreCompareQuantity": True,
                                           "quantities": [{"inventoryItemId": item, "locationId": warehouse, "quantity": 1}]}})
    assert [e["code"] for e in body["data"]["inventorySetQuantities"]["userErrors"]] == ["INVALID_NAME", "INVALID_REASON"]
    assert client.sandbox.stats.mutations_applied["shopify:inventorySetQuantities"] == 1


BULK = """mutation($q: String!) { bulkOperationRunQuery(query: $q) {
    bulkOperation { id status completedAt objectCount url } userErrors { field message code } } }"""
POLL = "{ currentBulkOperation { id status errorCode objectCount rootObjectCount fileSize url type query completedAt } }"


def wait_for_bulk(client: Client) -> dict:
    deadline = time.monotonic() + 10
    while True:
        op = client.gql(POLL)["data"]["currentBulkOperation"]
        if op["status"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            return op
        time.sleep(0.02)


def test_bulk_operation_round_trip_writes_jsonl_with_parent_ids(world):
    sandbox = Sandbox(world, rate_limits="off")
    with running(sandbox) as base, Client(base, sandbox) as client:
        inner = ('{ orders(query: "created_at:>=2026-10-06") { edges { node { id name '
                 'lineItems { edges { node { id sku currentQuantity } } } } } } }')
        started = client.gql(BULK, {"q": inner})["data"]["bulkOperationRunQuery"]
        assert started["userErrors"] == []
        assert started["bulkOperation"]["status"] == "CREATED"
        assert started["bulkOperation"]["objectCount"] == "0" and started["bulkOperation"]["url"] is None
        op = wait_for_bulk(client)
        assert op["status"] == "COMPLETED" and op["type"] == "QUERY" and op["query"] == inner
        assert (op["objectCount"], op["rootObjectCount"]) == ("6", "2")
        download = httpx.get(op["url"])
        assert download.status_code == 200
        assert int(op["fileSize"]) == len(download.content)
        lines = [json.loads(line) for line in download.text.splitlines()]
        assert lines == [
            {"id": "gid://shopify/Order/6100000004", "name": "#1005"},
            {"id": "gid://shopify/LineItem/7000008", "sku": "TEE-M", "currentQuantity": 2,
             "__parentId": "gid://shopify/Order/6100000004"},
            {"id": "gid://shopify/LineItem/7000009", "sku": "MUG", "currentQuantity": 1,
             "__parentId": "gid://shopify/Order/6100000004"},
            {"id": "gid://shopify/Order/6100000005", "name": "#1006"},
            {"id": "gid://shopify/LineItem/7000010", "sku": "TEE-M", "currentQuantity": 2,
             "__parentId": "gid://shopify/Order/6100000005"},
            {"id": "gid://shopify/LineItem/7000011", "sku": "MUG", "currentQuantity": 1,
             "__parentId": "gid://shopify/Order/6100000005"},
        ]
        assert client.gql("query($id: ID!) { node(id: $id) { ... on BulkOperation { status } } }",
                          {"id": op["id"]})["data"]["node"] == {"status": "COMPLETED"}
        invalid = client.gql(BULK, {"q": "{ orders { edges { node { id nope } } } }"})
        assert invalid["data"]["bulkOperationRunQuery"] == {"bulkOperation": None, "userErrors": [{
            "field": ["query"], "message": "Invalid bulk query: Field 'nope' doesn't exist on type 'Order'",
            "code": "INVALID"}]}
        assert client.gql(BULK, {"q": "{ order(id: \"gid://shopify/Order/1\") { id } }"})["data"][
            "bulkOperationRunQuery"]["userErrors"][0]["message"] == "Bulk queries must contain at least one connection."


def test_only_one_bulk_query_at_a_time_before_2026_01(world):
    world.shopify_bulk_operations.add(ShopifyBulkOperation(
        id="gid://shopify/BulkOperation/42", query="{ orders { edges { node { id } } } }", status="RUNNING",
        created_at=CLOCK))
    sandbox = Sandbox(world, rate_limits="off")
    with running(sandbox) as base, Client(base, sandbox) as client:
        busy = client.gql(BULK, {"q": "{ orders { edges { node { id } } } }"})["data"]["bulkOperationRunQuery"]
        assert busy == {"bulkOperation": None, "userErrors": [{
            "field": None, "code": "OPERATION_IN_PROGRESS",
            "message": "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/42."}]}
        newer = client.gql(BULK, {"q": "{ orders { edges { node { id } } } }"}, version="2026-01")
        assert newer["data"]["bulkOperationRunQuery"]["userErrors"] == []


def test_hostile_faults_corrupt_the_orders_the_seed_picks(world):
    for i in range(6, 400):
        order = ShopifyOrder(id=6_100_000_000 + i, name=f"#{1001 + i}", created_at=CLOCK - timedelta(days=1),
                             updated_at=CLOCK - timedelta(hours=1), currency="USD", email="x@example.com",
                             shipping_address=ADDRESS, shipping_line=None,
                             line_items=[ShopifyLineItem(9_000_000 + i, 1, 2, "MUG", "Mug", None, 1, 1, 1250)])
        world.shopify_orders.add(order)
    sandbox = Sandbox(world, rate_limits="off", faults="hostile")
    picked = {o.gid for o in world.shopify_orders if sandbox.faults.malformation("shopify.order", o.gid)}
    assert picked, "the seed should malform at least one of 400 orders"
    with running(sandbox) as base, Client(base, sandbox) as client:
        by_id, after = {}, None
        while True:
            response = client.post("query($a: String) { orders(first: 250, after: $a, sortKey: ID) { edges { cursor "
                                   "node { id currencyCode updatedAt totalPriceSet { shopMoney { amount } } } } "
                                   "pageInfo { hasNextPage endCursor } } }", {"a": after})
            if response.status_code != 200:  # hostile also fails requests: retry as a client would
                assert response.status_code in (429, 503)
                code = response.json()["errors"][0]["extensions"]["code"]
                if response.status_code == 429:
                    assert response.headers["retry-after"] == "1.0" and code == "THROTTLED"
                else:
                    assert code == "INTERNAL_SERVER_ERROR"
                continue
            conn = response.json()["data"]["orders"]
            for edge in conn["edges"]:  # a flaky page may repeat a record: the cursor still names it
                by_id[json.loads(base64.b64decode(edge["cursor"]))["last_id"]] = edge["node"]
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        # the bulk export of the same fields malforms the same orders (its lines come in id order)
        run = retrying(client, BULK, {"q": "{ orders(sortKey: ID) { edges { node { id currencyCode updatedAt "
                                            "totalPriceSet { shopMoney { amount } } } } } }"})
        assert run["data"]["bulkOperationRunQuery"]["userErrors"] == []
        deadline = time.monotonic() + 10
        while (op := retrying(client, POLL)["data"]["currentBulkOperation"])["status"] != "COMPLETED":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        lines = [json.loads(line) for line in httpx.get(op["url"]).text.splitlines()]
    assert len(by_id) == len(lines) == len(world.shopify_orders)
    ordered = sorted(world.shopify_orders, key=lambda o: o.id)
    assert broken_orders(ordered, [by_id[o.id] for o in ordered]) == picked
    assert broken_orders(ordered, lines) == picked


def retrying(client: Client, query: str, variables: dict | None = None) -> dict:
    while (response := client.post(query, variables)).status_code != 200:
        assert response.status_code in (429, 503)
    return response.json()


def broken_orders(ordered: list, rendered: list[dict]) -> set[str]:
    return {order.gid for order, node in zip(ordered, rendered, strict=True)
            if node["id"] != order.gid or node["currencyCode"] != "USD"
            or node["updatedAt"] != order.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            or node["totalPriceSet"]["shopMoney"]["amount"] != shopify.money(order.total())}


def test_smoke_against_a_generated_world():
    generate = pytest.importorskip("shipshape_sandbox.generate")
    world = generate.build_world(200, seed=1)
    sandbox = Sandbox(world, rate_limits="off")
    with running(sandbox) as base, Client(base, sandbox) as client:
        seen, after = [], None
        while True:
            body = client.gql("""query($a: String) { orders(first: 100, after: $a, sortKey: UPDATED_AT,
                query: "updated_at:>='2000-01-01T00:00:00Z'") { nodes { id name displayFinancialStatus
                displayFulfillmentStatus totalPriceSet { shopMoney { amount currencyCode } }
                lineItems(first: 20) { nodes { sku currentQuantity } }
                fulfillments(first: 10) { trackingInfo { number company } }
                transactions(first: 10) { kind status gateway authorizationCode } }
                pageInfo { hasNextPage endCursor } } }""", {"a": after})
            assert "errors" not in body, body.get("errors")
            seen += [n["id"] for n in body["data"]["orders"]["nodes"]]
            if not body["data"]["orders"]["pageInfo"]["hasNextPage"]:
                break
            after = body["data"]["orders"]["pageInfo"]["endCursor"]
        assert sorted(seen) == sorted(o.gid for o in world.shopify_orders)
        items = client.gql("{ inventoryItems(first: 250) { nodes { sku inventoryLevels(first: 5) { nodes { "
                           "quantities(names: [\"available\"]) { quantity } } } } } locations(first: 10) { nodes { "
                           "name isActive fulfillmentService { handle serviceName } } } }")["data"]
        assert len(items["inventoryItems"]["nodes"]) == min(250, len(world.shopify_inventory_items))
        assert {"handle": "shiphero", "serviceName": "ShipHero"} in [
            n["fulfillmentService"] for n in items["locations"]["nodes"]]
        client.gql(BULK, {"q": "{ orders { edges { node { id lineItems { edges { node { id } } } } } } }"})
        op = wait_for_bulk(client)
        assert op["status"] == "COMPLETED" and op["rootObjectCount"] == str(len(world.shopify_orders))
        lines = httpx.get(op["url"]).text.splitlines()
        assert len(lines) == int(op["objectCount"]) == len(world.shopify_orders) + sum(
            len(o.line_items) for o in world.shopify_orders)


def test_tracking_info_update_and_node_lookups(client, world):
    order = world.shopify_orders.get(6_100_000_002)
    created = client.gql("mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } "
                         "userErrors { message } } }", {"f": {"lineItemsByFulfillmentOrder": [
                             {"fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{order.id}"}]}})
    fulfillment_id = created["data"]["fulfillmentCreate"]["fulfillment"]["id"]
    # the selection of the live capture, which Shopify priced at 51
    update = client.gql("""mutation($id: ID!, $t: FulfillmentTrackingInput!) {
        fulfillmentTrackingInfoUpdate(fulfillmentId: $id, trackingInfoInput: $t, notifyCustomer: true) {
          fulfillment { id status trackingInfo(first: 5) { number url company } } userErrors { field message } } }""",
                        {"id": fulfillment_id, "t": {"numbers": ["A1", "A2"], "urls": ["https://t.example/A1"],
                                                     "company": "UPS"}})
    assert update["extensions"]["cost"]["requestedQueryCost"] == 51
    assert update["data"]["fulfillmentTrackingInfoUpdate"]["fulfillment"]["trackingInfo"] == [
        {"number": "A1", "url": "https://t.example/A1", "company": "UPS"},
        {"number": "A2", "url": None, "company": "UPS"}]
    nodes = client.gql("query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Fulfillment { status } "
                       "... on Order { name } } }", {"ids": [fulfillment_id, order.gid, "gid://shopify/Order/1"]})
    assert nodes["data"]["nodes"] == [
        {"__typename": "Fulfillment", "id": fulfillment_id, "status": "SUCCESS"},
        {"__typename": "Order", "id": order.gid, "name": "#1003"}, None]
    bad = client.gql('{ order(id: "1003") { id } }')
    assert bad["errors"][0]["message"] == "Invalid global id '1003'" and bad["data"] == {"order": None}


def test_injected_faults_use_shopifys_error_shapes(world):
    sandbox = Sandbox(world, rate_limits="off", faults="flaky")
    with running(sandbox) as base, Client(base, sandbox) as client:
        sandbox.faults.error_rate, sandbox.faults.throttle_rate = 1.0, 0.0
        failed = client.post("{ orders(first: 1) { nodes { id } } }")
        assert failed.status_code == 503
        error = failed.json()["errors"][0]
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["message"].startswith("Internal error. Looks like something went wrong on our end.\nRequest ID: ")
        assert failed.headers["x-request-id"] == error["extensions"]["requestId"]
        sandbox.faults.error_rate, sandbox.faults.throttle_rate = 0.0, 1.0
        throttled = client.post("{ orders(first: 1) { nodes { id } } }")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1.0"
        assert throttled.json()["errors"] == [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
