"""The analytics service in-process, on its own migrated database, beside a real content app.

Analytics writes in batches from outside the request (its queue), so its tests cannot
live inside one rolled-back transaction like content's: each xdist worker gets its own
migrated PostgreSQL database, and every table is emptied before each test. Content runs
for real (the shared `content_app` fixture) and is reached over an in-process transport,
exactly as in embedded mode. `analytics.drain()` writes whatever is queued.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pgserver
import pytest
from analytics_helpers import Analytics, Clock, empty_sqlite, empty_tables, write_key
from databases import migrated_database
from factories import make_portal
from fastapi import FastAPI

from services.analytics.app import create_app
from services.analytics.settings import AnalyticsSettings
from services.common.db import Database
from services.common.migrate import upgrade


@pytest.fixture(scope="session")
def analytics_pg_url(pg_server: pgserver.PgServer) -> Iterator[str]:
    with migrated_database(pg_server, "analytics", "analytics_test") as url:
        yield url


@pytest.fixture(scope="session")
async def analytics_pg(analytics_pg_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(analytics_pg_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def analytics_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("analytics-sqlite") / "analytics.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade("analytics", url)
    return url


@pytest.fixture
async def analytics_factory(
    tmp_path: Path, signing_key_pem: str, content_app: FastAPI
) -> AsyncIterator[Callable[..., Any]]:
    """Build analytics apps wired to the real content app: on a given database (the writer
    then runs inline), or with `url=` on a database the app opens itself, as `portal serve`
    does (the writer is then its child process; the tests read through their own connection)."""
    write_key(tmp_path, signing_key_pem)
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            database: Database | None = None, *, url: str | None = None, **overrides: Any
        ) -> Analytics:
            clock = Clock(overrides.pop("now", datetime(2026, 11, 20, 3, 0, tzinfo=UTC)))
            if url is not None:
                overrides["database_url"] = url
            settings = AnalyticsSettings(data_dir=tmp_path, run_background=False, **overrides)
            to_content = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=content_app), base_url="http://content"
                )
            )
            app = create_app(settings, database=database, content=to_content, clock=clock)
            await stack.enter_async_context(app.router.lifespan_context(app))
            if database is None:
                assert url is not None, "give a database or its url"
                database = Database.from_url(url)
                stack.push_async_callback(database.dispose)
            return Analytics(app, clock, database, stack)

        yield build


@pytest.fixture
async def portals(db: Database) -> list[str]:
    """Two provinces and the central portal, in content."""
    for portal in ("phu-yen", "da-nang", "trung-uong"):
        await make_portal(db, portal)
    return ["phu-yen", "da-nang", "trung-uong"]


@pytest.fixture
async def analytics(analytics_factory, analytics_pg: Database, portals) -> Analytics:
    """Analytics on PostgreSQL (emptied first), at 2026-11-20 10:00 in Ho Chi Minh City."""
    await empty_tables(analytics_pg)
    return await analytics_factory(analytics_pg)


@pytest.fixture
async def analytics_sqlite(analytics_factory, analytics_sqlite_url: str, portals):
    database = Database.from_url(analytics_sqlite_url)
    await empty_sqlite(database)
    try:
        yield await analytics_factory(database)
    finally:
        await database.dispose()
