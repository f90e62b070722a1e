"""The micro-cache of anonymous public reads: hits, 304, bypass, invalidation, expiry."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from services.common.app import service_app
from services.common.response_cache import ResponseCache


def counting_app(ttl: float) -> tuple[FastAPI, dict[str, int]]:
    calls = {"n": 0}
    app = service_app(
        name="t",
        title="t",
        description="t",
        response_cache=ResponseCache(ttl=ttl),
        cache_prefix="/v1/portals",
    )

    @app.get("/v1/portals/{portal}/things")
    async def things(portal: str) -> Response:
        calls["n"] += 1
        return Response(
            f'{{"n": {calls["n"]}}}',
            media_type="application/json",
            headers={"Cache-Control": "public, max-age=60", "ETag": f'"v{calls["n"]}"'},
        )

    @app.get("/v1/portals/{portal}/private")
    async def private(portal: str) -> Response:
        calls["n"] += 1
        return Response("{}", headers={"Cache-Control": "private, no-cache"})

    @app.post("/v1/portals/{portal}/things")
    async def write(portal: str, request: Request) -> dict[str, str]:
        return {"ok": "yes"}

    return app, calls


@pytest.fixture
def make_client():
    def make(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    return make


class TestResponseCache:
    async def test_second_anonymous_read_is_served_from_cache(self, make_client):
        app, calls = counting_app(ttl=30)
        async with make_client(app) as client:
            first = await client.get("/v1/portals/a/things")
            second = await client.get("/v1/portals/a/things")
        assert first.json() == second.json() == {"n": 1}
        assert calls["n"] == 1
        assert second.headers["x-request-id"] != first.headers["x-request-id"]

    async def test_if_none_match_gets_304_from_the_cache(self, make_client):
        app, calls = counting_app(ttl=30)
        async with make_client(app) as client:
            first = await client.get("/v1/portals/a/things")
            again = await client.get(
                "/v1/portals/a/things", headers={"If-None-Match": first.headers["etag"]}
            )
        assert again.status_code == 304
        assert again.headers["etag"] == first.headers["etag"]
        assert calls["n"] == 1

    async def test_credentials_and_private_responses_are_never_cached(self, make_client):
        app, calls = counting_app(ttl=30)
        async with make_client(app) as client:
            await client.get("/v1/portals/a/things", headers={"Authorization": "Bearer x"})
            await client.get("/v1/portals/a/things", headers={"Authorization": "Bearer x"})
            await client.get("/v1/portals/a/private")
            await client.get("/v1/portals/a/private")
        assert calls["n"] == 4

    async def test_query_strings_are_separate_entries(self, make_client):
        app, calls = counting_app(ttl=30)
        async with make_client(app) as client:
            await client.get("/v1/portals/a/things?limit=5")
            await client.get("/v1/portals/a/things?limit=6")
        assert calls["n"] == 2

    async def test_a_write_drops_that_portal_only(self, make_client):
        app, calls = counting_app(ttl=30)
        async with make_client(app) as client:
            await client.get("/v1/portals/a/things")
            await client.get("/v1/portals/b/things")
            await client.post("/v1/portals/a/things")
            a = await client.get("/v1/portals/a/things")
            b = await client.get("/v1/portals/b/things")
        assert a.json() == {"n": 3}
        assert b.json() == {"n": 2}
        assert calls["n"] == 3

    async def test_entries_expire(self, make_client):
        app, calls = counting_app(ttl=0.05)
        async with make_client(app) as client:
            await client.get("/v1/portals/a/things")
            await asyncio.sleep(0.1)
            await client.get("/v1/portals/a/things")
        assert calls["n"] == 2

    async def test_ttl_zero_turns_it_off(self, make_client):
        app, calls = counting_app(ttl=0)
        async with make_client(app) as client:
            await client.get("/v1/portals/a/things")
            await client.get("/v1/portals/a/things")
        assert calls["n"] == 2


class TestStampede:
    async def test_concurrent_misses_make_one_upstream_call(self, make_client):
        calls = {"n": 0}
        app = service_app(
            name="t",
            title="t",
            description="t",
            response_cache=ResponseCache(ttl=30),
            cache_prefix="/v1/portals",
        )

        @app.get("/v1/portals/{portal}/slow")
        async def slow(portal: str) -> Response:
            calls["n"] += 1
            await asyncio.sleep(0.05)
            return Response("{}", headers={"Cache-Control": "public, max-age=60"})

        async with make_client(app) as client:
            responses = await asyncio.gather(*(client.get("/v1/portals/a/slow") for _ in range(10)))
        assert [r.status_code for r in responses] == [200] * 10
        assert calls["n"] == 1

    async def test_expired_entry_is_served_while_one_request_refreshes(self, make_client):
        calls = {"n": 0}
        cache = ResponseCache(ttl=30)
        app = service_app(
            name="t", title="t", description="t", response_cache=cache, cache_prefix="/v1/portals"
        )

        @app.get("/v1/portals/{portal}/slow")
        async def slow(portal: str) -> Response:
            calls["n"] += 1
            await asyncio.sleep(0.05)
            return Response(str(calls["n"]), headers={"Cache-Control": "public, max-age=60"})

        async with make_client(app) as client:
            await client.get("/v1/portals/a/slow")
            key = "/v1/portals/a/slow?"
            entry = cache.get(key)
            assert entry is not None
            cache.put(key, dataclasses.replace(entry, expires=time.monotonic() - 1))  # expired
            responses = await asyncio.gather(*(client.get("/v1/portals/a/slow") for _ in range(5)))
        bodies = sorted(r.text for r in responses)
        assert calls["n"] == 2
        assert bodies == ["1", "1", "1", "1", "2"]
