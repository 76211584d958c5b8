"""The EasyPost-style tracking emulation over real HTTP: auth, the Tracker shape, newest-first paging with
before_id/after_id, created and updated-since windows, filters, retrieve, errors, rate limits, faults."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shipshape_sandbox import runner
from shipshape_sandbox.apis import tracking
from shipshape_sandbox.server import Sandbox
from shipshape_sandbox.world import Tracker, TrackingDetail, World

CLOCK = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 10, 30, tzinfo=UTC)


def make_world() -> World:
    """Eight trackers created an hour apart (trk_00 oldest); trk_02 and trk_05 updated on Nov 1."""
    world = World(clock=CLOCK, seed=3)
    for i in range(8):
        created = START + timedelta(hours=i)
        tracker = Tracker(
            id=f"trk_{i:02d}",
            tracking_code=f"94001000000000000000{i:02d}",
            carrier="USPS" if i % 2 == 0 else "UPS",
            status="pre_transit",
            created_at=created,
            updated_at=created,
            details=[TrackingDetail("pre_transit", "Shipping label created", created)],
            est_delivery_date=created + timedelta(days=4),
            weight=12.0,
            shipment_id=f"U2hpcG1lbnQ6{i}",
        )
        world.trackers.add(tracker)
    for i, hour in ((2, 9), (5, 10)):
        tracker = world.trackers.get(f"trk_{i:02d}")
        tracker.status = "in_transit"
        tracker.updated_at = datetime(2026, 11, 1, hour, tzinfo=UTC)
        tracker.details.append(TrackingDetail("in_transit", "Departed facility", tracker.updated_at,
                                              "HOUSTON", "TX", "US", "77063"))  # fmt: skip
    world.changed()
    return world


@contextmanager
def serving(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with runner.running(sandbox, apis=("tracking",)) as base_url:
        auth = httpx.BasicAuth(sandbox.credentials.tracking_api_key, "")
        with httpx.Client(base_url=base_url, auth=auth, timeout=10) as http:
            yield http


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(make_world(), rate_limits="off")


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with serving(sandbox) as client:
        yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["trackers"]]


def test_tracker_object_shape_and_retrieve(http: httpx.Client) -> None:
    response = http.get("/tracking/v2/trackers/trk_05")
    assert response.status_code == 200 and response.headers["x-ep-request-uuid"]
    t = response.json()
    assert t["object"] == "Tracker" and t["mode"] == "test" and t["carrier"] == "UPS"
    assert t["status"] == "in_transit" and t["status_detail"] == "arrived_at_facility"
    assert t["created_at"] == "2026-10-30T05:00:00Z" and t["updated_at"] == "2026-11-01T10:00:00Z"
    assert t["est_delivery_date"] == "2026-11-03T05:00:00Z" and t["weight"] == 12.0
    assert [d["status"] for d in t["tracking_details"]] == ["pre_transit", "in_transit"]
    last = t["tracking_details"][-1]
    assert last["object"] == "TrackingDetail" and last["datetime"] == "2026-11-01T10:00:00Z"
    assert last["tracking_location"] == {"object": "TrackingLocation", "city": "HOUSTON", "state": "TX",
                                         "country": "US", "zip": "77063"}  # fmt: skip
    assert t["carrier_detail"]["object"] == "CarrierDetail" and t["fees"][0]["type"] == "TrackerFee"
    assert t["public_url"].startswith("https://track.easypost.com/")

    missing = http.get("/tracking/v2/trackers/trk_nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "NOT_FOUND", "message": "The requested resource could not be found.",
                                        "errors": []}}  # fmt: skip


def test_listing_is_newest_first_and_pages_with_before_and_after_id(http: httpx.Client) -> None:
    default = http.get("/tracking/v2/trackers")
    assert ids(default) == [f"trk_{i:02d}" for i in range(7, -1, -1)] and default.json()["has_more"] is False
    first = http.get("/tracking/v2/trackers", params={"page_size": 3})
    assert ids(first) == ["trk_07", "trk_06", "trk_05"] and first.json()["has_more"] is True
    second = http.get("/tracking/v2/trackers", params={"page_size": 3, "before_id": "trk_05"})
    assert ids(second) == ["trk_04", "trk_03", "trk_02"] and second.json()["has_more"] is True
    last = http.get("/tracking/v2/trackers", params={"page_size": 3, "before_id": "trk_02"})
    assert ids(last) == ["trk_01", "trk_00"] and last.json()["has_more"] is False
    newer = http.get("/tracking/v2/trackers", params={"page_size": 2, "after_id": "trk_03"})
    assert ids(newer) == ["trk_05", "trk_04"] and newer.json()["has_more"] is True


def test_created_window_updated_since_and_filters(http: httpx.Client) -> None:
    window = {"start_datetime": "2026-10-30T02:00:00Z", "end_datetime": "2026-10-30T05:00:00Z"}
    assert ids(http.get("/tracking/v2/trackers", params=window)) == ["trk_04", "trk_03", "trk_02"]

    since = http.get("/tracking/v2/trackers", params={"updated_since": "2026-11-01"})
    assert ids(since) == ["trk_05", "trk_02"]  # ordered by updated_at, newest first
    paged = http.get("/tracking/v2/trackers", params={"updated_since": "2026-11-01", "page_size": 1})
    assert ids(paged) == ["trk_05"] and paged.json()["has_more"] is True
    rest = http.get("/tracking/v2/trackers",
                    params={"updated_since": "2026-11-01", "page_size": 1, "before_id": "trk_05"})  # fmt: skip
    assert ids(rest) == ["trk_02"] and rest.json()["has_more"] is False
    bounded = {"updated_since": "2026-10-30T06:00:00", "updated_before": "2026-11-01T10:00:00Z"}
    assert ids(http.get("/tracking/v2/trackers", params=bounded)) == ["trk_02", "trk_07", "trk_06"]

    assert ids(http.get("/tracking/v2/trackers", params={"tracking_code": "9400100000000000000003"})) == [
        "trk_03"
    ]
    assert ids(http.get("/tracking/v2/trackers", params={"carrier": "ups", "page_size": 2})) == [
        "trk_07",
        "trk_05",
    ]
    both = {"carrier": "USPS", "updated_since": "2026-11-01"}
    assert ids(http.get("/tracking/v2/trackers", params=both)) == ["trk_02"]


def test_bad_parameters_and_credentials(sandbox: Sandbox, http: httpx.Client) -> None:
    too_big = http.get("/tracking/v2/trackers", params={"page_size": 101})
    assert too_big.status_code == 422 and too_big.json()["error"]["code"] == "PARAMETER.INVALID"
    assert too_big.json()["error"]["errors"][0]["field"] == "page_size"
    bad_time = http.get("/tracking/v2/trackers", params={"start_datetime": "last tuesday"})
    assert bad_time.status_code == 422 and bad_time.json()["error"]["errors"][0]["field"] == "start_datetime"
    both = http.get("/tracking/v2/trackers", params={"before_id": "trk_01", "after_id": "trk_02"})
    assert both.status_code == 422

    wrong = http.get("/tracking/v2/trackers", auth=httpx.BasicAuth("EZTKwrong", ""))
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "APIKEY.REQUIRED"
    bearer = http.get("/tracking/v2/trackers", auth=None,
                      headers={"Authorization": f"Bearer {sandbox.credentials.tracking_api_key}"})  # fmt: skip
    assert bearer.status_code == 200


def test_rate_limit_answers_429_with_retry_after() -> None:
    sandbox = Sandbox(make_world(), rate_limits="real")
    now = [1000.0]
    tracking.state_for(sandbox).clock = lambda: now[0]
    with serving(sandbox) as http:
        statuses = [http.get("/tracking/v2/trackers/trk_01").status_code for _ in range(101)]
        assert statuses[:100] == [200] * 100
        limited = http.get("/tracking/v2/trackers/trk_01")
        assert statuses[100] == 429 and limited.status_code == 429
        assert limited.headers["Retry-After"] == "1" and limited.json()["error"]["code"] == "RATE_LIMITED"
        now[0] += 1
        assert http.get("/tracking/v2/trackers/trk_01").status_code == 200


def test_faults_repeat_boundaries_corrupt_and_use_easypost_shapes() -> None:
    sandbox = Sandbox(make_world(), faults="hostile", rate_limits="off")
    faults = sandbox.faults
    faults.error_rate = faults.throttle_rate = faults.slow_rate = 0.0
    faults.repeat_rate, faults.malformed_rate = 1.0, 0.0
    with serving(sandbox) as http:
        again = http.get("/tracking/v2/trackers", params={"page_size": 3, "before_id": "trk_05"})
        assert ids(again) == ["trk_05", "trk_04", "trk_03"]  # the boundary record repeats

        faults.repeat_rate, faults.malformed_rate = 0.0, 1.0
        broken = http.get("/tracking/v2/trackers").json()["trackers"]
        assert all(t["id"] is None or t["updated_at"] == "2026-13-45T25:61:00Z" for t in broken)

        faults.throttle_rate = 1.0
        throttled = http.get("/tracking/v2/trackers")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert throttled.json()["error"]["code"] == "RATE_LIMITED"
        faults.throttle_rate, faults.error_rate = 0.0, 1.0
        failed = http.get("/tracking/v2/trackers")
        assert failed.status_code == 503 and set(failed.json()["error"]) == {"code", "message", "errors"}


def test_smoke_generated_world_pages_every_tracker() -> None:
    generate = pytest.importorskip("shipshape_sandbox.generate")
    world = generate.build_world(200, seed=1)
    with serving(Sandbox(world, rate_limits="off")) as http:
        seen: list[str] = []
        params: dict[str, str | int] = {"page_size": 100}
        while True:
            body = http.get("/tracking/v2/trackers", params=params).json()
            seen += [t["id"] for t in body["trackers"]]
            if not body["has_more"]:
                break
            params["before_id"] = seen[-1]
        assert sorted(seen) == sorted(t.id for t in world.trackers) and len(seen) == len(set(seen))
        since = http.get(
            "/tracking/v2/trackers", params={"updated_since": "2000-01-01", "page_size": 100}
        ).json()
        assert len(since["trackers"]) == min(100, len(world.trackers))
