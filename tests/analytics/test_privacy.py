"""Privacy: no IP or user agent anywhere, daily salts that rotate and expire, retention."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from analytics_helpers import BROWSER_UA, beacon
from sqlalchemy import String, Text, select, text

from services.analytics.models import daily, events, metadata, salts, visitor_days, visitor_state
from services.analytics.privacy import client_address, network_key, parse_networks, visitor_id

# 23:50 on 2026-11-20 in Ho Chi Minh City
BEFORE_MIDNIGHT = datetime(2026, 11, 20, 16, 50, tzinfo=UTC)
IPS = ["198.18.7.21", "2001:db8:abcd:12::5", "203.0.113.99"]
UAS = [
    BROWSER_UA,
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "coc_coc_browser/124.0.242 Chrome/118.0.5993.242 Mobile Safari/537.36",
]


async def rows(database, table):
    async with database.transaction() as session:
        return list(await session.execute(select(table)))


async def send_mixed_traffic(a):
    for ip in IPS:
        for ua in UAS:
            await a.send(beacon("/trang-chu", referrer="https://zalo.me/x"), ip=ip, ua=ua)
            await a.send(beacon("/", type="event", name="tai-ve"), ip=ip, ua=ua)
    await a.send(beacon("/"), ip=IPS[0], ua="Googlebot/2.1")
    await a.drain()


def forbidden_strings() -> list[str]:
    found = [*IPS, *UAS, "coc_coc_browser/124", "Android 14", "SM-S918B"]
    found += [str(ipaddress.ip_address(ip).exploded) for ip in IPS if ":" in ip]
    return found


async def assert_nothing_identifying(database):
    bad = forbidden_strings()
    for table in metadata.sorted_tables:
        text_columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        for row in await rows(database, table):
            for column in text_columns:
                value = getattr(row, column.name)
                if value is not None:
                    assert not any(b in value for b in bad), (table.name, column.name, value)


class TestNoIdentifiersStored:
    async def test_postgresql_tables(self, analytics):
        await send_mixed_traffic(analytics)
        assert len(await rows(analytics.database, events)) == 12
        await assert_nothing_identifying(analytics.database)

    async def test_sqlite_tables_and_file_bytes(self, analytics_sqlite, analytics_sqlite_url):
        await send_mixed_traffic(analytics_sqlite)
        await assert_nothing_identifying(analytics_sqlite.database)
        await analytics_sqlite.database.dispose()  # checkpoint the WAL into the file
        path = Path(analytics_sqlite_url.removeprefix("sqlite+aiosqlite:///"))
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert len(blob) > 0
        for needle in forbidden_strings():
            assert needle.encode() not in blob, needle


class TestVisitorId:
    def test_keyed_by_salt_portal_network_and_agent(self):
        salt = b"s" * 32
        a = ipaddress.ip_address("2001:db8:1:2:aaaa::1")
        same_64 = ipaddress.ip_address("2001:db8:1:2:bbbb::9")
        other_64 = ipaddress.ip_address("2001:db8:1:3::1")
        base = visitor_id(salt, "phu-yen", a, "UA")
        assert len(base) == 16
        assert visitor_id(salt, "phu-yen", same_64, "UA") == base
        assert visitor_id(salt, "phu-yen", other_64, "UA") != base
        assert visitor_id(salt, "da-nang", a, "UA") != base
        assert visitor_id(salt, "phu-yen", a, "UA2") != base
        assert visitor_id(b"t" * 32, "phu-yen", a, "UA") != base
        assert network_key(ipaddress.ip_address("1.2.3.4")) == "1.2.3.4"

    def test_client_address_rules(self):
        trusted = parse_networks(["127.0.0.0/8", "10.0.0.0/8"])
        assert str(client_address("5.5.5.5", ["1.1.1.1"], trusted)) == "5.5.5.5"
        assert str(client_address("127.0.0.1", ["1.1.1.1"], trusted)) == "1.1.1.1"
        assert (
            str(client_address("127.0.0.1", ["6.6.6.6, 1.1.1.1, 10.1.1.1"], trusted)) == "1.1.1.1"
        )
        assert str(client_address("127.0.0.1", ["1.1.1.1", "10.0.0.9"], trusted)) == "1.1.1.1"
        assert str(client_address("127.0.0.1", ["[2001:db8::1]:443"], trusted)) == "2001:db8::1"
        assert str(client_address("127.0.0.1", ["garbage"], trusted)) == "127.0.0.1"
        assert str(client_address("127.0.0.1", [], trusted)) == "127.0.0.1"
        assert str(client_address("::ffff:5.5.5.5", [], trusted)) == "5.5.5.5"


class TestSaltsAndMidnight:
    async def test_a_visit_crossing_midnight_is_one_visit_and_ids_change(self, analytics):
        a = analytics
        a.clock.at = BEFORE_MIDNIGHT
        await a.send(beacon("/a"))
        a.clock.at = BEFORE_MIDNIGHT + timedelta(minutes=15)  # 00:05 the next day
        await a.send(beacon("/b"))
        a.clock.at = BEFORE_MIDNIGHT + timedelta(minutes=20)
        await a.send(beacon("/c"))
        await a.drain()
        stored = sorted(await rows(a.database, events), key=lambda r: r.ts)
        assert stored[0].visitor != stored[1].visitor == stored[2].visitor
        days = {r.day: r for r in await rows(a.database, daily)}
        assert days[date(2026, 11, 20)].visits == 1
        assert days[date(2026, 11, 21)].visits == 0
        assert days[date(2026, 11, 20)].visitors == days[date(2026, 11, 21)].visitors == 1
        assert sum(d.pageviews for d in days.values()) == 3
        assert sum(d.bounces for d in days.values()) == 0
        assert len(await rows(a.database, salts)) == 2

    async def test_a_new_visit_after_midnight_gap(self, analytics):
        a = analytics
        a.clock.at = BEFORE_MIDNIGHT
        await a.send(beacon("/a"))
        a.clock.at = BEFORE_MIDNIGHT + timedelta(minutes=41)  # 31 minutes idle
        await a.send(beacon("/a"))
        await a.drain()
        assert sum(r.visits for r in await rows(a.database, daily)) == 2
        assert sum(r.reloads for r in await rows(a.database, daily)) == 0

    async def test_salts_are_random_and_deleted_after_48_hours(self, analytics):
        a = analytics
        a.clock.at = BEFORE_MIDNIGHT
        await a.send(beacon("/"))
        a.clock.at += timedelta(hours=1)
        await a.send(beacon("/"))
        await a.drain()
        kept = {r.day: r.salt for r in await rows(a.database, salts)}
        assert set(kept) == {date(2026, 11, 20), date(2026, 11, 21)}
        assert len(set(kept.values())) == 2
        assert all(len(s) == 32 for s in kept.values())
        # 2026-11-22 00:30 local: the 20th's salt is 48 h old, the 21st's is 24 h old.
        await a.writer.upkeep(datetime(2026, 11, 21, 17, 30, tzinfo=UTC))
        assert {r.day for r in await rows(a.database, salts)} == {date(2026, 11, 21)}
        assert {r.day for r in await rows(a.database, visitor_days)} == {date(2026, 11, 21)}
        assert date(2026, 11, 20) not in a.writer.salts._salts
        # two days later every key and per-visitor state is gone; aggregates stay
        await a.writer.upkeep(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
        assert await rows(a.database, salts) == []
        assert await rows(a.database, visitor_state) == []
        assert sum(r.pageviews for r in await rows(a.database, daily)) == 2

    async def test_raw_events_are_purged_after_retention(self, analytics):
        a = analytics
        a.clock.at = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
        await a.send(beacon("/old"))
        a.clock.at = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
        await a.send(beacon("/new"))
        await a.drain()
        await a.writer.upkeep(datetime(2026, 11, 5, 3, 0, tzinfo=UTC))
        assert [r.path for r in await rows(a.database, events)] == ["/new"]
        assert sum(r.pageviews for r in await rows(a.database, daily)) == 2  # rollups stay

    async def test_postgresql_partitions_by_month(self, analytics):
        a = analytics
        for month in (9, 10, 11):
            a.clock.at = datetime(2026, month, 15, 3, 0, tzinfo=UTC)
            await a.send(beacon(f"/{month}"))
        await a.drain()
        async with a.database.transaction() as session:
            names = set((await session.scalars(text(PARTITIONS))).all())
        assert {"events_2026_09", "events_2026_10", "events_2026_11"} <= names
        assert len(await rows(a.database, events)) == 3


PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
)
