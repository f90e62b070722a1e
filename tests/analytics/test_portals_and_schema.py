"""The analytics migrations (the portal directory is tested in tests/common/test_portals.py)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from services.analytics.models import metadata
from services.analytics.repository import ensure_partitions
from services.common.migrate import check, downgrade, upgrade


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
