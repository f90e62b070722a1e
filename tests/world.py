"""The four services in-process, wired as `portal dev` wires them, for cross-service tests.

Content runs on the test's PostgreSQL database (rolled back afterwards); media, analytics
and search on their own files under a temporary folder (SQLite, local storage, the
embedded index), migrated by their own start-up. Search, media and analytics reach content
over one in-process transport that a test can switch off (`content_down`), and their role
caches run on a clock the test moves (`clock.now += 5`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.analytics.app import create_app as create_analytics_app
from services.analytics.settings import AnalyticsSettings
from services.common.db import Database
from services.common.roles import RoleLookup
from services.content.app import create_app as create_content_app
from services.content.settings import ContentSettings
from services.media.app import create_app as create_media_app
from services.media.av import AvTools
from services.media.settings import MediaSettings
from services.search.app import create_app as create_search_app
from services.search.settings import SearchSettings

SETTINGS_OF = {
    "media": "MEDIA_CONTENT_URL",
    "analytics": "ANALYTICS_CONTENT_URL",
    "search": "SEARCH_CONTENT_URL",
}


class Ticking:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Switchable(httpx.AsyncBaseTransport):
    """The in-process transport to content, which refuses connections while `down`."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.down = False
        self.calls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("content is down", request=request)
        self.calls.append(request.url.path)
        return await self.inner.handle_async_request(request)


@dataclass
class Platform:
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    to_content: Switchable
    clock: Ticking

    @property
    def content(self) -> httpx.AsyncClient:
        return self.clients["content"]

    @property
    def media(self) -> httpx.AsyncClient:
        return self.clients["media"]

    @property
    def analytics(self) -> httpx.AsyncClient:
        return self.clients["analytics"]

    @property
    def search(self) -> httpx.AsyncClient:
        return self.clients["search"]

    def content_down(self, down: bool = True) -> None:
        self.to_content.down = down

    def roles_expire(self) -> None:
        """Move the role caches' clock past their 5 seconds."""
        self.clock.now += 5.01


@contextlib.asynccontextmanager
async def running_platform(
    db: Database, data_dir: Path, signing_key_pem: str, *, real_clock: bool = False
) -> AsyncIterator[Platform]:
    """Start the four services; with `real_clock`, the role caches keep their own clock."""
    keys = data_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "signing.pem").write_text(signing_key_pem)  # as content writes it in `portal dev`
    content = create_content_app(
        ContentSettings(
            data_dir=data_dir, jwt_private_key_pem=signing_key_pem, run_background=False
        ),
        database=db,
    )
    transport = Switchable(content)
    clock = Ticking()
    async with contextlib.AsyncExitStack() as stack:
        to_content = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://content.internal")
        )
        apps: dict[str, FastAPI] = {
            "content": content,
            "media": create_media_app(
                MediaSettings(data_dir=data_dir), tools=AvTools(None, None), content=to_content
            ),
            "analytics": create_analytics_app(
                AnalyticsSettings(data_dir=data_dir, run_background=False, writer="inline"),
                content=to_content,
            ),
            "search": create_search_app(SearchSettings(data_dir=data_dir), content=to_content),
        }
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            if name in SETTINGS_OF and not real_clock:
                app.state.roles = RoleLookup(to_content, setting=SETTINGS_OF[name], clock=clock)
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        yield Platform(apps, clients, transport, clock)
