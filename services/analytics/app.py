"""The analytics service: visitor statistics that count people, not hits.

Beacons arrive at `POST /v1/analytics/events`, are captured and queued, and are
classified and written in batches by the writer (its own process by default, see
writer_process.py); reports read hourly and daily rollups. Portals are checked against the content
service over HTTP (`ANALYTICS_CONTENT_URL`, or an in-process client in embedded mode), and so
is the reader's current role in a portal (services.common.roles), never the token's.
docs/analytics.md defines every figure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from services.analytics.api import router
from services.analytics.fastpath import BeaconFastPath
from services.analytics.ingest import IngestMetrics, Ingestor, Sink
from services.analytics.runtime import Runtime, system_clock
from services.analytics.settings import AnalyticsSettings
from services.analytics.writer import BatchWriter
from services.analytics.writer_process import ProcessSink
from services.common.app import service_app
from services.common.db import Database
from services.common.migrate import upgrade
from services.common.portals import PortalDirectory
from services.common.roles import RoleLookup, started_lookup


def create_app(
    settings: AnalyticsSettings | None = None,
    *,
    database: Database | None = None,
    content: httpx.AsyncClient | None = None,
    clock: Callable[[], datetime] = system_clock,
) -> FastAPI:
    """Build the analytics service; tests may pass a database, a content client, a clock."""
    settings = settings or AnalyticsSettings()
    zone = ZoneInfo(settings.timezone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        if database is None and url.startswith("sqlite"):
            # Embedded mode runs with nothing set up: its SQLite file migrates itself.
            # PostgreSQL is migrated by `portal migrate analytics` before the rollout.
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade("analytics", url)
        db = database or Database.from_url(url, echo=settings.database_echo)
        own_client = None
        client = content
        if client is None and settings.content_url:
            own_client = client = httpx.AsyncClient(
                base_url=settings.content_url, timeout=httpx.Timeout(5.0, connect=2.0)
            )
        token = settings.content_token.get_secret_value() if settings.content_token else None
        # Tests hand over a database (and so write inline): a child process cannot share it.
        inline = database is not None or settings.writer == "inline"
        writer = BatchWriter(db, settings) if inline else None
        sink: Sink = writer or ProcessSink(settings)
        ingestor = Ingestor(
            sink,
            IngestMetrics(app.state.metrics),
            max_batch=settings.batch_max_events,
            interval=settings.batch_interval_ms / 1000,
            capacity=settings.queue_max_events,
        )
        rt = Runtime(
            settings=settings,
            zone=zone,
            directory=PortalDirectory(
                client,
                ttl=settings.portal_cache_seconds,
                missing_ttl=settings.missing_portal_cache_seconds,
                token=token,
            ),
            ingestor=ingestor,
            writer=writer,
            clock=clock,
        )
        app.state.db = db
        app.state.analytics = rt
        app.state.roles = started_lookup(
            client, setting="ANALYTICS_CONTENT_URL", ttl=settings.roles_cache_seconds
        )
        upkeep = None
        if isinstance(sink, ProcessSink):
            await sink.start()  # it also runs the upkeep loop
        if settings.run_background:
            ingestor.start()
            if writer is not None:
                upkeep = asyncio.create_task(writer.upkeep_loop(rt.now), name="analytics-upkeep")
        try:
            yield
        finally:
            if upkeep is not None:
                upkeep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upkeep
            await ingestor.stop()
            if isinstance(sink, ProcessSink):
                await sink.close()
            if own_client is not None:
                await own_client.aclose()
            if database is None:
                await db.dispose()

    async def database_ready() -> None:
        db: Database = app.state.db
        await db.ping()

    app = service_app(
        name="analytics",
        title="Portal Platform — analytics",
        description="Visitor statistics: ingest, bot filtering, unique visitors, reports.",
        lifespan=lifespan,
        readiness={"database": database_ready},
        openapi_tags=[
            {"name": "ingest", "description": "The beacon and the tracker script."},
            {"name": "reports", "description": "Statistics per portal and for the centre."},
        ],
        settings=settings,
    )
    app.state.roles = RoleLookup(None, setting="ANALYTICS_CONTENT_URL")  # replaced at start
    app.include_router(router)
    # Inside the request-id/metrics middleware, in front of routing (see fastpath.py).
    app.user_middleware.append(Middleware(BeaconFastPath))
    return app
