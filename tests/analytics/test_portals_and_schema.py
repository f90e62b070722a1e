"""Portals asked of the real content app (TTL cache both ways), and the migrations."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from factories import make_portal
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from services.analytics.errors import ContentUnreachable
from services.analytics.models import metadata
from services.analytics.portals import PortalDirectory
from services.analytics.repository import ensure_partitions
from services.common.migrate import check, downgrade, upgrade


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def counted(content_app):
    calls: list[str] = []

    async def count(request: httpx.Request) -> None:
        calls.append(request.url.path)

    transport = httpx.ASGITransport(app=content_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://content", event_hooks={"request": [count]}
    ) as http:
        yield http, calls


class TestPortalDirectory:
    async def test_known_and_unknown_portals_are_cached(self, counted, db):
        http, calls = counted
        await make_portal(db, "phu-yen")
        clock = Ticking()
        directory = PortalDirectory(http, ttl=300, missing_ttl=30, clock=clock)
        for _ in range(3):
            info = await directory.get("phu-yen")
            assert info is not None
            assert (info.id, info.kind) == ("phu-yen", "provincial")
            assert await directory.get("khong-co") is None
        assert calls == ["/v1/portals/phu-yen", "/v1/portals/khong-co"]
        clock.now += 31  # the negative entry expires first: a new portal shows up quickly
        await make_portal(db, "khong-co")
        assert await directory.get("khong-co") is not None
        assert await directory.get("phu-yen") is not None
        assert len(calls) == 3
        clock.now += 300
        await directory.get("phu-yen")
        assert len(calls) == 4

    async def test_content_down_uses_stale_entries_else_503(self, counted, db):
        http, _ = counted
        await make_portal(db, "phu-yen")
        clock = Ticking()
        directory = PortalDirectory(http, ttl=1, missing_ttl=1, clock=clock)
        assert await directory.get("phu-yen") is not None
        await http.aclose()  # content unreachable from now on
        down = PortalDirectory(
            httpx.AsyncClient(transport=httpx.MockTransport(_refuse), base_url="http://c"),
            ttl=1,
            missing_ttl=1,
            clock=clock,
        )
        down._entries = directory._entries
        clock.now += 5
        assert await down.get("phu-yen") is not None  # stale, but content is down
        with pytest.raises(ContentUnreachable):
            await down.get("da-nang")


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


class TestMigrations:
    async def test_sqlite_up_down_and_no_drift(self, tmp_path):
        url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
        upgrade("analytics", url)
        check("analytics", url)
        downgrade("analytics", url)
        upgrade("analytics", url)
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        assert {t.name for t in metadata.sorted_tables} <= names

    async def test_postgresql_no_drift_and_partitioned_parent(self, analytics_pg_url, analytics_pg):
        async with analytics_pg.transaction() as session:  # partitions are not drift
            await ensure_partitions(session, {date(2031, 1, 1)}, set())
        check("analytics", analytics_pg_url)
        engine = create_async_engine(analytics_pg_url)
        async with engine.connect() as conn:
            kind = await conn.exec_driver_sql(
                "SELECT relkind FROM pg_class WHERE relname = 'events'"
            )
            assert kind.scalar() in ("p", b"p")  # a partitioned table
        await engine.dispose()


async def test_postgresql_down_and_up_again(pg_server, analytics_pg_url):
    import os

    import pgserver

    name = f"analytics_updown_{os.getpid()}"
    pgserver.create_database(pg_server, name)
    url = pg_server.url(name)
    try:
        upgrade("analytics", url)
        downgrade("analytics", url)
        upgrade("analytics", url)
        check("analytics", url)
    finally:
        pgserver.drop_database(pg_server, name)
