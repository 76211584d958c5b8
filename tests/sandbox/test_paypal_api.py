"""The sandbox's PayPal emulation, over real HTTP: OAuth2 tokens, Transaction Search (paging, the 31-day and
10 000-item limits, the publishing lag), Orders v2 show/track with PayPal-Request-Id, Add Tracking v1, faults.

Every request the tests send and every response they get is validated against PayPal's own OpenAPI specs in
/work/shared/reference (openapi-core), except the few answers the specs cannot describe; those are checked
against the spec's nearest schema or field by field, and each exception says why.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from shipshape_sandbox import runner
from shipshape_sandbox.apis import paypal
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import Address, PayPalCapture, PayPalOrder, PayPalRefund, PayPalTracker, World

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"  # shared/ beside the checkout
SPEC_HOST = "http://sandbox.test"  # specs are checked as if served there; the real port changes per test
CLOCK = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WINDOW = {"start_date": "2026-10-15T00:00:00Z", "end_date": "2026-11-01T23:59:59Z"}


# ------------------------------------------------------------------------------------ spec validation
class _SpecRequest:
    """An httpx request seen through openapi-core's Request protocol, at SPEC_HOST."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = SPEC_HOST
        self.path = request.url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class _SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("content-type", "")
        self.data = response.content


class Specs:
    """PayPal's three OpenAPI documents, with their servers pointed at the sandbox's /paypal prefix."""

    FILES = {
        "/paypal/v1/reporting/": "paypal-reporting_transactions_v1.json",
        "/paypal/v2/checkout/": "paypal-checkout_orders_v2.json",
        "/paypal/v1/shipping/": "paypal-shipping_shipment_tracking_v1.json",
    }

    def __init__(self, lenient: bool = False) -> None:
        self.raw: dict[str, dict] = {}
        self.apps: dict[str, OpenAPI] = {}
        for prefix, name in self.FILES.items():
            spec = json.loads((REFERENCE / name).read_text())
            if lenient:
                _drop_patterns(spec)
            self.raw[prefix] = spec
            served = copy.deepcopy(spec)
            served["servers"] = [{"url": SPEC_HOST + "/paypal"}]
            self.apps[prefix] = OpenAPI.from_dict(served)

    def _app(self, path: str) -> OpenAPI:
        for prefix, app in self.apps.items():
            if path.startswith(prefix):
                return app
        raise AssertionError(f"no PayPal spec covers {path}")

    def request(self, response: httpx.Response) -> None:
        self._app(response.request.url.path).validate_request(_SpecRequest(response.request))

    def response(self, response: httpx.Response) -> None:
        app = self._app(response.request.url.path)
        app.validate_response(_SpecRequest(response.request), _SpecResponse(response))

    def both(self, response: httpx.Response) -> httpx.Response:
        self.request(response)
        self.response(response)
        return response

    def schema(self, prefix: str, name: str, instance) -> None:
        """Validate against one named schema of a spec (for answers the operation's declaration gets wrong)."""
        spec = self.raw[prefix]
        OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]}).validate(
            instance
        )


def _drop_patterns(node) -> None:
    """Remove every string `pattern`: the specs' character classes reject '#1001' invoice ids and accented
    names, which PayPal accepts at checkout and reports back unchanged."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            del node["pattern"]
        for value in node.values():
            _drop_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _drop_patterns(value)


@pytest.fixture(scope="module")
def specs() -> Specs:
    """The three PayPal specs, loaded once per module (openapi-core takes a moment per document)."""
    if not REFERENCE.exists():
        pytest.skip("PayPal reference specs not available")
    return Specs()


# ------------------------------------------------------------------------------------------- worlds
def _cap_id(n: int) -> str:
    return f"8MC58520{n:08d}H"  # 17 characters, like PayPal's capture ids


def _refund_id(n: int) -> str:
    return f"1JU08902{n:08d}R"


def _order_id(n: int) -> str:
    return f"5O190127{n:08d}T"


def _address(first: str = "Jane", last: str = "Doe") -> Address:
    return Address(
        first_name=first,
        last_name=last,
        address1="2211 North First Street",
        address2="Suite 4",
        city="San Jose",
        province="California",
        province_code="CA",
        zip="95131",
        country="United States",
        country_code="US",
    )


def add_payment(
    world: World, n: int, at: datetime, status: str = "COMPLETED", amount: int = 2000, currency: str = "USD"
) -> PayPalCapture:
    """An Orders v2 order (COMPLETED) with one capture of `amount` cents, placed at `at`."""
    order = PayPalOrder(
        id=_order_id(n),
        status="COMPLETED",
        intent="CAPTURE",
        create_time=at - timedelta(minutes=2),
        update_time=at,
        currency=currency,
        amount=amount,
        invoice_id=f"INV-{1000 + n}",
        custom_id=str(1000 + n),
        reference_id="default",
        payer_email=f"buyer{n}@example.com",
        payer_id="QYR5Z8XDVJNXQ",
        shipping_address=_address(),
        capture_ids=[_cap_id(n)],
    )
    capture = PayPalCapture(
        id=_cap_id(n),
        order_id=order.id,
        status=status,
        amount=amount,
        currency=currency,
        fee=round(amount * 0.0349) + 49,
        create_time=at,
        update_time=at,
        invoice_id=order.invoice_id,
        custom_id=order.custom_id,
    )
    world.paypal_orders.add(order)
    world.paypal_captures.add(capture)
    return capture


def add_refund(world: World, n: int, capture: PayPalCapture, at: datetime, amount: int) -> PayPalRefund:
    refund = PayPalRefund(
        id=_refund_id(n),
        capture_id=capture.id,
        amount=amount,
        currency=capture.currency,
        status="COMPLETED",
        create_time=at,
        update_time=at,
        invoice_id=capture.invoice_id,
    )
    capture.refund_ids.append(refund.id)
    capture.status = "REFUNDED" if amount >= capture.amount else "PARTIALLY_REFUNDED"
    capture.update_time = at
    world.paypal_refunds.add(refund)
    return refund


def small_world() -> World:
    """Seven payments, two refunds and a tracker, around the clock of 2026-11-01 12:00 UTC."""
    world = World(clock=CLOCK, seed=1)
    day = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
    add_payment(world, 1, day)
    c2 = add_payment(world, 2, day + timedelta(days=1), amount=3000)
    c3 = add_payment(world, 3, day + timedelta(days=2), amount=4550)
    add_payment(world, 4, day + timedelta(days=3), status="DECLINED")
    add_payment(world, 5, day + timedelta(days=4), status="PENDING")
    add_payment(world, 6, CLOCK - timedelta(hours=1))  # happened, but not yet published
    add_payment(world, 7, datetime(2026, 9, 15, 9, 0, tzinfo=UTC), currency="EUR")  # outside the window
    add_refund(world, 1, c2, day + timedelta(days=5), 3000)
    add_refund(world, 2, c3, day + timedelta(days=8), 1000)
    world.paypal_trackers.add(
        PayPalTracker(
            transaction_id=c3.id,
            tracking_number="1Z999AA10123456784",
            carrier="UPS",
            status="SHIPPED",
            create_time=day + timedelta(days=3),
            update_time=day + timedelta(days=3),
            order_id=c3.order_id,
        )
    )
    return world


def visible(world: World, balance_only: bool = True) -> list[str]:
    """What Transaction Search should list over WINDOW: published, and moving money unless asked otherwise."""
    cutoff = world.clock - paypal.PUBLISH_LAG
    start = datetime.fromisoformat(WINDOW["start_date"])
    rows = [*world.paypal_captures, *world.paypal_refunds]
    rows = [r for r in rows if start <= r.create_time <= cutoff]
    if balance_only:
        rows = [r for r in rows if r.status not in ("DECLINED", "FAILED")]
    return [r.id for r in sorted(rows, key=lambda r: (r.create_time, r.id))]


@pytest.fixture
def serve():
    """serve(sandbox) -> an httpx client for its /paypal, on a real loopback port; PayPal only."""
    opened = []

    def _serve(sandbox: Sandbox) -> httpx.Client:
        ctx = runner.running(sandbox, apis=("paypal",))
        base = ctx.__enter__()
        client = httpx.Client(base_url=f"{base}/paypal", timeout=10)
        opened.append((ctx, client))
        return client

    yield _serve
    for ctx, client in opened:
        client.close()
        ctx.__exit__(None, None, None)


def login(client: httpx.Client, sandbox: Sandbox) -> str:
    creds = sandbox.credentials
    response = client.post(
        "/v1/oauth2/token",
        auth=(creds.paypal_client_id, creds.paypal_client_secret),
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return token


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(small_world(), rate_limits="off")


@pytest.fixture
def client(serve, sandbox) -> httpx.Client:
    """A logged-in client against a sandbox holding small_world()."""
    c = serve(sandbox)
    login(c, sandbox)
    return c


def search_all(client: httpx.Client, specs: Specs, params: dict) -> tuple[list[dict], list[dict]]:
    """Page through a search; returns (entries, page bodies), validating every exchange."""
    entries, bodies, page = [], [], 1
    while True:
        response = client.get("/v1/reporting/transactions", params={**params, "page": page})
        assert response.status_code == 200, response.text
        body = response.json()
        if body["transaction_details"]:
            specs.both(response)
        else:  # the live API answers [] where the spec says minItems 1; the rest must still hold
            specs.request(response)
            specs.schema("/paypal/v1/reporting/", "search_response", {**body, "transaction_details": [{}]})
        bodies.append(body)
        entries.extend(body["transaction_details"])
        if page >= body["total_pages"]:
            return entries, bodies
        page += 1


# -------------------------------------------------------------------------------------------- OAuth2
def test_token_round_trip_reuse_and_expiry(serve, sandbox, specs, monkeypatch):
    monkeypatch.setattr(paypal.settings, "TOKEN_LIFETIME_SECONDS", 1)
    client = serve(sandbox)
    creds = sandbox.credentials

    wrong = client.post("/v1/oauth2/token", auth=(creds.paypal_client_id, "nope"),
                        data={"grant_type": "client_credentials"})  # fmt: skip
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "invalid_client", "error_description": "Client Authentication failed"}
    no_grant = client.post("/v1/oauth2/token", auth=(creds.paypal_client_id, creds.paypal_client_secret))
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "unsupported_grant_type"

    first = client.post("/v1/oauth2/token", auth=(creds.paypal_client_id, creds.paypal_client_secret),
                        data={"grant_type": "client_credentials"}).json()  # fmt: skip
    assert set(first) == {"scope", "access_token", "token_type", "app_id", "expires_in", "nonce"}
    assert first["token_type"] == "Bearer" and first["expires_in"] == 1
    assert "https://uri.paypal.com/services/reporting/search/read" in first["scope"].split()
    assert first["app_id"].startswith("APP-")

    headers = {"Authorization": f"Bearer {first['access_token']}"}
    ok = specs.both(client.get(f"/v2/checkout/orders/{_order_id(1)}", headers=headers))
    assert ok.status_code == 200

    time.sleep(1.1)
    expired = client.get(f"/v2/checkout/orders/{_order_id(1)}", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {
        "error": "invalid_token",
        "error_description": "Access Token not found in cache",
    }
    specs.response(expired)  # the Orders spec's 401 has no required fields, so PayPal's OAuth shape passes

    forged = client.get(
        f"/v2/checkout/orders/{_order_id(1)}", headers={"Authorization": "Bearer A21AAforged"}
    )
    assert forged.json()["error_description"] == "Token signature verification failed"
    missing = specs.both(client.get(f"/v2/checkout/orders/{_order_id(1)}"))
    assert missing.status_code == 401 and missing.json()["name"] == "AUTHENTICATION_FAILURE"
    assert missing.headers["paypal-debug-id"] == missing.json()["debug_id"]

    monkeypatch.setattr(paypal.settings, "TOKEN_LIFETIME_SECONDS", 600)
    second = client.post("/v1/oauth2/token", auth=(creds.paypal_client_id, creds.paypal_client_secret),
                         data={"grant_type": "client_credentials"}).json()  # fmt: skip
    assert second["access_token"] != first["access_token"]
    again = client.post("/v1/oauth2/token", auth=(creds.paypal_client_id, creds.paypal_client_secret),
                        data={"grant_type": "client_credentials"}).json()  # fmt: skip
    assert again["access_token"] == second["access_token"]  # PayPal hands out the live token again
    assert again["expires_in"] <= second["expires_in"]


# --------------------------------------------------------------------------------- Transaction Search
def test_paging_returns_exactly_the_visible_transactions(client, sandbox, specs):
    entries, bodies = search_all(client, specs, {**WINDOW, "page_size": 2, "fields": "all"})
    ids = [e["transaction_info"]["transaction_id"] for e in entries]
    assert ids == visible(sandbox.world)
    assert len(ids) == len(set(ids)) == 6  # 4 payments (the declined one moves no money) + 2 refunds
    first = bodies[0]
    assert first["total_items"] == 6 and first["total_pages"] == 3 and first["page"] == 1
    assert first["last_refreshed_datetime"] == "2026-11-01T09:00:00Z"
    assert first["end_date"] == "2026-11-01T09:00:00Z"  # clamped to what is published
    assert first["start_date"] == "2026-10-15T00:00:00Z"
    assert {link["rel"] for link in first["links"]} >= {"self", "next", "last"}

    by_id = {e["transaction_info"]["transaction_id"]: e for e in entries}
    payment = by_id[_cap_id(1)]["transaction_info"]
    assert payment["transaction_event_code"] == "T0006"
    assert payment["transaction_amount"] == {"currency_code": "USD", "value": "20.00"}
    assert payment["fee_amount"] == {"currency_code": "USD", "value": "-1.19"}
    assert payment["transaction_status"] == "S"
    assert payment["invoice_id"] == "INV-1001" and payment["custom_field"] == "1001"
    assert payment["transaction_initiation_date"] == "2026-10-20T10:00:00Z"
    refund = by_id[_refund_id(1)]["transaction_info"]
    assert refund["transaction_event_code"] == "T1107"
    assert refund["paypal_reference_id"] == _cap_id(2) and refund["paypal_reference_id_type"] == "TXN"
    assert refund["transaction_amount"] == {"currency_code": "USD", "value": "-30.00"}
    assert refund["invoice_id"] == "INV-1002"
    assert by_id[_cap_id(2)]["transaction_info"]["transaction_status"] == "V"  # fully refunded
    assert by_id[_cap_id(5)]["transaction_info"]["transaction_status"] == "P"
    assert by_id[_cap_id(1)]["payer_info"]["email_address"] == "buyer1@example.com"
    assert by_id[_cap_id(1)]["shipping_info"]["address"]["postal_code"] == "95131"

    everything, _ = search_all(client, specs, {**WINDOW, "balance_affecting_records_only": "N"})
    assert [e["transaction_info"]["transaction_id"] for e in everything] == visible(sandbox.world, False)
    assert set(everything[0]) == {"transaction_info"}  # the default `fields`

    one = client.get("/v1/reporting/transactions", params={**WINDOW, "transaction_id": _refund_id(2)})
    assert [
        e["transaction_info"]["transaction_id"] for e in specs.both(one).json()["transaction_details"]
    ] == [_refund_id(2)]
    refunds, _ = search_all(client, specs, {**WINDOW, "transaction_type": "T1107"})
    assert [e["transaction_info"]["transaction_id"] for e in refunds] == [_refund_id(1), _refund_id(2)]


def test_date_range_over_31_days_is_refused(client, specs):
    response = client.get(
        "/v1/reporting/transactions",
        params={"start_date": "2026-09-01T00:00:00Z", "end_date": "2026-10-02T00:00:01Z"},
    )
    assert response.status_code == 400
    body = specs.both(response).json()
    assert body["name"] == "INVALID_REQUEST"
    assert body["details"][0]["issue"] == "Date range is greater than 31 days"
    assert body["details"][0]["field"] == "end_date" and body["details"][0]["location"] == "query"

    exactly = client.get(
        "/v1/reporting/transactions",
        params={"start_date": "2026-09-01T00:00:00Z", "end_date": "2026-10-02T00:00:00Z"},
    )
    assert exactly.status_code == 200
    missing = client.get("/v1/reporting/transactions", params={"end_date": WINDOW["end_date"]})
    assert (
        missing.status_code == 400 and missing.json()["details"][0]["issue"] == "MISSING_REQUIRED_PARAMETER"
    )
    specs.response(missing)
    bad = client.get("/v1/reporting/transactions", params={**WINDOW, "start_date": "2026-10-15"})
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "start_date"
    specs.response(bad)


def test_publishing_lag_hides_fresh_transactions(client, sandbox, specs):
    fresh = _cap_id(6)
    ids = [e["transaction_info"]["transaction_id"] for e in search_all(client, specs, WINDOW)[0]]
    assert fresh not in ids

    too_recent = client.get(
        "/v1/reporting/transactions",
        params={"start_date": "2026-11-01T10:00:00Z", "end_date": "2026-11-01T12:00:00Z"},
    )
    assert too_recent.status_code == 400
    assert too_recent.json()["message"] == "Data for the given start date is not available."
    specs.request(too_recent)  # the body is PayPal's, with a message the spec's enum does not list

    sandbox.world.clock = CLOCK + timedelta(hours=2, minutes=1)  # 3 h after the payment
    entries, bodies = search_all(client, specs, WINDOW)
    assert fresh in [e["transaction_info"]["transaction_id"] for e in entries]
    assert bodies[0]["last_refreshed_datetime"] == "2026-11-01T11:01:00Z"


def test_too_many_results_must_be_split(client, sandbox, specs, monkeypatch):
    monkeypatch.setattr(paypal.settings, "MAX_RESULT_ITEMS", 4)
    response = client.get("/v1/reporting/transactions", params=WINDOW)
    assert response.status_code == 400
    body = response.json()
    specs.request(response)
    # Transaction Search's own error shape (name/message/debug_id, total_items, maximum_items): not in
    # the shared spec, whose error schemas know only the generic names.
    assert body["name"] == "RESULTSET_TOO_LARGE"
    assert body["message"].startswith("Result set size is greater than the maximum limit")
    assert body["total_items"] == 6 and body["maximum_items"] == 4 and body["debug_id"]

    halves = [
        {"start_date": "2026-10-15T00:00:00Z", "end_date": "2026-10-22T00:00:00Z"},  # 2 rows
        {"start_date": "2026-10-22T00:00:01Z", "end_date": "2026-11-01T23:59:59Z"},  # 4 rows
    ]
    ids = [
        e["transaction_info"]["transaction_id"] for half in halves for e in search_all(client, specs, half)[0]
    ]
    assert ids == visible(sandbox.world)


def test_flaky_pages_repeat_a_record_and_hostile_records_are_malformed(serve, specs):
    world = small_world()
    sandbox = Sandbox(world, faults="hostile", rate_limits="off")
    sandbox.faults.error_rate = sandbox.faults.throttle_rate = sandbox.faults.slow_rate = 0.0
    sandbox.faults.repeat_rate = 1.0
    sandbox.faults.malformed_rate = 1.0
    client = serve(sandbox)
    login(client, sandbox)
    first = client.get("/v1/reporting/transactions", params={**WINDOW, "page_size": 2, "page": 1}).json()
    second = client.get("/v1/reporting/transactions", params={**WINDOW, "page_size": 2, "page": 2}).json()
    assert (
        first["transaction_details"][-1] == second["transaction_details"][0]
    )  # repeated across the boundary
    for entry in first["transaction_details"] + second["transaction_details"]:
        info = entry["transaction_info"]
        assert (
            info["transaction_id"] is None
            or info["transaction_amount"]["value"].startswith("-")
            or info["transaction_amount"]["currency_code"] == "ZZZ"
            or info["transaction_updated_date"] == "2026-13-45T25:61:00Z"
        )


# ------------------------------------------------------------------------------------------ Orders v2
def test_show_order_has_captures_refunds_and_trackers(client, specs):
    response = specs.both(client.get(f"/v2/checkout/orders/{_order_id(3)}"))
    assert response.status_code == 200
    order = response.json()
    assert order["id"] == _order_id(3) and order["status"] == "COMPLETED" and order["intent"] == "CAPTURE"
    unit = order["purchase_units"][0]
    assert unit["invoice_id"] == "INV-1003" and unit["custom_id"] == "1003"
    assert unit["amount"] == {"currency_code": "USD", "value": "45.50"}
    assert unit["shipping"]["name"] == {"full_name": "Jane Doe"}
    assert unit["shipping"]["address"] == {
        "address_line_1": "2211 North First Street",
        "address_line_2": "Suite 4",
        "admin_area_2": "San Jose",
        "admin_area_1": "CA",
        "postal_code": "95131",
        "country_code": "US",
    }
    assert [t["id"] for t in unit["shipping"]["trackers"]] == [f"{_cap_id(3)}-1Z999AA10123456784"]
    capture = unit["payments"]["captures"][0]
    assert capture["id"] == _cap_id(3) and capture["status"] == "PARTIALLY_REFUNDED"
    assert capture["final_capture"] is True and capture["seller_protection"]["status"] == "ELIGIBLE"
    assert capture["seller_receivable_breakdown"]["net_amount"]["value"] == "43.42"
    assert [r["amount"]["value"] for r in unit["payments"]["refunds"]] == ["10.00"]
    assert order["payer"]["payer_id"] == "QYR5Z8XDVJNXQ"

    missing = client.get("/v2/checkout/orders/5O19012799999999T")
    assert missing.status_code == 404
    detail = specs.both(missing).json()["details"][0]
    assert detail["issue"] == "INVALID_RESOURCE_ID"


def _track_body(capture_id: str, number: str, **extra) -> dict:
    # `transaction_id` and `status` are required by the shared spec's order_tracker_request (it extends
    # shipment_tracker); PayPal's own examples omit them and the sandbox accepts either.
    return {"capture_id": capture_id, "transaction_id": capture_id, "status": "SHIPPED",
            "tracking_number": number, "carrier": "FEDEX", "notify_payer": False,
            "items": [{"name": "T-Shirt", "sku": "TSHIRT-BLK-M", "quantity": "2"}], **extra}  # fmt: skip


def test_track_applies_once_per_request_id_and_shows_in_trackers(client, sandbox, specs):
    world = sandbox.world
    before = len(world.paypal_trackers)
    body = _track_body(_cap_id(1), "443844607820")
    headers = {"PayPal-Request-Id": "corr-track-0001"}

    created = specs.both(client.post(f"/v2/checkout/orders/{_order_id(1)}/track", json=body, headers=headers))
    assert created.status_code == 201
    trackers = created.json()["purchase_units"][0]["shipping"]["trackers"]
    assert [t["id"] for t in trackers] == [f"{_cap_id(1)}-443844607820"]
    assert trackers[0]["status"] == "SHIPPED" and trackers[0]["items"][0]["sku"] == "TSHIRT-BLK-M"

    replay = specs.both(client.post(f"/v2/checkout/orders/{_order_id(1)}/track", json=body, headers=headers))
    assert replay.status_code == 200 and replay.json() == created.json()
    assert len(world.paypal_trackers) == before + 1
    tracker = world.paypal_trackers.get(f"{_cap_id(1)}-443844607820")
    assert (tracker.status, tracker.carrier, tracker.order_id) == ("SHIPPED", "FEDEX", _order_id(1))
    assert sandbox.stats.idempotent_replays["paypal"] == 1
    assert sandbox.stats.idempotency_keys_applied["paypal:corr-track-0001"] == 1
    assert sandbox.stats.mutations_applied["paypal:orders.track"] == 1

    listed = client.get("/v1/shipping/trackers", params={"transaction_id": _cap_id(1)})
    assert listed.status_code == 200
    specs.request(listed)
    # PayPal answers (and its clients read) a tracker_collection here; the spec declares a single tracker.
    specs.schema("/paypal/v1/shipping/", "tracker_collection", listed.json())
    [shown] = listed.json()["trackers"]
    assert (shown["transaction_id"], shown["tracking_number"], shown["carrier"], shown["status"]) == (
        _cap_id(1),
        "443844607820",
        "FEDEX",
        "SHIPPED",
    )
    one = specs.both(client.get(f"/v1/shipping/trackers/{_cap_id(1)}-443844607820"))
    assert one.json()["tracking_number"] == "443844607820"
    by_number = client.get(
        "/v1/shipping/trackers",
        params={"transaction_id": _cap_id(3), "tracking_number": "1Z999AA10123456784"},
    )
    assert [t["carrier"] for t in by_number.json()["trackers"]] == ["UPS"]
    unknown = specs.both(client.get(f"/v1/shipping/trackers/{_cap_id(1)}-NOPE"))
    assert unknown.status_code == 404


def test_track_errors_follow_the_spec(client, sandbox, specs):
    elsewhere = client.post(f"/v2/checkout/orders/{_order_id(1)}/track", json=_track_body(_cap_id(2), "1"))
    assert elsewhere.status_code == 422
    assert specs.both(elsewhere).json()["details"][0]["issue"] == "CAPTURE_ID_NOT_FOUND"
    declined = client.post(f"/v2/checkout/orders/{_order_id(4)}/track", json=_track_body(_cap_id(4), "2"))
    assert declined.status_code == 422
    assert specs.both(declined).json()["details"][0]["issue"] == "CAPTURE_STATUS_NOT_VALID"
    no_capture = client.post(f"/v2/checkout/orders/{_order_id(1)}/track",
                             json={"tracking_number": "3", "carrier": "UPS"})  # fmt: skip
    assert no_capture.status_code == 400
    specs.response(no_capture)
    assert no_capture.json()["details"][0] == {
        "field": "/capture_id",
        "location": "body",
        "issue": "MISSING_REQUIRED_PARAMETER",
        "description": "A required field / parameter is missing.",
    }
    bad_carrier = client.post(f"/v2/checkout/orders/{_order_id(1)}/track",
                              json=_track_body(_cap_id(1), "4", carrier="fedex ground"))  # fmt: skip
    assert bad_carrier.status_code == 400 and bad_carrier.json()["details"][0]["field"] == "/carrier"
    specs.response(bad_carrier)
    nowhere = client.post("/v2/checkout/orders/5O19012799999999T/track", json=_track_body(_cap_id(1), "5"))
    assert nowhere.status_code == 404
    specs.both(nowhere)
    assert len(sandbox.world.paypal_trackers) == 1  # nothing was added
    assert sandbox.stats.mutations_applied["paypal:orders.track"] == 0


def test_trackers_batch_is_idempotent_and_reports_item_errors(client, sandbox, specs):
    body = {
        "trackers": [
            {"transaction_id": _cap_id(2), "tracking_number": "9400111899223197428490", "status": "SHIPPED",
             "carrier": "USPS"},
            {"transaction_id": "8MC58520999999999", "tracking_number": "X1", "status": "SHIPPED",
             "carrier": "USPS"},
        ]
    }  # fmt: skip
    headers = {"PayPal-Request-Id": "batch-0001"}
    first = specs.both(client.post("/v1/shipping/trackers-batch", json=body, headers=headers))
    assert first.status_code == 200
    out = first.json()
    assert [i["tracking_number"] for i in out["tracker_identifiers"]] == ["9400111899223197428490"]
    assert out["errors"][0]["name"] == "RESOURCE_NOT_FOUND"
    assert out["errors"][0]["details"][0]["issue"] == "INVALID_TRANSACTION_ID"
    again = specs.both(client.post("/v1/shipping/trackers-batch", json=body, headers=headers))
    assert again.json() == out
    assert sandbox.stats.idempotency_keys_applied["paypal:batch-0001"] == 1
    assert len(sandbox.world.paypal_trackers) == 2

    tracker_id = f"{_cap_id(2)}-9400111899223197428490"
    update = {"transaction_id": _cap_id(2), "tracking_number": "9400111899223197428490", "status": "DELIVERED",
              "carrier": "USPS"}  # fmt: skip
    put = specs.both(client.put(f"/v1/shipping/trackers/{tracker_id}", json=update))
    assert put.status_code == 204
    assert sandbox.world.paypal_trackers.get(tracker_id).status == "DELIVERED"


# -------------------------------------------------------------------------------- faults and limits
def test_injected_faults_use_paypal_error_bodies(serve, specs):
    sandbox = Sandbox(small_world(), faults="flaky", rate_limits="off")
    client = serve(sandbox)
    sandbox.faults.error_rate, sandbox.faults.throttle_rate, sandbox.faults.slow_rate = 0.0, 0.0, 0.0
    login(client, sandbox)
    sandbox.faults.error_rate = 1.0
    down = client.get("/v1/reporting/transactions", params=WINDOW)
    assert down.status_code == 503 and down.json()["name"] == "SERVICE_UNAVAILABLE"
    specs.both(down)
    sandbox.faults.error_rate, sandbox.faults.throttle_rate = 0.0, 1.0
    throttled = client.get(f"/v2/checkout/orders/{_order_id(1)}")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
    assert throttled.json()["name"] == "RATE_LIMIT_REACHED"
    assert throttled.json()["message"] == "Too many requests. Blocked due to rate limiting."


def test_real_rate_limit_throttles_a_token(serve, monkeypatch):
    monkeypatch.setattr(paypal.settings, "RATE_BURST", 3.0)
    monkeypatch.setattr(paypal.settings, "RATE_PER_SECOND", 0.01)
    sandbox = Sandbox(small_world(), rate_limits="real")
    client = serve(sandbox)
    login(client, sandbox)
    statuses = [client.get(f"/v2/checkout/orders/{_order_id(1)}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert sandbox.stats.throttled["paypal"] == 1


# ---------------------------------------------------------------------------------- a generated world
def test_generated_world_pages_completely(serve):
    generate = pytest.importorskip("shipshape_sandbox.generate")
    if not REFERENCE.exists():
        pytest.skip("PayPal reference specs not available")
    specs = Specs(lenient=True)  # shapes, types, enums and required fields; free-text patterns relaxed
    world = generate.build_world(200, seed=1)
    sandbox = Sandbox(world, rate_limits="off")
    client = serve(sandbox)
    login(client, sandbox)
    cutoff = world.clock - paypal.PUBLISH_LAG
    rows = [*world.paypal_captures, *world.paypal_refunds]
    earliest = min((r.create_time for r in rows), default=cutoff)
    expected = sorted(
        r.id for r in rows if r.create_time <= cutoff and r.status not in ("DECLINED", "FAILED")
    )
    seen, start = [], earliest.replace(microsecond=0)
    while start <= cutoff:
        end = start + timedelta(days=31) - timedelta(seconds=1)
        params = {
            "start_date": paypal.iso(start),
            "end_date": paypal.iso(end),
            "page_size": 500,
            "fields": "all",
        }
        seen.extend(e["transaction_info"]["transaction_id"] for e in search_all(client, specs, params)[0])
        start = end + timedelta(seconds=1)
    assert sorted(seen) == expected
    for order in list(world.paypal_orders)[:25]:
        specs.both(client.get(f"/v2/checkout/orders/{order.id}"))
