"""POST /v1/analytics/events: formats, limits, validation, dedupe, bots, back-pressure."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from analytics_helpers import BROWSER_UA, beacon
from factories import assert_problem
from sqlalchemy import func, select

from services.analytics.models import bot_daily, daily, events


async def count_events(analytics) -> int:
    async with analytics.database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(events)) or 0)


async def daily_row(analytics, portal="phu-yen"):
    async with analytics.database.transaction() as session:
        return (await session.execute(select(daily).where(daily.c.portal == portal))).one()


class TestSendEvent:
    async def test_json_pageview_is_accepted_and_stored(self, analytics):
        r = await analytics.send(beacon("/tin-tuc/bai-1?utm_source=zalo#top"))
        assert r.status_code == 202
        assert r.content == b""
        assert await count_events(analytics) == 0  # queued, not yet written
        await analytics.drain()
        async with analytics.database.transaction() as session:
            row = (await session.execute(select(events))).one()
        assert row.path == "/tin-tuc/bai-1"  # no query string, no fragment
        assert row.kind == "pageview"
        assert row.device == "desktop"
        assert row.browser == "Chrome"
        assert len(row.visitor) == 16

    async def test_text_plain_from_send_beacon(self, analytics):
        body = json.dumps(beacon("/"))
        r = await analytics.send(body, headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert r.status_code == 202
        await analytics.drain()
        assert await count_events(analytics) == 1

    async def test_other_media_types_are_415(self, analytics):
        r = await analytics.send(
            "portal=phu-yen", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert_problem(r, 415)

    async def test_too_large_is_413(self, analytics):
        r = await analytics.send(beacon("/" + "a" * 5000))
        assert_problem(r, 413)

    async def test_declared_length_over_limit_is_413_before_reading(self, analytics):
        r = await analytics.send(
            b"{}", headers={"Content-Type": "application/json", "Content-Length": "999999"}
        )
        assert r.status_code == 413

    @pytest.mark.parametrize(
        "url",
        [
            "/relative/path",
            "ftp://bhxh.gov.vn/file",
            "javascript:alert(1)",
            "https://",
            "https://bhxh.gov.vn/a b",
            "",
        ],
    )
    async def test_malformed_url_is_422(self, analytics, url):
        r = await analytics.send({"portal": "phu-yen", "url": url})
        problem = assert_problem(r, 422)
        assert any(e["field"] == "url" for e in problem["errors"])

    async def test_url_over_2048_is_422(self, analytics):
        r = await analytics.send(
            {"portal": "phu-yen", "url": "https://a.vn/" + "x" * 2100},
            headers={},
        )
        assert r.status_code in (413, 422)

    async def test_unknown_portal_is_422(self, analytics):
        r = await analytics.send(beacon("/", portal="khong-co"))
        problem = assert_problem(r, 422)
        assert problem["errors"][0]["field"] == "portal"

    async def test_broken_json_and_unknown_fields_are_422(self, analytics):
        assert_problem(await analytics.send(b"{nope", headers={"Content-Type": "text/plain"}), 422)
        assert_problem(await analytics.send(beacon("/", ip_address="1.2.3.4")), 422)
        assert_problem(await analytics.send(beacon("/", type="click")), 422)
        assert_problem(await analytics.send(beacon("/", type="event")), 422)  # no name

    async def test_nothing_is_queued_for_refused_beacons(self, analytics):
        await analytics.send(beacon("/", portal="khong-co"))
        await analytics.send({"portal": "phu-yen", "url": "nope"})
        assert analytics.runtime.ingestor.pending == 0

    async def test_retried_beacon_with_same_id_counts_once(self, analytics):
        for _ in range(3):
            assert (await analytics.send(beacon("/a", id="b-123"))).status_code == 202
        await analytics.drain()
        await analytics.send(beacon("/a", id="b-123"))  # a retry after the first write
        await analytics.drain()
        assert await count_events(analytics) == 1
        # the same id on another portal is another beacon
        await analytics.send(beacon("/a", portal="da-nang", id="b-123"))
        await analytics.drain()
        assert await count_events(analytics) == 2

    async def test_full_queue_answers_503_with_retry_after(
        self, analytics_factory, analytics_pg, portals
    ):
        from analytics_helpers import empty_tables

        await empty_tables(analytics_pg)
        small = await analytics_factory(analytics_pg, queue_max_events=2)
        assert (await small.send(beacon("/1"))).status_code == 202
        assert (await small.send(beacon("/2"))).status_code == 202
        r = await small.send(beacon("/3"))
        assert_problem(r, 503)
        assert r.headers["Retry-After"] == "1"
        await small.drain()
        assert (await small.send(beacon("/3"))).status_code == 202


class TestBots:
    @pytest.mark.parametrize(
        ("ua", "reason"),
        [
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
            ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "crawler"),
            (
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
                "crawler",
            ),
            ("curl/8.5.0", "crawler"),
            ("python-requests/2.32.3", "crawler"),
            ("Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "crawler"),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "HeadlessChrome/131.0.0.0 Safari/537.36",
                "headless",
            ),
            (
                "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
                "PhantomJS/2.1.1 Safari/538.1",
                "headless",
            ),
            ("", "no-user-agent"),
        ],
    )
    async def test_bot_user_agents_are_counted_not_stored(self, analytics, ua, reason):
        assert (await analytics.send(beacon("/"), ua=ua)).status_code == 202
        await analytics.drain()
        assert await count_events(analytics) == 0
        async with analytics.database.transaction() as session:
            row = (await session.execute(select(bot_daily))).one()
        assert (row.reason, row.count) == (reason, 1)

    async def test_webdriver_flag(self, analytics):
        await analytics.send(beacon("/", webdriver=True))
        await analytics.drain()
        r = await analytics.get("/v1/analytics/portals/phu-yen/bots")
        assert r.status_code == 401  # reports need a member (tested in test_reports_api)
        assert await count_events(analytics) == 0

    @pytest.mark.parametrize(
        "header",
        [
            {"Sec-Purpose": "prefetch"},
            {"Sec-Purpose": "prefetch;prerender"},
            {"Purpose": "prefetch"},
            {"X-Moz": "prefetch"},
        ],
    )
    async def test_prefetch_is_not_a_view(self, analytics, header):
        await analytics.send(beacon("/"), headers=header)
        await analytics.drain()
        assert await count_events(analytics) == 0

    async def test_configured_ip_range_and_referrer_spam(
        self, analytics_factory, analytics_pg, portals
    ):
        from analytics_helpers import empty_tables

        await empty_tables(analytics_pg)
        a = await analytics_factory(analytics_pg, bot_ip_ranges=["198.51.100.0/24"])
        await a.send(beacon("/"), ip="198.51.100.9")
        await a.send(beacon("/", referrer="https://best.semalt.com/x"))
        await a.send(beacon("/"), ip="198.51.101.9")
        await a.drain()
        async with a.database.transaction() as session:
            reasons = {r.reason: r.count for r in await session.execute(select(bot_daily))}
        assert reasons == {"ip-range": 1, "referrer-spam": 1}
        assert await count_events(a) == 1


class TestClientAddress:
    async def test_forwarded_for_is_ignored_from_untrusted_peers(self, analytics):
        # Two "different" X-Forwarded-For from the same socket: one visitor.
        await analytics.send(beacon("/a"), headers={"X-Forwarded-For": "1.1.1.1"})
        await analytics.send(beacon("/b"), headers={"X-Forwarded-For": "2.2.2.2"})
        await analytics.drain()
        assert (await daily_row(analytics)).visitors == 1

    async def test_forwarded_for_from_a_trusted_proxy(
        self, analytics_factory, analytics_pg, portals
    ):
        from analytics_helpers import empty_tables

        await empty_tables(analytics_pg)
        a = await analytics_factory(analytics_pg, trusted_proxies=["10.0.0.0/8"])
        await a.send(beacon("/a"), ip="10.0.0.2", headers={"X-Forwarded-For": "9.9.9.9, 1.1.1.1"})
        await a.send(
            beacon("/b"), ip="10.0.0.3", headers={"X-Forwarded-For": "8.8.8.8, 1.1.1.1, 10.0.0.5"}
        )
        await a.send(beacon("/c"), ip="10.0.0.2", headers={"X-Forwarded-For": "2.2.2.2"})
        await a.drain()
        # 1.1.1.1 (right-most untrusted, twice, whatever the client wrote left of it) + 2.2.2.2
        assert (await daily_row(a)).visitors == 2


class TestMetrics:
    async def test_accepted_equals_settled(self, analytics):
        await analytics.send(beacon("/a", id="x1"))
        await analytics.send(beacon("/a", id="x1"))
        await analytics.send(beacon("/b"), ua="curl/8")
        await analytics.send(beacon("/", portal="khong-co"))
        await analytics.drain()
        text = (await analytics.get("/metrics")).text
        values = {}
        for line in text.splitlines():
            if line.startswith("analytics_beacons_") and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        assert values["analytics_beacons_accepted_total"] == 3
        assert values['analytics_beacons_settled_total{as="stored"}'] == 1
        assert values['analytics_beacons_settled_total{as="duplicate"}'] == 1
        assert values['analytics_beacons_settled_total{as="bot"}'] == 1
        assert values['analytics_beacons_refused_total{reason="unknown_portal"}'] == 1


class TestSqlite:
    async def test_the_whole_path_on_sqlite(self, analytics_sqlite):
        a = analytics_sqlite
        await a.send(beacon("/a", id="s1"))
        await a.send(beacon("/a", id="s1"))
        a.clock.at += timedelta(minutes=1)
        await a.send(beacon("/b"))
        await a.send(beacon("/b"), ua="Googlebot/2.1")
        await a.drain()
        assert await count_events(a) == 2
        row = await daily_row(a)
        assert (row.pageviews, row.visits, row.visitors, row.bounces) == (2, 1, 1, 0)


def test_browser_ua_is_not_a_bot():
    from services.analytics.bots import user_agent_reason

    assert user_agent_reason(BROWSER_UA) is None
