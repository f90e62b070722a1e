"""The content service: portals, accounts, articles, legal documents, pages, workflow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.common.addresses import parse_networks
from services.common.app import service_app
from services.common.db import Database
from services.common.limits import ITEM_JSON_BYTES, BodyRoute
from services.common.outbox import HttpSubscriber, OutboxRelay, Subscriber
from services.common.ratelimit import RateLimiter
from services.common.response_cache import ResponseCache
from services.common.security import (
    TokenIssuer,
    TokenVerifier,
    load_or_create_private_key,
    private_key_from_pem,
)
from services.content import scheduler
from services.content.accounts.passwords import PasswordHashing
from services.content.accounts.router import router as accounts_router
from services.content.accounts.throttle import SignInPolicy, SignInThrottle
from services.content.items.export import router as export_router
from services.content.items.kinds import ARTICLE, DOCUMENT, PAGE
from services.content.items.router import item_router
from services.content.models import OUTBOX
from services.content.portals.router import router as portals_router
from services.content.settings import ContentSettings

TAGS = [
    {"name": "auth", "description": "Tokens (JWT, EdDSA) and the current user."},
    {"name": "users", "description": "Accounts and their roles per portal."},
    {"name": "portals", "description": "The central portal and provincial portals."},
    {"name": "categories", "description": "Each portal's category tree (chuyên mục)."},
    {"name": "articles", "description": "News articles (tin, bài) and their workflow."},
    {"name": "documents", "description": "Legal documents (văn bản) and their workflow."},
    {"name": "pages", "description": "Static pages: organisation, functions, contacts."},
]


def create_app(
    settings: ContentSettings | None = None,
    *,
    database: Database | None = None,
    subscribers: list[Subscriber] | None = None,
    media: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build the content service; tests pass their own settings and database.

    `subscribers` receive outbox events besides the URLs in the settings (embedded mode
    hands over the in-process search service this way). `media` is how submit checks
    featured images; by default an HTTP client for `CONTENT_MEDIA_URL`, and without either
    the check is off (embedded mode passes an in-process client).
    """
    settings = settings or ContentSettings()
    if settings.jwt_private_key_pem is not None:
        private_key = private_key_from_pem(settings.jwt_private_key_pem.get_secret_value())
    else:
        private_key = load_or_create_private_key(settings.keys_dir / "signing.pem")
    issuer = TokenIssuer(private_key, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    cache = ResponseCache(ttl=settings.public_cache_ttl)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database.from_url(
            settings.resolved_database_url(), echo=settings.database_echo
        )
        app.state.db = db
        limiter = RateLimiter(settings.redis_url, prefix=settings.rate_limit_prefix)
        app.state.sign_in_throttle = SignInThrottle(limiter, _sign_in_policy(settings))
        tasks: list[asyncio.Task[None]] = []
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        own_media = None
        app.state.media = media
        if media is None and settings.media_url:
            own_media = app.state.media = httpx.AsyncClient(
                base_url=settings.media_url, timeout=httpx.Timeout(10.0, connect=3.0)
            )
        if settings.run_background:
            tasks.append(
                asyncio.create_task(
                    scheduler.run_forever(
                        db, settings.scheduler_interval, on_change=cache.invalidate
                    )
                )
            )
            token = settings.outbox_token.get_secret_value() if settings.outbox_token else None
            receivers: list[Subscriber] = [
                HttpSubscriber(name, url, client=http, token=token)
                for name, url in settings.outbox_subscribers.items()
            ]
            receivers += subscribers or []
            if receivers:
                relay = OutboxRelay(db, OUTBOX, receivers, interval=settings.outbox_interval)
                tasks.append(asyncio.create_task(relay.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await http.aclose()
            await limiter.close()
            app.state.hashing.close()
            if own_media is not None:
                await own_media.aclose()
            if database is None:
                await db.dispose()

    async def database_ready() -> None:
        await app.state.db.ping()

    app = service_app(
        name="content",
        title="Portal Platform — content",
        description="Portals, accounts, articles, legal documents, pages and their workflow.",
        lifespan=lifespan,
        readiness={"database": database_ready},
        openapi_tags=TAGS,
        response_cache=cache,
        cache_prefix="/v1/portals",
        body_routes=[BodyRoute("*", "/v1/portals/", ITEM_JSON_BYTES)],
    )
    app.state.settings = settings
    app.state.issuer = issuer
    app.state.media = media
    app.state.hashing = PasswordHashing(settings.password_hash_concurrency)
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.verifier = TokenVerifier(
        issuer=settings.jwt_issuer, audience=settings.jwt_audience, keys=issuer.jwks()
    )
    app.include_router(accounts_router)
    app.include_router(portals_router)
    for spec in (ARTICLE, DOCUMENT, PAGE):
        app.include_router(item_router(spec))
    app.include_router(export_router)
    return app


def _sign_in_policy(settings: ContentSettings) -> SignInPolicy:
    return SignInPolicy(
        free_failures=settings.sign_in_free_failures,
        delay_seconds=settings.sign_in_delay_seconds,
        max_delay_seconds=settings.sign_in_max_delay_seconds,
        failure_memory_seconds=settings.sign_in_failure_memory_seconds,
        ip_failures_per_hour=settings.sign_in_ip_failures_per_hour,
        ip_attempts_per_minute=settings.sign_in_ip_attempts_per_minute,
        account_failures_per_hour=settings.sign_in_account_failures_per_hour,
    )
