"""The search service: Vietnamese-aware search of articles and legal documents.

The backend is the embedded tantivy index under the data dir by default, or Meilisearch
in production; the API and its results are the same with either. The index follows
content through its outbox events, delivered to `/internal/events`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.common.app import service_app
from services.common.limits import ITEM_JSON_BYTES, BodyRoute
from services.common.roles import RoleLookup, started_lookup
from services.search.api import internal, router
from services.search.model import SearchBackend, SearchQuery
from services.search.rebuild import ContentSource, Job, reindex_when_content_answers, start
from services.search.settings import SearchSettings

log = logging.getLogger(__name__)


def make_backend(settings: SearchSettings) -> SearchBackend:
    """The configured backend (nothing is opened yet)."""
    if settings.backend == "meilisearch":
        from services.search.backends.meili import MeiliBackend

        if not settings.meili_url:
            raise ValueError("SEARCH_MEILI_URL is required when SEARCH_BACKEND=meilisearch")
        key = settings.meili_api_key.get_secret_value() if settings.meili_api_key else None
        return MeiliBackend(settings.meili_url, key, index_prefix=settings.meili_index_prefix)
    from services.search.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(settings.data_dir / "search")


def refill(job: Job, backend: SearchBackend, source: ContentSource | None) -> None:
    """Refill an index that started empty (a new index format) from content."""
    if source is None:
        log.warning("the search index is empty: set SEARCH_CONTENT_URL or run `portal reindex`")
        return
    log.info("refilling the search index from content")
    start(job, "reindex", reindex_when_content_answers(backend, source, job))


def create_app(
    settings: SearchSettings | None = None,
    *,
    backend: SearchBackend | None = None,
    content: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build the search service; tests may pass their own backend.

    `content` is how reindex/reconcile reach the content service, and how the admin
    routes learn whether the caller is a superadmin now; by default an HTTP client for
    `SEARCH_CONTENT_URL` (embedded mode passes an in-process one).
    """
    settings = settings or SearchSettings()
    chosen = backend or make_backend(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_client = None
        client = content
        if client is None and settings.content_url:
            own_client = client = httpx.AsyncClient(
                base_url=settings.content_url, timeout=httpx.Timeout(60.0, connect=5.0)
            )
        token = settings.content_token.get_secret_value() if settings.content_token else None
        app.state.content_source = ContentSource(client, token) if client else None
        app.state.roles = started_lookup(
            client, setting="SEARCH_CONTENT_URL", ttl=settings.roles_cache_seconds
        )
        await chosen.open()
        if chosen.rebuild_needed:
            refill(app.state.job, chosen, app.state.content_source)
        try:
            yield
        finally:
            job: Job = app.state.job
            if job.task is not None and not job.task.done():
                job.task.cancel()
            await chosen.close()
            if own_client is not None:
                await own_client.aclose()

    async def index_ready() -> None:
        await chosen.search(SearchQuery(per_page=1, facets=()))

    app = service_app(
        name="search",
        title="Portal Platform — search",
        description="Vietnamese-aware search of articles and legal documents.",
        lifespan=lifespan,
        readiness={"index": index_ready},
        openapi_tags=[{"name": "search", "description": "Search and suggestions."}],
        settings=settings,
        body_routes=[BodyRoute("*", "/internal/", ITEM_JSON_BYTES)],
    )
    app.state.backend = chosen
    app.state.job = Job()
    app.state.content_source = None
    app.state.roles = RoleLookup(None, setting="SEARCH_CONTENT_URL")  # replaced at start
    app.include_router(router)
    app.include_router(internal)
    return app
