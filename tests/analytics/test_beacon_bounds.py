"""Beacons are bounded per visitor and per client address; the excess is dropped (still
202) and counted as dropped, so accepted = stored + duplicate + bot + dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from analytics_helpers import BROWSER_UA, beacon
from factories import make_user
from sqlalchemy import func, select

from services.analytics.bounds import FLOOD_IP, FLOOD_VISITOR, BeaconBounds
from services.analytics.models import bot_daily, daily, events

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def settled_metrics(a) -> dict[str, float]:
    metrics = a.runtime.ingestor.metrics
    values = {k: metrics.settled.labels(k)._value.get() for k in ("stored", "duplicate", "bot")}
    values["dropped"] = metrics.settled.labels("dropped")._value.get()
    values["accepted"] = metrics.accepted._value.get()
    return values


async def pageviews(a) -> int:
    async with a.database.transaction() as session:
        return int(await session.scalar(select(func.coalesce(func.sum(daily.c.pageviews), 0))))


async def drops(a) -> dict[str, int]:
    async with a.database.transaction() as session:
        rows = await session.execute(
            select(bot_daily.c.reason, func.sum(bot_daily.c.count)).group_by(bot_daily.c.reason)
        )
        return {reason: int(count) for reason, count in rows}


class TestTheReportedFlood:
    async def test_3000_beacons_from_one_ip_and_user_agent(self, analytics, content_app, db):
        """The attack: 3,000 page views (every one a new path, so none is a reload) from one
        address and browser within seconds. At most the visitor's bound are counted."""
        a = analytics
        for i in range(3000):
            a.clock.at = T0 + timedelta(milliseconds=2 * i)  # 6 s, as reported
            r = await a.send(beacon(f"/trang-{i}"), ip="198.51.100.7")
            assert r.status_code == 202  # sendBeacon ignores the answer: nothing to learn
        await a.drain()
        assert await pageviews(a) == 60
        async with a.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(events)) == 60
        assert await drops(a) == {FLOOD_VISITOR: 2940}
        values = settled_metrics(a)
        assert values == {
            "accepted": 3000,
            "stored": 60,
            "duplicate": 0,
            "bot": 0,
            "dropped": 2940,
        }
        # Portal staff see why: the bots report lists the drops by reason.
        member = await make_user(content_app, db, roles={"phu-yen": "editor"})
        r = await a.get(
            "/v1/analytics/portals/phu-yen/bots?from=2026-11-20&to=2026-11-20",
            headers=member.headers,
        )
        assert r.json()["by_reason"] == {FLOOD_VISITOR: 2940}

    async def test_the_next_minutes_count_again(self, analytics):
        a = analytics
        for i in range(70):
            await a.send(beacon(f"/a-{i}"))
        a.clock.at = T0 + timedelta(minutes=2)
        for i in range(10):
            await a.send(beacon(f"/b-{i}"))
        await a.drain()
        assert await pageviews(a) == 70  # 60 of the first burst, then all 10


class TestSharedAddress:
    @pytest.fixture
    async def office(self, analytics_factory, analytics_pg, portals):
        from analytics_helpers import empty_tables

        await empty_tables(analytics_pg)
        return await analytics_factory(
            analytics_pg, beacons_per_visitor_per_minute=60, beacons_per_ip_per_minute=100
        )

    async def test_a_flooding_colleague_does_not_use_up_the_address(self, office):
        """Two people behind one office address: one floods, the other is still counted."""
        for i in range(500):
            await office.send(beacon(f"/flood-{i}"), ip="203.0.113.50", ua=BROWSER_UA)
        for i in range(30):
            await office.send(beacon(f"/doc-{i}"), ip="203.0.113.50", ua=FIREFOX)
        await office.drain()
        assert await pageviews(office) == 60 + 30
        assert await drops(office) == {FLOOD_VISITOR: 440}

    async def test_each_visitor_gets_their_own_allowance_up_to_the_address_bound(self, office):
        for i in range(60):
            await office.send(beacon(f"/a-{i}"), ip="203.0.113.50", ua=BROWSER_UA)
        for i in range(60):
            await office.send(beacon(f"/b-{i}"), ip="203.0.113.50", ua=FIREFOX)
        await office.drain()
        assert await pageviews(office) == 100
        assert await drops(office) == {FLOOD_IP: 20}
        values = settled_metrics(office)
        assert values["accepted"] == values["stored"] + values["dropped"] == 120

    async def test_a_new_user_agent_per_beacon_meets_the_address_bound(self, office):
        for i in range(150):
            await office.send(beacon(f"/p-{i}"), ip="203.0.113.51", ua=f"{BROWSER_UA} r/{i}")
        await office.send(beacon("/elsewhere"), ip="203.0.113.52")
        await office.drain()
        assert await pageviews(office) == 100 + 1  # another address is not affected
        assert await drops(office) == {FLOOD_IP: 50}

    async def test_ipv6_addresses_of_one_64_share_the_bound(self, office):
        for i in range(150):
            await office.send(beacon(f"/p-{i}"), ip=f"2001:db8:1:2::{i:x}", ua=f"UA {i} Chrome")
        await office.drain()
        assert await pageviews(office) == 100


async def test_zero_turns_the_bounds_off(analytics_factory, analytics_pg, portals):
    from analytics_helpers import empty_tables

    await empty_tables(analytics_pg)
    a = await analytics_factory(
        analytics_pg, beacons_per_visitor_per_minute=0, beacons_per_ip_per_minute=0
    )
    for i in range(200):
        await a.send(beacon(f"/p-{i}"))
    await a.drain()
    assert await pageviews(a) == 200


class TestBounds:
    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def test_sliding_minute(self):
        bounds = BeaconBounds(per_visitor=10, per_address=0)
        tally = bounds.tally()
        assert [tally.admit(self.at(50), "1.2.3.4", "v") for _ in range(11)] == [None] * 10 + [
            FLOOD_VISITOR
        ]
        bounds.commit(tally)
        # 30 s into the next minute, half of the previous minute is still inside the window.
        tally = bounds.tally()
        admitted = [tally.admit(self.at(90), "1.2.3.4", "v") for _ in range(10)]
        assert admitted.count(None) == 5
        bounds.commit(tally)
        tally = bounds.tally()
        assert tally.admit(self.at(200), "1.2.3.4", "v") is None

    def test_a_batch_not_written_does_not_count(self):
        """A batch that failed is sent again: its beacons must not count twice."""
        bounds = BeaconBounds(per_visitor=10, per_address=0)
        first = bounds.tally()
        assert [first.admit(self.at(0), None, "v") for _ in range(10)] == [None] * 10
        again = bounds.tally()  # the retry, the first attempt not committed
        assert [again.admit(self.at(0), None, "v") for _ in range(10)] == [None] * 10
        bounds.commit(again)
        assert bounds.tally().admit(self.at(1), None, "v") == FLOOD_VISITOR

    def test_old_buckets_are_forgotten(self):
        bounds = BeaconBounds(per_visitor=5, per_address=5)
        for minute in range(100):
            tally = bounds.tally()
            tally.admit(self.at(minute * 60), f"10.0.0.{minute}", f"v{minute}")
            bounds.commit(tally)
        assert len(bounds.visitors.buckets) == len(bounds.addresses.buckets) == 2
