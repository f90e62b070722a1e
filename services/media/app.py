"""The media service: uploads checked by their bytes, image renditions, video and
documents, on local disk (embedded default) or MinIO/S3.

Metadata lives in the service's own database; the bytes in the configured `Storage`.
Content tells the service which assets its items use (outbox events delivered to
`/internal/events`, or `PUT /internal/usage/{item_id}`), so assets in use cannot be
deleted and assets used by published items are public.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
from fastapi import FastAPI

from services.common.app import service_app
from services.common.db import Database
from services.common.limits import ITEM_JSON_BYTES, BodyRoute, MiB
from services.common.migrate import upgrade
from services.common.portals import PortalDirectory
from services.common.roles import RoleLookup, started_lookup
from services.media.av import AvTools
from services.media.router import internal, router
from services.media.service import MediaContext
from services.media.settings import MediaSettings
from services.media.storage import LocalStorage, S3Storage, Storage
from services.media.upload import sweep_stale_uploads


def make_storage(settings: MediaSettings) -> Storage:
    """The configured storage backend (nothing is opened yet)."""
    if settings.storage == "s3":
        if not (settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key):
            raise ValueError(
                "MEDIA_S3_ENDPOINT, MEDIA_S3_ACCESS_KEY and MEDIA_S3_SECRET_KEY are required "
                "when MEDIA_STORAGE=s3"
            )
        return S3Storage(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    return LocalStorage(settings.data_dir / "media")


def create_app(
    settings: MediaSettings | None = None,
    *,
    database: Database | None = None,
    storage: Storage | None = None,
    tools: AvTools | None = None,
    content: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build the media service; tests pass their own settings, database, storage, tools.

    `content` is how media asks the content service for the caller's current roles and
    whether a portal exists; by default an HTTP client for `MEDIA_CONTENT_URL` (embedded
    mode passes an in-process one). With neither, members-only operations answer 503.
    """
    settings = settings or MediaSettings()
    chosen = storage or make_storage(settings)
    context = MediaContext(
        storage=chosen,
        settings=settings,
        tools=tools or AvTools.find(settings.ffprobe_path, settings.ffmpeg_path),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        if database is None and url.startswith("sqlite"):
            # A SQLite file (embedded, or `portal serve media` with nothing set up) migrates
            # itself; PostgreSQL is migrated by `portal migrate media` before the rollout.
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade("media", url)
        db = database or Database.from_url(url, echo=settings.database_echo)
        app.state.db = db
        own_client = None
        client = content
        if client is None and settings.content_url:
            own_client = client = httpx.AsyncClient(
                base_url=settings.content_url, timeout=httpx.Timeout(5.0, connect=2.0)
            )
        token = settings.content_token.get_secret_value() if settings.content_token else None
        app.state.roles = started_lookup(
            client, setting="MEDIA_CONTENT_URL", ttl=settings.roles_cache_seconds
        )
        context.portals = PortalDirectory(client, token=token)
        await chosen.open()
        context.processing = anyio.CapacityLimiter(settings.processing_slots)
        context.tmp_dir.mkdir(parents=True, exist_ok=True)
        sweep_stale_uploads(context.tmp_dir)
        try:
            yield
        finally:
            await chosen.close()
            if own_client is not None:
                await own_client.aclose()
            if database is None:
                await db.dispose()

    async def database_ready() -> None:
        await app.state.db.ping()

    async def storage_ready() -> None:
        await chosen.size("o/readiness-probe")

    app = service_app(
        name="media",
        title="Portal Platform — media",
        description="Uploads checked by their bytes, image renditions, video and documents.",
        lifespan=lifespan,
        readiness={"database": database_ready, "storage": storage_ready},
        openapi_tags=[{"name": "media", "description": "Images, video, audio and documents."}],
        settings=settings,
        body_routes=[
            # The largest file of any kind, with room for the form's other fields; the
            # file's own kind limit applies as it streams (upload.py).
            BodyRoute("POST", "/v1/media", settings.max_any_bytes + MiB),
            BodyRoute("*", "/internal/", ITEM_JSON_BYTES),
        ],
    )
    app.state.media = context
    app.state.roles = RoleLookup(None, setting="MEDIA_CONTENT_URL")  # replaced at start
    app.include_router(router)
    app.include_router(internal)
    return app
