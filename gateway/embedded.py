"""Embedded mode: the gateway with every service mounted in one process."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.analytics.app import create_app as analytics_app
from services.analytics.settings import AnalyticsSettings
from services.common.addresses import LOOPBACK
from services.common.outbox import HttpSubscriber
from services.content.app import create_app as content_app
from services.content.settings import ContentSettings
from services.media.app import create_app as media_app
from services.media.settings import MediaSettings
from services.search.app import create_app as search_app
from services.search.settings import SearchSettings


class _Late:
    """An ASGI app bound after construction: content and search each call the other."""

    app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "bound before the platform starts"
        await self.app(scope, receive, send)


def _analytics_settings(data_dir: Path) -> AnalyticsSettings:
    """Analytics in `portal dev`: loopback is a trusted proxy (a local reverse proxy in
    front of the dev server passes the browser's address), unless configured otherwise."""
    settings = AnalyticsSettings(data_dir=data_dir)
    if not settings.trusted_proxies:
        settings = settings.model_copy(update={"trusted_proxies": list(LOOPBACK)})
    return settings


def _content_settings(data_dir: Path) -> ContentSettings:
    """Content in `portal dev`: loopback is a trusted proxy too (sign-ins are throttled per
    client address, which a local reverse proxy passes in X-Forwarded-For)."""
    settings = ContentSettings(data_dir=data_dir)
    if not settings.trusted_proxies:
        settings = settings.model_copy(update={"trusted_proxies": list(LOOPBACK)})
    return settings


def embedded_gateway(data_dir: Path) -> ASGIApp:
    """All services in-process, their data under `data_dir` (env vars still apply).

    Content's outbox events reach the search and media services, the search service reads
    content's published set for reindexing, content asks media whether a featured image may
    be used (an image of the portal with alt text), analytics checks that portals exist, and
    search, media and analytics read the caller's current roles from content (`/v1/me`),
    through the same HTTP contracts as in the distributed mode, over in-process transports
    instead of the network.
    """
    search_settings = SearchSettings(data_dir=data_dir)
    content_ref = _Late()
    to_content = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=content_ref), base_url="http://content.internal"
    )
    search = search_app(search_settings, content=to_content)
    to_search = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=search), base_url="http://search.internal"
    )
    token = search_settings.events_token
    subscriber = HttpSubscriber(
        "search",
        "http://search.internal/internal/events",
        client=to_search,
        token=token.get_secret_value() if token else None,
    )
    # Media learns which assets content items use from the same events.
    media_settings = MediaSettings(data_dir=data_dir)
    # Media asks content for the caller's current roles and whether a portal exists.
    media = media_app(media_settings, content=to_content)
    to_media = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=media), base_url="http://media.internal"
    )
    media_token = media_settings.events_token
    media_subscriber = HttpSubscriber(
        "media",
        "http://media.internal/internal/events",
        client=to_media,
        token=media_token.get_secret_value() if media_token else None,
    )
    # Submit checks featured images with media over the same client, as the acting user.
    content = content_app(
        _content_settings(data_dir),
        subscribers=[subscriber, media_subscriber],
        media=to_media,
    )
    content_ref.app = content
    services = {
        "content": content,
        "search": search,
        "media": media,
        "analytics": analytics_app(_analytics_settings(data_dir), content=to_content),
    }
    return create_app(GatewaySettings(), services=services)
