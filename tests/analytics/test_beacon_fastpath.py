"""The beacon's fast path takes plainly valid beacons and hands everything else over."""

from __future__ import annotations

import json

import pytest
from analytics_helpers import beacon
from factories import assert_problem
from sqlalchemy import select

from services.analytics import api
from services.analytics.models import events


@pytest.fixture
def endpoint_calls(monkeypatch):
    """How many bodies reached the endpoint's parser (the slow path)."""
    calls: list[bytes] = []
    real = api.parse_beacon

    def counting(body: bytes):
        calls.append(body)
        return real(body)

    monkeypatch.setattr(api, "parse_beacon", counting)
    return calls


def metric_values(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line.startswith(("analytics_beacons_", "http_requests_total")):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_a_plain_beacon_is_taken_by_the_fast_path(analytics, endpoint_calls):
    r = await analytics.send(beacon("/tin-tuc/bai-1?utm_source=zalo", id="f1", screen_width=390))
    assert r.status_code == 202
    assert r.content == b""
    assert r.headers["content-length"] == "0"
    assert r.headers["x-request-id"]
    assert endpoint_calls == []
    await analytics.drain()
    async with analytics.database.transaction() as session:
        row = (await session.execute(select(events))).one()
    assert (row.path, row.kind, row.device, row.browser) == (
        "/tin-tuc/bai-1",
        "pageview",
        "desktop",
        "Chrome",
    )
    values = metric_values((await analytics.get("/metrics")).text)
    assert values["analytics_beacons_accepted_total"] == 1
    assert any(
        'route="/v1/analytics/events"' in k and 'status="202"' in k and v == 1
        for k, v in values.items()
    )


async def test_text_plain_and_bots_take_the_fast_path(analytics, endpoint_calls):
    r = await analytics.send(
        json.dumps(beacon("/")), headers={"Content-Type": "text/plain;charset=UTF-8"}
    )
    assert r.status_code == 202
    r = await analytics.send(beacon("/"), ua="Googlebot/2.1 (+http://www.google.com/bot.html)")
    assert r.status_code == 202
    assert endpoint_calls == []


async def test_unusual_but_valid_beacon_is_left_to_the_endpoint(analytics, endpoint_calls):
    r = await analytics.send(beacon("/", screen_width="1024"))  # coerced by the model
    assert r.status_code == 202
    assert len(endpoint_calls) == 1
    values = metric_values((await analytics.get("/metrics")).text)
    assert values["analytics_beacons_accepted_total"] == 1  # once, not twice


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (beacon("/", portal="khong-co"), None, 422),
        ({"portal": "phu-yen", "url": "/relative"}, None, 422),
        ("portal=phu-yen", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (beacon("/" + "a" * 5000), None, 413),
    ],
)
async def test_refusals_are_answered_by_the_endpoint_once(
    analytics, endpoint_calls, body, headers, status
):
    r = await analytics.send(body, headers=headers)
    assert_problem(r, status)
    values = metric_values((await analytics.get("/metrics")).text)
    assert sum(v for k, v in values.items() if k.startswith("analytics_beacons_refused_total")) == 1
    assert values["analytics_beacons_accepted_total"] == 0


async def test_a_query_string_goes_through_the_endpoint(analytics, endpoint_calls):
    http = await analytics.client()
    r = await http.post("/v1/analytics/events?x=%00", json=beacon("/"))
    assert_problem(r, 400)
    r = await http.post("/v1/analytics/events?v=1", json=beacon("/"))
    assert r.status_code == 202
    assert len(endpoint_calls) == 1


async def test_a_full_queue_is_answered_by_the_endpoint(analytics, endpoint_calls):
    analytics.runtime.ingestor.capacity = 0
    r = await analytics.send(beacon("/"))
    assert_problem(r, 503)
    assert len(endpoint_calls) == 1
