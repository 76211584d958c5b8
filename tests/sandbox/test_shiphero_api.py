"""The ShipHero emulation over real HTTP: auth, GraphQL reads and paging, validation, credit throttling,
order mutations, injected faults, and a smoke test over a generated world."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from shipshape.codes import correctable
from shipshape_sandbox import runner
from shipshape_sandbox.apis import shiphero
from shipshape_sandbox.lifecycle import relay_id
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import (
    Address,
    ShipHeroLineItem,
    ShipHeroOrder,
    ShipHeroShipment,
    ShipHeroShippingLabel,
    ShipHeroWarehouseProduct,
    World,
)

CLOCK = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WAREHOUSE = "V2FyZWhvdXNlOjEwMDE="


def _order(n: int, updated: datetime, **overrides: Any) -> ShipHeroOrder:
    legacy = 310_000_000 + n
    order = ShipHeroOrder(
        id=relay_id("Order", legacy),
        legacy_id=legacy,
        order_number=f"#{1000 + n}",
        partner_order_id=str(5_000_000 + n),
        shop_name="sandbox-merchant.myshopify.com",
        fulfillment_status="pending",
        order_date=updated - timedelta(hours=1),
        updated_at=updated,
        currency="USD",
        email=f"buyer{n}@example.com",
        shipping_address=Address(
            "Ann", "Lee", "1 Main St", None, "Springfield", "Illinois", "IL", "62701", "United States", "US"
        ),  # fmt: skip
        shipping_carrier="usps",
        shipping_method="usps_priority",
        shipping_title="Standard Shipping",
        shipping_price=500,
        line_items=[
            ShipHeroLineItem(
                relay_id("LineItem", 520_000_000 + n * 10),
                520_000_000 + n * 10,
                "SKU-A",
                f"{7_000_000 + n * 10}",
                "Mug",
                2,
                1250,
            ),  # fmt: skip
        ],
        total_price=3000,
    )
    for name, value in overrides.items():
        setattr(order, name, value)
    return order


def make_world() -> World:
    """Five orders updated an hour apart (10:00 .. 14:00), one shipped; two warehouse products."""
    world = World(clock=CLOCK, seed=7)
    for n in range(5):
        world.shiphero_orders.add(_order(n, datetime(2026, 11, 1, 10 + n, tzinfo=UTC)))
    shipped = world.shiphero_orders.get(relay_id("Order", 310_000_004))
    shipment = ShipHeroShipment(
        id=relay_id("Shipment", 640_000_001), legacy_id=640_000_001, order_id=shipped.id, warehouse_id=WAREHOUSE,
        created_date=datetime(2026, 11, 1, 14, tzinfo=UTC), updated_at=datetime(2026, 11, 1, 14, tzinfo=UTC),
        line_items=[(shipped.line_items[0].id, 2)],
        labels=[ShipHeroShippingLabel(relay_id("ShippingLabel", 880_000_001), 880_000_001, "9400111111111111111111",
                                      "usps", "Standard Shipping", "usps_priority", 760, "valid",
                                      datetime(2026, 11, 1, 14, tzinfo=UTC))],
    )  # fmt: skip
    world.shiphero_shipments.add(shipment)
    world.shipments_by_order[shipped.id] = [shipment]
    shipped.fulfillment_status = "fulfilled"
    shipped.line_items[0].quantity_shipped = 2
    for i, (sku, on_hand, allocated, reserve) in enumerate([("SKU-A", 40, 8, 2), ("SKU-B", 5, 0, 0)]):
        world.shiphero_products.add(ShipHeroWarehouseProduct(
            id=relay_id("WarehouseProduct", 900 + i), sku=sku, warehouse_id=WAREHOUSE, on_hand=on_hand,
            allocated=allocated, reserve=reserve, backorder=0, updated_at=datetime(2026, 11, 1, 9 + i, tzinfo=UTC),
        ))  # fmt: skip
    return world


@dataclass
class FakeClock:
    """A wall clock the test moves by hand: drives token expiry and credit refills."""

    now: float = field(default_factory=lambda: 1_790_000_000.0)

    def __call__(self) -> float:
        return self.now


@dataclass
class Client:
    http: httpx.Client
    sandbox: Sandbox
    clock: FakeClock
    token: str = ""

    def login(self) -> dict[str, Any]:
        creds = self.sandbox.credentials
        response = self.http.post(
            "/shiphero/auth/token",
            json={"username": creds.shiphero_username, "password": creds.shiphero_password},
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return response.json()

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.post("/shiphero/graphql", json={"query": query, "variables": variables or {}},
                              headers=headers)  # fmt: skip

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.gql(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@contextmanager
def serving(sandbox: Sandbox) -> Iterator[Client]:
    """The sandbox on a real loopback port with only ShipHero mounted, a logged-in client, a fake clock."""
    clock = FakeClock()
    shiphero.state_for(sandbox).clock = clock
    with (
        runner.running(sandbox, apis=("shiphero",)) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as http,
    ):
        client = Client(http, sandbox, clock)
        client.login()
        yield client


@pytest.fixture
def client() -> Iterator[Client]:
    with serving(Sandbox(make_world(), rate_limits="off")) as c:
        yield c


ORDERS_PAGE = """
query($from: ISODateTime, $to: ISODateTime, $after: String) {
  orders(updated_from: $from, updated_to: $to) {
    request_id
    complexity
    data(first: 2, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id legacy_id order_number partner_order_id updated_at total_price } }
    }
  }
}
"""


# ------------------------------------------------------------------------------------------- auth
def test_token_refresh_and_auth_errors(client: Client) -> None:
    issued = client.login()
    assert issued["expires_in"] == 2_419_200 and issued["token_type"] == "Bearer"
    assert issued["scope"] == "openid profile offline_access" and issued["refresh_token"]
    assert client.login()["refresh_token"] == issued["refresh_token"]  # ShipHero's refresh token is static
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2_419_200 and claims["aud"] == "shiphero-public-api"

    refreshed = client.http.post("/shiphero/auth/refresh", json={"refresh_token": issued["refresh_token"]})
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"access_token", "expires_in", "scope", "token_type"}
    assert (
        client.gql("{ user_quota { max_available } }", token=refreshed.json()["access_token"]).status_code
        == 200
    )

    bad = client.http.post(
        "/shiphero/auth/token", json={"username": "ops@sandbox-merchant.example", "password": "x"}
    )
    assert bad.status_code == 403
    assert bad.json() == {"error": "invalid_grant", "error_description": "Wrong email or password."}
    unknown = client.http.post("/shiphero/auth/refresh", json={"refresh_token": "nope"})
    assert unknown.status_code == 403 and unknown.json()["error"] == "invalid_grant"

    missing = client.http.post("/shiphero/graphql", json={"query": "{ user_quota { max_available } }"})
    assert missing.status_code == 401 and missing.json()["code"] == "authorization_header_missing"
    forged = client.gql("{ user_quota { max_available } }", token="eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_header"
    client.clock.now += 2_419_200
    expired = client.gql("{ user_quota { max_available } }")
    assert expired.status_code == 401 and expired.json() == {
        "code": "token_expired",
        "description": "token is expired",
    }


# ------------------------------------------------------------------------------------------ reads
def test_orders_updated_from_pages_exactly_the_window(client: Client) -> None:
    window = {"from": "2026-11-01T11:00:00", "to": "2026-11-01 13:00:00"}
    first = client.data(ORDERS_PAGE, window)["orders"]
    assert len(first["request_id"]) == 24 and first["complexity"] == 3
    page = first["data"]
    assert [e["node"]["order_number"] for e in page["edges"]] == ["#1001", "#1002"]
    assert page["pageInfo"] == {"hasNextPage": True, "endCursor": page["edges"][-1]["cursor"]}
    assert base64.b64decode(page["pageInfo"]["endCursor"]).decode() == "arrayconnection:1"
    node = page["edges"][0]["node"]
    assert node["id"] == relay_id("Order", 310_000_001) and node["legacy_id"] == 310_000_001
    assert node["updated_at"] == "2026-11-01T11:00:00+00:00" and node["total_price"] == "30.00"

    second = client.data(ORDERS_PAGE, {**window, "after": page["pageInfo"]["endCursor"]})["orders"]["data"]
    assert [e["node"]["order_number"] for e in second["edges"]] == ["#1003"]
    assert second["pageInfo"]["hasNextPage"] is False

    by_partner = client.data(
        '{ orders(partner_order_id: "5000002") { data { edges { node { order_number } } } } }'
    )
    assert [e["node"]["order_number"] for e in by_partner["orders"]["data"]["edges"]] == ["#1002"]
    newest = client.data(
        '{ orders { complexity data(first: 1, sort: "-updated_at") { edges { node { order_number } } } } }'
    )
    assert newest["orders"]["complexity"] == 2
    assert newest["orders"]["data"]["edges"][0]["node"]["order_number"] == "#1004"


def test_order_fields_line_items_holds_and_shipments(client: Client) -> None:
    query = """query($id: String!) { order(id: $id) { complexity data {
        order_number fulfillment_status shop_name
        shipping_address { first_name last_name address1 city state state_code zip country_code }
        shipping_lines { title carrier method price }
        holds { payment_hold operator_hold fraud_hold address_hold client_hold }
        line_items(first: 5) { edges { node { sku quantity quantity_shipped price partner_line_item_id } } }
        shipments { shipping_labels { tracking_number carrier status cost created_date } }
    } } }"""
    order = client.data(query, {"id": "310000004"})["order"]  # a legacy id works as ShipHero allows
    assert order["complexity"] == 6
    data = order["data"]
    assert data["fulfillment_status"] == "fulfilled"
    assert data["shipping_address"]["state_code"] == "IL" and data["shipping_address"]["zip"] == "62701"
    assert data["shipping_lines"] == {"title": "Standard Shipping", "carrier": "usps", "method": "usps_priority",
                                      "price": "5.00"}  # fmt: skip
    assert data["holds"]["payment_hold"] is False
    assert data["line_items"]["edges"][0]["node"] == {"sku": "SKU-A", "quantity": 2, "quantity_shipped": 2,
                                                      "price": "12.50", "partner_line_item_id": "7000040"}  # fmt: skip
    assert data["shipments"][0]["shipping_labels"][0]["tracking_number"] == "9400111111111111111111"
    assert data["shipments"][0]["shipping_labels"][0]["cost"] == "7.60"

    missing = client.gql('{ order(id: "nope") { data { id } } }').json()
    assert missing["data"] == {"order": None} and "not found" in missing["errors"][0]["message"]


def test_shipments_and_inventory_reads(client: Client) -> None:
    shipments = client.data("""{ shipments(date_from: "2026-11-01") { data(first: 10) { edges { node {
        id order_id created_date line_items(first: 5) { edges { node { line_item_id quantity } } }
        shipping_labels { tracking_number } } } } } }""")["shipments"]["data"]["edges"]
    assert len(shipments) == 1 and shipments[0]["node"]["created_date"] == "2026-11-01T14:00:00+00:00"
    assert shipments[0]["node"]["line_items"]["edges"][0]["node"]["quantity"] == 2
    by_number = client.data(
        '{ shipments(tracking_number: "9400111111111111111111") { data { edges { node { id } } } } }'
    )
    assert len(by_number["shipments"]["data"]["edges"]) == 1

    products = client.data("""{ warehouse_products(warehouse_id: "V2FyZWhvdXNlOjEwMDE=") { data { edges { node {
        sku on_hand allocated reserve_inventory available backorder updated_at } } } } }""")
    rows = {e["node"]["sku"]: e["node"] for e in products["warehouse_products"]["data"]["edges"]}
    assert rows["SKU-A"] == {"sku": "SKU-A", "on_hand": 40, "allocated": 8, "reserve_inventory": 2, "available": 32,
                             "backorder": 0, "updated_at": "2026-11-01T09:00:00+00:00"}  # fmt: skip
    recent = client.data('{ products(updated_from: "2026-11-01T09:30:00") { data { edges { node { sku '
                         "warehouse_products { on_hand } } } } } }")  # fmt: skip
    assert [e["node"]["sku"] for e in recent["products"]["data"]["edges"]] == ["SKU-B"]


def test_unknown_fields_and_bad_syntax_fail_validation(client: Client) -> None:
    response = client.gql("{ orders { data { edges { node { id nonsense } } } } }")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"] == "Cannot query field 'nonsense' on type 'Order'."
    assert error["locations"] == [{"line": 1, "column": 37}]
    assert "data" not in response.json()
    syntax = client.gql("{ orders { ")
    assert syntax.status_code == 400 and syntax.json()["errors"][0]["message"].startswith("Syntax Error")
    bad_date = client.gql('{ orders(updated_from: "yesterday") { complexity } }')
    assert bad_date.status_code == 400 and "ISODateTime" in bad_date.json()["errors"][0]["message"]


# ------------------------------------------------------------------------------------- throttling
def test_credit_throttling_error_30_and_recovery() -> None:
    heavy = "{ orders { complexity data(first: 100) { edges { node { line_items(first: 10) { edges { node { sku } } } } } } } }"
    with serving(Sandbox(make_world(), rate_limits="real")) as c:
        for _ in range(3):
            assert c.data(heavy)["orders"]["complexity"] == 1101
        throttled = c.gql(heavy)
        assert throttled.status_code == 200
        body = throttled.json()
        assert body["data"] == {"orders": None}
        error = body["errors"][0]
        assert error["code"] == 30 and error["operation"] == "orders" and len(error["request_id"]) == 24
        assert error["required_credits"] == 1101 and error["remaining_credits"] == 701
        assert error["time_remaining"] == "7 seconds"  # (1101 - 701) / 60 = 6.7 s
        assert error["message"] == (
            "There are not enough credits to perfom the requested operation, which requires 1101 credits. "
            "The account currently has 701 credits remaining, and you can get 1101 credits in 7 seconds"
        )
        assert c.sandbox.stats.throttled["shiphero"] == 1
        quota = c.data("{ user_quota { credits_remaining max_available increment_rate } }")["user_quota"]
        assert quota == {"credits_remaining": 700, "max_available": 4004, "increment_rate": 60}

        c.clock.now += 7
        assert c.data(heavy)["orders"]["complexity"] == 1101

        analysed = c.data("{ orders(analyze: true) { complexity data { edges { node { id } } } } }")["orders"]
        assert analysed == {"complexity": 101, "data": None}
        too_big = c.gql(
            "{ orders { data(first: 100) { edges { node { line_items { edges { node { id } } } } } } } }"
        )
        assert too_big.json()["errors"][0]["required_credits"] == 10101 and too_big.json()["data"] == {
            "orders": None
        }


# -------------------------------------------------------------------------------------- mutations
ORDER_VIEW = """query($id: String!) { order(id: $id) { data {
    id fulfillment_status updated_at total_price email
    shipping_address { first_name address1 city state_code zip }
    shipping_lines { title carrier method price }
    holds { payment_hold }
    line_items(first: 20) { edges { node { id sku quantity price partner_line_item_id } } }
} } }"""


INPUT_TYPES = {
    "order_create": "CreateOrderInput",
    "order_update": "UpdateOrderInput",
    "order_add_line_items": "AddLineItemsInput",
    "order_update_line_items": "UpdateLineItemsInput",
    "order_remove_line_items": "RemoveLineItemsInput",
    "order_update_fulfillment_status": "UpdateOrderFulfillmentStatusInput",
    "order_update_holds": "UpdateOrderHoldsInput",
}


def _mutate(c: Client, name: str, data: dict[str, Any]) -> dict[str, Any]:
    query = (
        f"mutation($data: {INPUT_TYPES[name]}!) {{ {name}(data: $data) {{ request_id complexity order {{"
        " id fulfillment_status total_price email line_items(first: 20) { edges { node { id sku quantity } } }"
        " } } }"
    )
    result = c.data(query, {"data": data})[name]
    assert len(result["request_id"]) == 24 and result["complexity"] >= 10
    return result["order"]


def test_each_mutation_changes_a_later_read(client: Client) -> None:
    world = client.sandbox.world
    oid = relay_id("Order", 310_000_001)

    def view() -> dict[str, Any]:
        return client.data(ORDER_VIEW, {"id": oid})["order"]["data"]

    world.clock = CLOCK + timedelta(hours=3)
    _mutate(client, "order_update", {"order_id": oid, "shipping_address": {"address1": "9 Elm St", "zip": "62704"},
                                     "shipping_lines": {"title": "Express", "price": "15.00", "carrier": "ups",
                                                        "method": "ups_2nd_day_air"}})  # fmt: skip
    after = view()
    assert after["shipping_address"] == {"first_name": "Ann", "address1": "9 Elm St", "city": "Springfield",
                                         "state_code": "IL", "zip": "62704"}  # fmt: skip
    assert after["shipping_lines"] == {"title": "Express", "carrier": "ups", "method": "ups_2nd_day_air",
                                       "price": "15.00"}  # fmt: skip
    assert after["updated_at"] == "2026-11-01T15:00:00+00:00" and after["total_price"] == "40.00"
    windowed = client.data(ORDERS_PAGE, {"from": "2026-11-01T14:30:00"})["orders"]["data"]["edges"]
    assert [e["node"]["order_number"] for e in windowed] == ["#1001"]  # the update moved it into the window

    added = _mutate(client, "order_add_line_items", {"order_id": oid, "line_items": [
        {"sku": "SKU-B", "partner_line_item_id": "li-new", "quantity": 3, "price": "4.00"}]})  # fmt: skip
    new_li = next(e["node"] for e in added["line_items"]["edges"] if e["node"]["sku"] == "SKU-B")
    assert world.shiphero_products.get("SKU-B").allocated == 3
    _mutate(
        client,
        "order_update_line_items",
        {"order_id": oid, "line_items": [{"id": new_li["id"], "quantity": 1}]},
    )
    assert {e["node"]["sku"]: e["node"]["quantity"] for e in view()["line_items"]["edges"]} == {
        "SKU-A": 2,
        "SKU-B": 1,
    }
    assert world.shiphero_products.get("SKU-B").allocated == 1
    first_li = view()["line_items"]["edges"][0]["node"]["id"]
    _mutate(client, "order_remove_line_items", {"order_id": oid, "line_item_ids": [first_li]})
    assert [e["node"]["sku"] for e in view()["line_items"]["edges"]] == ["SKU-B"]
    assert view()["total_price"] == "19.00"

    _mutate(client, "order_update_holds", {"order_id": oid, "payment_hold": True})
    assert view()["holds"] == {"payment_hold": True}
    held = client.data("{ orders(payment_hold: true) { data { edges { node { id } } } } }")
    assert [e["node"]["id"] for e in held["orders"]["data"]["edges"]] == [oid]

    _mutate(client, "order_update_fulfillment_status", {"order_id": oid, "fulfillment_status": "canceled"})
    assert view()["fulfillment_status"] == "canceled"
    assert world.shiphero_orders.get(oid).cancelled_at == world.clock

    applied = client.sandbox.stats.mutations_applied
    assert {k: applied[k] for k in applied} == {
        "shiphero:order_update": 1, "shiphero:order_add_line_items": 1, "shiphero:order_update_line_items": 1,
        "shiphero:order_remove_line_items": 1, "shiphero:order_update_holds": 1,
        "shiphero:order_update_fulfillment_status": 1,
    }  # fmt: skip


def test_order_create_and_duplicate_partner_order_id(client: Client) -> None:
    data = {
        "order_number": "#2001",
        "partner_order_id": "6000001",
        "shop_name": "sandbox-merchant.myshopify.com",
        "shipping_lines": {"title": "Standard Shipping", "price": "5.00", "carrier": "usps", "method": "usps_priority"},
        "shipping_address": {"first_name": "Bo", "last_name": "Ng", "address1": "2 Oak Ave", "city": "Austin",
                             "state": "Texas", "state_code": "TX", "zip": "73301", "country": "United States",
                             "country_code": "US", "email": "bo@example.com"},
        "line_items": [{"sku": "SKU-A", "partner_line_item_id": "9001", "quantity": 1, "price": "12.50"}],
        "tags": ["sandbox"],
        "packing_note": "fragile",
    }  # fmt: skip
    created = _mutate(client, "order_create", data)
    assert created["fulfillment_status"] == "pending" and created["total_price"] == "17.50"
    assert created["email"] == "bo@example.com"
    extra = client.data('query($id: String!) { order(id: $id) { data { tags packing_note order_date } } }',
                        {"id": created["id"]})["order"]["data"]  # fmt: skip
    assert extra == {
        "tags": ["sandbox"],
        "packing_note": "fragile",
        "order_date": "2026-11-01T12:00:00+00:00",
    }
    found = client.data(
        '{ orders(partner_order_id: "6000001") { data { edges { node { order_number } } } } }'
    )
    assert [e["node"]["order_number"] for e in found["orders"]["data"]["edges"]] == ["#2001"]

    again = client.gql("mutation($data: CreateOrderInput!) { order_create(data: $data) { order { id } } }",
                       {"data": data}).json()  # fmt: skip
    assert again["data"] == {"order_create": None}
    assert "already exists" in again["errors"][0]["message"] and again["errors"][0]["path"] == [
        "order_create"
    ]
    stats = client.sandbox.stats
    assert stats.mutations_received["shiphero:order_create"] == 2
    assert stats.mutations_applied["shiphero:order_create"] == 1
    assert len(client.sandbox.world.shiphero_orders) == 6


def test_cancel_refuses_shipped_orders_unless_forced(client: Client) -> None:
    cancel = (
        "mutation($data: CancelOrderInput!) { order_cancel(data: $data) { order { fulfillment_status } } }"
    )
    shipped = relay_id("Order", 310_000_004)
    refused = client.gql(cancel, {"data": {"order_id": shipped}}).json()
    assert refused["data"] == {"order_cancel": None} and "force" in refused["errors"][0]["message"]
    forced = client.data(cancel, {"data": {"order_id": shipped, "force": True}})
    assert forced["order_cancel"]["order"]["fulfillment_status"] == "canceled"


# ----------------------------------------------------------------------------------------- faults
def test_injected_faults_use_shipheros_shapes() -> None:
    sandbox = Sandbox(make_world(), faults="flaky", rate_limits="off")
    sandbox.faults.error_rate = sandbox.faults.slow_rate = 0.0
    sandbox.faults.throttle_rate = sandbox.faults.repeat_rate = 0.0
    with serving(sandbox) as c:
        sandbox.faults.throttle_rate = 1.0
        throttled = c.gql("{ user_quota { max_available } }")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert throttled.json()["errors"][0]["code"] == 30
        sandbox.faults.throttle_rate, sandbox.faults.error_rate = 0.0, 1.0
        failed = c.gql("{ user_quota { max_available } }")
        assert failed.status_code == 503 and "Service Temporarily Unavailable" in failed.text

        sandbox.faults.error_rate, sandbox.faults.repeat_rate = 0.0, 1.0
        page = c.data(ORDERS_PAGE, {})["orders"]["data"]
        repeated = c.data(ORDERS_PAGE, {"after": page["pageInfo"]["endCursor"]})["orders"]["data"]
        assert repeated["edges"][0]["node"]["id"] == page["edges"][-1]["node"]["id"]


def test_hostile_mode_corrupts_order_nodes() -> None:
    sandbox = Sandbox(make_world(), faults="hostile", rate_limits="off")
    faults = sandbox.faults
    faults.error_rate = faults.throttle_rate = faults.slow_rate = faults.repeat_rate = 0.0
    faults.malformed_rate = 1.0
    with serving(sandbox) as c:
        nodes = [
            e["node"]
            for e in c.data("""{ orders { data { edges { node {
            id total_price currency updated_at } } } } }""")["orders"]["data"]["edges"]
        ]
    clean = {"total_price": "30.00", "currency": "USD"}
    assert all(
        n["id"] is None or n["total_price"] != clean["total_price"] or n["currency"] != clean["currency"]
        or not n["updated_at"].startswith("2026-11-01T1")
        for n in nodes
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ smoke
def test_smoke_generated_world_pages_every_order() -> None:
    generate = pytest.importorskip("shipshape_sandbox.generate")
    world = generate.build_world(200, seed=1)
    with serving(Sandbox(world, rate_limits="off")) as c:
        seen: list[str] = []
        after = None
        while True:
            page = c.data("""query($after: String) { orders { data(first: 50, after: $after) {
                pageInfo { hasNextPage endCursor } edges { node { id line_items(first: 10) { edges { node { sku } } } } }
            } } }""", {"after": after})["orders"]["data"]  # fmt: skip
            seen += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert sorted(seen) == sorted(o.id for o in world.shiphero_orders)
        shipments = c.data(
            "{ shipments { data(first: 100) { edges { node { id shipping_labels { tracking_number } } } } } }"
        )
        assert len(shipments["shipments"]["data"]["edges"]) == min(100, len(world.shiphero_shipments))
        products = c.data("{ warehouse_products { data { edges { node { sku available } } } } }")
        assert len(products["warehouse_products"]["data"]["edges"]) == min(100, len(world.shiphero_products))


FIXABLE = correctable("shiphero")  # the codes a ShipHero correction answers
FIND = """query($p: String) { orders(partner_order_id: $p) { data(first: 5) { edges { node {
    id fulfillment_status line_items(first: 50) { edges { node { id sku quantity } } } } } } } }"""


def _address_input(a: Address) -> dict[str, Any]:
    return {"first_name": a.first_name, "last_name": a.last_name, "company": a.company, "address1": a.address1,
            "address2": a.address2, "city": a.city, "state": a.province, "state_code": a.province_code,
            "zip": a.zip, "country": a.country, "country_code": a.country_code, "phone": a.phone}  # fmt: skip


def test_corrections_through_the_api_clear_the_truths_codes() -> None:
    """The SPEC's ShipHero corrections, sent as a client would, leave none of their codes behind."""
    generate = pytest.importorskip("shipshape_sandbox.generate")
    truth = pytest.importorskip("shipshape_sandbox.truth")
    world = generate.build_world(400, seed=2)
    todo = {o["order_id"]: set(o["codes"]) & FIXABLE for o in truth.compute_truth(world)["orders"]}
    todo = {k: v for k, v in todo.items() if v}
    assert {"MISSING_IN_3PL", "ADDRESS_MISMATCH", "LINE_ITEMS_MISMATCH"} <= set().union(*todo.values())
    with serving(Sandbox(world, rate_limits="off")) as c:
        for shopify_id, codes in todo.items():
            order = world.shopify_orders.get(shopify_id)
            line = order.shipping_line
            lines = {"title": line.title, "price": f"{line.price / 100:.2f}",
                     "method": world.shipping_method_map.get(line.code, line.code)}  # fmt: skip
            wanted = {
                li.sku: li for li in order.line_items if li.current_quantity > 0 and li.requires_shipping
            }
            if "MISSING_IN_3PL" in codes:
                _mutate(c, "order_create", {
                    "order_number": order.name, "partner_order_id": str(order.id), "email": order.email,
                    "shop_name": "sandbox-merchant.myshopify.com", "shipping_address": _address_input(order.shipping_address),
                    "shipping_lines": lines, "line_items": [
                        {"sku": sku, "partner_line_item_id": str(li.id), "quantity": li.current_quantity,
                         "price": f"{li.unit_price / 100:.2f}"} for sku, li in wanted.items()],
                })  # fmt: skip
                continue
            nodes = [e["node"] for e in c.data(FIND, {"p": str(shopify_id)})["orders"]["data"]["edges"]]
            sh = next(n for n in nodes if n["fulfillment_status"] != "canceled")
            if "CANCELLED_NOT_IN_3PL" in codes:
                _mutate(
                    c,
                    "order_update_fulfillment_status",
                    {"order_id": sh["id"], "fulfillment_status": "canceled"},
                )
                continue
            if "ADDRESS_MISMATCH" in codes:
                _mutate(
                    c,
                    "order_update",
                    {"order_id": sh["id"], "shipping_address": _address_input(order.shipping_address)},
                )
            if "SHIPPING_METHOD_MISMATCH" in codes:
                _mutate(c, "order_update", {"order_id": sh["id"], "shipping_lines": lines})
            if "UNPAID_NOT_HELD" in codes:
                _mutate(c, "order_update_holds", {"order_id": sh["id"], "payment_hold": True})
            if "LINE_ITEMS_MISMATCH" in codes:
                have = [e["node"] for e in sh["line_items"]["edges"]]
                gone = [n["id"] for n in have if n["sku"] not in wanted]
                kept = {n["sku"]: n["id"] for n in have if n["sku"] in wanted}
                if gone:
                    _mutate(c, "order_remove_line_items", {"order_id": sh["id"], "line_item_ids": gone})
                if kept:
                    _mutate(c, "order_update_line_items", {"order_id": sh["id"], "line_items": [
                        {"id": i, "quantity": wanted[sku].current_quantity} for sku, i in kept.items()]})  # fmt: skip
                new = [{"sku": sku, "partner_line_item_id": str(li.id), "quantity": li.current_quantity,
                        "price": f"{li.unit_price / 100:.2f}"} for sku, li in wanted.items() if sku not in kept]  # fmt: skip
                if new:
                    _mutate(c, "order_add_line_items", {"order_id": sh["id"], "line_items": new})
    after = {o["order_id"]: set(o["codes"]) & FIXABLE for o in truth.compute_truth(world)["orders"]}
    assert {k: v for k, v in after.items() if v and k in todo} == {}
