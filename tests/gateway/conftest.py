"""The gateway in embedded mode: the four services mounted in-process, content on PostgreSQL.

The content app is built from the same pieces as the `content_app` fixture (the test's
settings and its rolled-back database); the gateway's lifespan starts every service, as
`portal dev` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from factories import make_category, make_portal, make_user
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import ASGIApp

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.analytics.app import create_app as create_analytics_app
from services.analytics.settings import AnalyticsSettings
from services.common.db import Database
from services.common.observability import MetricsAccess
from services.content.app import create_app as create_content_app
from services.content.settings import ContentSettings
from services.media.app import create_app as create_media_app
from services.media.settings import MediaSettings
from services.search.app import create_app as create_search_app
from services.search.settings import SearchSettings

MakeGateway = Callable[..., Awaitable[ASGIApp]]


@pytest.fixture
def services(content_settings: ContentSettings, db: Database, tmp_path: Path) -> dict[str, FastAPI]:
    """Fresh service apps; the gateway's lifespan starts them."""
    return {
        "content": create_content_app(content_settings, database=db),
        "search": create_search_app(SearchSettings(data_dir=tmp_path)),
        "media": create_media_app(MediaSettings(data_dir=tmp_path)),
        "analytics": create_analytics_app(AnalyticsSettings(data_dir=tmp_path)),
    }


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[MakeGateway]:
    """Build embedded gateways (running their lifespan) with the given settings and services."""
    async with AsyncExitStack() as stack:

        async def make(
            services: dict[str, FastAPI],
            metrics_access: MetricsAccess | None = None,
            **settings: object,
        ) -> ASGIApp:
            app = create_gateway(
                GatewaySettings(**settings),
                services=services,
                metrics_access=metrics_access,
            )
            own = app.own
            await stack.enter_async_context(own.router.lifespan_context(own))
            return app

        yield make


@pytest.fixture
async def gateway(make_gateway: MakeGateway, services: dict[str, FastAPI]) -> ASGIApp:
    """The embedded gateway; Prometheus reads its /metrics with `test-scrape-token`."""
    return await make_gateway(
        services, metrics_access=MetricsAccess(SecretStr("test-scrape-token"))
    )


@pytest.fixture
async def gw(gateway: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """The embedded gateway as an HTTP client."""
    transport = httpx.ASGITransport(app=gateway, client=("203.0.113.9", 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


@pytest.fixture
async def newsroom(services: dict[str, FastAPI], db: Database):
    """Phú Yên with a category and one member per role, tokens issued by the content app."""
    await make_portal(db, "phu-yen")
    category = await make_category(db, "phu-yen")
    people = {}
    for role in ("contributor", "editor", "approver"):
        people[role] = await make_user(services["content"], db, roles={"phu-yen": role})
    return category, people
