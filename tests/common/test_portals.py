"""Portals asked of the real content app: TTL caches both ways, bounded, stale when down."""

from __future__ import annotations

import random
import string

import httpx
import pytest
from factories import make_portal

from services.common.portals import ContentUnreachable, PortalDirectory


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def counted(content_app):
    calls: list[str] = []

    async def count(request: httpx.Request) -> None:
        calls.append(request.url.path)

    transport = httpx.ASGITransport(app=content_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://content", event_hooks={"request": [count]}
    ) as http:
        yield http, calls


class TestPortalDirectory:
    async def test_known_and_unknown_portals_are_cached(self, counted, db):
        http, calls = counted
        await make_portal(db, "phu-yen")
        clock = Ticking()
        directory = PortalDirectory(http, ttl=300, missing_ttl=30, clock=clock)
        for _ in range(3):
            info = await directory.get("phu-yen")
            assert info is not None
            assert (info.id, info.kind) == ("phu-yen", "provincial")
            assert await directory.get("khong-co") is None
        assert calls == ["/v1/portals/phu-yen", "/v1/portals/khong-co"]
        clock.now += 31  # the negative entry expires first: a new portal shows up quickly
        await make_portal(db, "khong-co")
        assert await directory.get("khong-co") is not None
        assert await directory.get("phu-yen") is not None
        assert len(calls) == 3
        clock.now += 300
        await directory.get("phu-yen")
        assert len(calls) == 4

    async def test_content_down_uses_stale_entries_else_503(self, counted, db):
        http, _ = counted
        await make_portal(db, "phu-yen")
        clock = Ticking()
        directory = PortalDirectory(http, ttl=1, missing_ttl=1, clock=clock)
        assert await directory.get("phu-yen") is not None
        await http.aclose()  # content unreachable from now on
        down = PortalDirectory(
            httpx.AsyncClient(transport=httpx.MockTransport(_refuse), base_url="http://c"),
            ttl=1,
            missing_ttl=1,
            clock=clock,
        )
        down._known = directory._known
        clock.now += 5
        assert await down.get("phu-yen") is not None  # stale, but content is down
        with pytest.raises(ContentUnreachable):
            await down.get("da-nang")


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


class TestUnknownPortalFlood:
    async def test_twenty_thousand_random_unknown_portals_keep_the_cache_bounded(self):
        """The attack: 20,000 beacons naming random unknown portals each grew a cache that
        was never cleaned. Now the unknown entries are capped, the oldest dropped first."""
        asked: list[str] = []

        def content(request: httpx.Request) -> httpx.Response:
            asked.append(request.url.path)
            if request.url.path == "/v1/portals/phu-yen":
                return httpx.Response(200, json={"id": "phu-yen", "name": "Phú Yên"})
            return httpx.Response(404, json={"title": "Not found"})

        clock = Ticking()
        transport = httpx.MockTransport(content)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            directory = PortalDirectory(http, missing_size=500, clock=clock)
            assert await directory.get("phu-yen") is not None
            rng = random.Random(10)
            for _ in range(20_000):
                name = "".join(rng.choices(string.ascii_lowercase, k=12))
                assert await directory.get(name) is None
            assert directory.cached <= 501
            assert len(directory._missing) == 500
            # The real portal survived the flood and is still answered from the cache.
            before = len(asked)
            assert await directory.get("phu-yen") is not None
            assert len(asked) == before
            # A name repeated within the negative TTL costs content nothing more.
            await directory.get("khong-co")
            await directory.get("khong-co")
            assert len(asked) == before + 1
