"""Which portals exist, asked of the content service over HTTP, with bounded TTL caches.

Services other than content never read content's tables. Analytics checks a beacon's
portal and names portals in its reports; media refuses an upload into a portal that does
not exist. A known portal is cached for `ttl`, an unknown one for `missing_ttl` (so a
flood of beacons naming a typo costs one request, and a new portal shows up quickly).
When content does not answer, a stale known entry is still used; an unknown portal then
gets 503.

Both caches are bounded: real portals are few (`known_size`), but anyone can name an
unknown one, so a flood of random names keeps at most `missing_size` entries, dropping
the oldest first.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from cachetools import LRUCache, TTLCache

from services.common.errors import ServiceUnavailable
from services.common.i18n import Msg

_PORTAL_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def is_portal_id(value: str) -> bool:
    """Content's rule for portal ids: anything else cannot exist, and is never put in a URL."""
    return len(value) <= 64 and _PORTAL_ID.fullmatch(value) is not None


class ContentUnreachable(ServiceUnavailable):
    slug = "content-unreachable"

    def __init__(self) -> None:
        super().__init__(
            Msg(
                "Chưa kiểm tra được cổng thông tin (dịch vụ nội dung không phản hồi).",
                "Cannot check the portal right now (the content service does not answer).",
            ),
            headers={"Retry-After": "5"},
        )


@dataclass(frozen=True)
class PortalInfo:
    id: str
    name: str
    kind: str  # central | provincial


@dataclass
class _Known:
    info: PortalInfo
    expires: float


class PortalDirectory:
    """`get(portal)` → PortalInfo or None (does not exist)."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        *,
        ttl: float = 300.0,
        missing_ttl: float = 30.0,
        token: str | None = None,
        known_size: int = 4096,
        missing_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.clock = clock
        # Known portals keep their entry past its expiry (LRU-bounded): it is the answer
        # when content is down. Unknown ones simply expire.
        self._known: LRUCache[str, _Known] = LRUCache(known_size)
        self._missing: TTLCache[str, bool] = TTLCache(missing_size, missing_ttl, timer=clock)
        self._inflight: dict[str, asyncio.Future[PortalInfo | None]] = {}
        self._all: tuple[float, list[PortalInfo]] | None = None

    @property
    def cached(self) -> int:
        """How many portals (known or unknown) are held now."""
        return len(self._known) + len(self._missing)

    async def get(self, portal: str) -> PortalInfo | None:
        if not is_portal_id(portal):
            return None
        known = self._known.get(portal)
        if known is not None and known.expires > self.clock():
            return known.info
        if known is None and self._missing.get(portal, False):
            return None
        pending = self._inflight.get(portal)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[PortalInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[portal] = future
        try:
            info = await self._fetch(portal, stale=known)
            future.set_result(info)
            return info
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[portal]

    async def _fetch(self, portal: str, *, stale: _Known | None) -> PortalInfo | None:
        if self.client is None:
            raise ContentUnreachable()
        try:
            response = await self.client.get(f"/v1/portals/{portal}", headers=self.headers)
        except httpx.HTTPError:
            if stale is not None:
                return stale.info
            raise ContentUnreachable() from None
        if response.status_code == 404:
            self._known.pop(portal, None)
            self._missing[portal] = True
            return None
        if response.status_code != 200:
            if stale is not None:
                return stale.info
            raise ContentUnreachable()
        body = response.json()
        info = PortalInfo(body["id"], body.get("name", body["id"]), body.get("kind", ""))
        self._remember(info)
        return info

    def _remember(self, info: PortalInfo) -> None:
        self._known[info.id] = _Known(info, self.clock() + self.ttl)
        self._missing.pop(info.id, None)

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
            self._remember(info)
        return items
