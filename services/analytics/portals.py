"""Which portals exist, asked of the content service over HTTP, with a TTL cache.

Analytics never reads content's tables. A known portal is cached for
`portal_cache_seconds`, an unknown one for `missing_portal_cache_seconds` (so a flood of
beacons naming a typo costs one request, and a new portal shows up quickly). When content
does not answer, a stale known entry is still used; an unknown portal then gets 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from services.analytics.errors import ContentUnreachable


@dataclass(frozen=True)
class PortalInfo:
    id: str
    name: str
    kind: str  # central | provincial


@dataclass
class _Entry:
    info: PortalInfo | None
    expires: float


class PortalDirectory:
    """`get(portal)` → PortalInfo or None (does not exist)."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        *,
        ttl: float,
        missing_ttl: float,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.missing_ttl = missing_ttl
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[PortalInfo | None]] = {}
        self._all: tuple[float, list[PortalInfo]] | None = None

    async def get(self, portal: str) -> PortalInfo | None:
        entry = self._entries.get(portal)
        if entry is not None and entry.expires > self.clock():
            return entry.info
        pending = self._inflight.get(portal)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[PortalInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[portal] = future
        try:
            info = await self._fetch(portal, stale=entry)
            future.set_result(info)
            return info
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[portal]

    async def _fetch(self, portal: str, *, stale: _Entry | None) -> PortalInfo | None:
        if self.client is None:
            raise ContentUnreachable()
        try:
            response = await self.client.get(f"/v1/portals/{portal}", headers=self.headers)
        except httpx.HTTPError:
            if stale is not None and stale.info is not None:
                return stale.info
            raise ContentUnreachable() from None
        if response.status_code == 404:
            self._entries[portal] = _Entry(None, self.clock() + self.missing_ttl)
            return None
        if response.status_code != 200:
            if stale is not None and stale.info is not None:
                return stale.info
            raise ContentUnreachable()
        body = response.json()
        info = PortalInfo(body["id"], body.get("name", body["id"]), body.get("kind", ""))
        self._entries[portal] = _Entry(info, self.clock() + self.ttl)
        return info

    async def all(self) -> list[PortalInfo]:
        """Every portal of the federation (for the all-portals summary)."""
        if self._all is not None and self._all[0] > self.clock():
            return self._all[1]
        if self.client is None:
            raise ContentUnreachable()
        try:
            response = await self.client.get("/v1/portals", headers=self.headers)
        except httpx.HTTPError:
            if self._all is not None:
                return self._all[1]
            raise ContentUnreachable() from None
        if response.status_code != 200:
            raise ContentUnreachable()
        items = [
            PortalInfo(p["id"], p.get("name", p["id"]), p.get("kind", ""))
            for p in response.json()["items"]
        ]
        self._all = (self.clock() + self.ttl, items)
        for info in items:
            self._entries[info.id] = _Entry(info, self.clock() + self.ttl)
        return items
