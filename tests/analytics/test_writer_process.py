"""The batch writer in its own process (`ANALYTICS_WRITER=process`, the default).

The app here owns its database (as `portal serve analytics` does), so it starts the real
child process; the tests read what the child wrote through their own connection.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from analytics_helpers import (
    BROWSER_UA,
    Analytics,
    Clock,
    beacon,
    empty_sqlite,
    empty_tables,
    write_key,
)
from sqlalchemy import func, select

from services.analytics.app import create_app
from services.analytics.ingest import Raw
from services.analytics.models import bot_daily, daily, events, ingest_batches
from services.analytics.settings import AnalyticsSettings
from services.analytics.writer import Settled
from services.analytics.writer_process import ProcessSink, WriterUnavailable
from services.common.db import Database

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def count(database: Database, table: Any) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def pageviews(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.sum(daily.c.pageviews))) or 0)


def raw(path: str, *, ip: str = "198.51.100.4", ua: str = BROWSER_UA) -> Raw:
    return Raw(
        ts=NOW,
        portal="phu-yen",
        kind="pageview",
        name=None,
        url=f"https://bhxh.phuyen.gov.vn{path}",
        referrer=None,
        article=None,
        category=None,
        screen_width=None,
        client_id=None,
        webdriver=False,
        peer=ip,
        forwarded_for=(),
        user_agent=ua,
        purpose="",
    )


@pytest.fixture
def own_database_app(analytics_factory, portals) -> Callable[..., Any]:
    """Analytics apps that open their own database from settings: the writer is a child."""
    return lambda url, **overrides: analytics_factory(url=url, now=NOW, **overrides)


def sink_of(a: Analytics) -> ProcessSink:
    sink = a.runtime.ingestor.sink
    assert isinstance(sink, ProcessSink)
    return sink


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
async def test_the_writer_process_classifies_and_writes(
    engine, own_database_app, analytics_pg, analytics_pg_url, analytics_sqlite_url
):
    if engine == "postgresql":
        await empty_tables(analytics_pg)
        url = analytics_pg_url
    else:
        sqlite = Database.from_url(analytics_sqlite_url)
        await empty_sqlite(sqlite)
        await sqlite.dispose()
        url = analytics_sqlite_url
    a = await own_database_app(url)
    assert a.runtime.writer is None
    assert sink_of(a).running
    for path in ("/", "/tin-tuc", "/tin-tuc"):  # the third is a reload
        assert (await a.send(beacon(path))).status_code == 202
    assert (await a.send(beacon("/"), ua=GOOGLEBOT)).status_code == 202
    await a.drain()
    assert await count(a.database, events) == 3
    assert await pageviews(a.database) == 2
    async with a.database.transaction() as session:
        assert await session.scalar(select(bot_daily.c.count)) == 1
    settled = a.runtime.ingestor.metrics.settled
    assert settled.labels("stored")._value.get() == 3
    assert settled.labels("bot")._value.get() == 1
    stats = await a.get("/v1/analytics/portals/phu-yen/counter")
    assert stats.status_code == 200, stats.text
    if engine == "sqlite":  # what the child wrote holds no address and no user agent
        path = Path(url.split("///", 1)[1])
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert b"203.0.113.7" not in blob
        assert BROWSER_UA.encode() not in blob
        assert b"Googlebot" not in blob


async def test_a_killed_writer_is_replaced_and_nothing_is_lost(
    own_database_app, analytics_pg, analytics_pg_url
):
    await empty_tables(analytics_pg)
    a = await own_database_app(analytics_pg_url)
    await a.send(beacon("/a"))
    await a.drain()
    sink = sink_of(a)
    assert sink._proc is not None
    first = sink._proc.pid
    sink._proc.kill()
    await sink._proc.wait()
    await a.send(beacon("/b"))
    await a.send(beacon("/c"))
    await a.drain()  # the next batch starts a new child
    assert sink._proc is not None
    assert sink._proc.pid != first
    assert await count(a.database, events) == 3
    assert a.runtime.ingestor.pending == 0


async def test_a_batch_sent_again_is_written_once(analytics_pg, analytics_pg_url, tmp_path):
    """What the parent does when a child died between its commit and its answer."""
    await empty_tables(analytics_pg)
    sink = ProcessSink(AnalyticsSettings(data_dir=tmp_path, database_url=analytics_pg_url))
    batch = [raw("/a"), raw("/b", ip="198.51.100.5"), raw("/", ua=GOOGLEBOT)]
    try:
        first = await sink.write("batch-1", batch)
        again = await sink.write("batch-1", batch)
    finally:
        await sink.close()
    assert first == again == Settled(stored=2, duplicates=0, bots=1)
    assert await count(analytics_pg, events) == 2
    assert await count(analytics_pg, ingest_batches) == 1
    assert not sink.running


async def test_a_failing_writer_keeps_the_batch_for_the_next_try(
    own_database_app, analytics_pg, analytics_pg_url
):
    await empty_tables(analytics_pg)
    a = await own_database_app(analytics_pg_url)
    sink = sink_of(a)
    good = sink.settings
    # A database that does not exist: the child answers with an error, the batch stays.
    sink.settings = good.model_copy(
        update={"database_url": analytics_pg_url.rsplit("/", 1)[0] + "/no_such_database"}
    )
    assert sink._proc is not None
    sink._proc.kill()
    await sink._proc.wait()
    await a.send(beacon("/kept"))
    with pytest.raises(WriterUnavailable, match="could not write"):
        await a.runtime.ingestor.flush()
    assert a.runtime.ingestor.pending == 1
    assert await count(a.database, events) == 0
    sink.settings = good
    assert sink._proc is not None
    sink._proc.kill()
    await sink._proc.wait()
    await a.drain()
    assert a.runtime.ingestor.pending == 0
    assert await count(a.database, events) == 1
    assert a.runtime.ingestor.metrics.settled.labels("stored")._value.get() == 1


async def test_shutdown_writes_what_is_queued_and_ends_the_child(
    tmp_path, signing_key_pem, content_app, portals, analytics_pg, analytics_pg_url
):
    await empty_tables(analytics_pg)
    write_key(tmp_path, signing_key_pem)
    settings = AnalyticsSettings(
        data_dir=tmp_path, database_url=analytics_pg_url, run_background=False
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=content_app), base_url="http://content"
    ) as to_content:
        app = create_app(settings, content=to_content, clock=Clock(NOW))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://a") as http:
                for path in ("/1", "/2"):
                    r = await http.post(
                        "/v1/analytics/events",
                        json=beacon(path),
                        headers={"User-Agent": BROWSER_UA},
                    )
                    assert r.status_code == 202
            sink = app.state.analytics.ingestor.sink
            proc = sink._proc
        assert proc.returncode == 0
    assert await count(analytics_pg, events) == 2


async def test_the_writer_outlives_signals_to_the_process_group(
    analytics_pg, analytics_pg_url, tmp_path
):
    """Ctrl-C or `kill` of the group reaches the child; it must still drain what the
    service hands it on the way down, and end only when its input ends."""
    await empty_tables(analytics_pg)
    sink = ProcessSink(AnalyticsSettings(data_dir=tmp_path, database_url=analytics_pg_url))
    await sink.start()
    try:
        assert sink._proc is not None
        sink._proc.send_signal(signal.SIGTERM)
        sink._proc.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        assert sink.running
        assert (await sink.write("after-signals", [raw("/")])).stored == 1
    finally:
        await sink.close()
    assert not sink.running
