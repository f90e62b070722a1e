"""What every service checks before it reads a body, through the embedded gateway: the caller
on operations that need one (401, not 422), the body's size by route class (413), and
`X-Content-Type-Options: nosniff` on every answer.

The write operations are taken from the platform's OpenAPI document, so a new write is
checked as soon as it exists; one that anyone may call must be listed in OPEN_WRITES.
"""

from __future__ import annotations

import re

import httpx
from factories import good_article

# Writes without a signed-in caller: sign-in, token refresh, sign-out by refresh token (it
# works after the access token expired), the page-view beacon.
OPEN_WRITES = {"createToken", "refreshToken", "signOut", "sendAnalyticsEvent"}
WRITES = {"post", "put", "patch", "delete"}
JSON = {"Content-Type": "application/json"}
MiB = 1024 * 1024


def _address(template: str) -> str:
    values = {"portal": "phu-yen", "number": "1"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "0" * 32), template)


async def _writes(gw: httpx.AsyncClient) -> list[tuple[str, str, str]]:
    document = (await gw.get("/v1/openapi.json")).json()
    return [
        (method.upper(), _address(path), operation["operationId"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in WRITES and operation["operationId"] not in OPEN_WRITES
    ]


BAD_BODIES = [b"{not json", b'{"title": 1, "unknown": [' + b"1," * 1000 + b"1]}", b""]
NOT_SIGNED_IN = [{}, {"Authorization": "Bearer forged.token.here"}, {"Authorization": "Basic YQ=="}]


class TestCallerBeforeBody:
    async def test_every_protected_write_is_401(self, gw):
        writes = await _writes(gw)
        for method, url, operation in writes:
            for body in BAD_BODIES:
                for authorization in NOT_SIGNED_IN:
                    headers = {**JSON, **authorization}
                    r = await gw.request(method, url, content=body, headers=headers)
                    assert r.status_code == 401, (operation, body[:20], r.status_code, r.text)
                    assert r.json()["status"] == 401
        operations = {operation for *_, operation in writes}
        assert {
            "createArticle",
            "updatePortal",
            "createUser",
            "setMember",
            "upload_media",
            "update_media",
            "reindex",
        } <= operations

    async def test_an_anonymous_multipart_upload_is_401(self, gw):
        r = await gw.post("/v1/media", files={"file": ("a.png", b"\x89PNG" + b"0" * 1000)})
        assert r.status_code == 401

    async def test_protected_reads_are_401_before_their_query_is_checked(self, gw):
        for url in (
            "/v1/analytics/summary?from=yesterday&to=never",
            "/v1/analytics/portals/phu-yen/stats?from=x",
            "/v1/media?portal=NOT%20A%20SLUG&kind=nothing&limit=-1",
        ):
            r = await gw.get(url)
            assert r.status_code == 401, (url, r.text)

    async def test_a_signed_in_caller_gets_the_validation_errors(self, gw, newsroom):
        _, people = newsroom
        r = await gw.post(
            "/v1/portals/phu-yen/articles",
            content=b"{not json",
            headers={**JSON, **people["editor"].headers},
        )
        assert r.status_code == 422


class TestBodySize:
    async def test_a_json_body_over_the_default_limit_is_413(self, gw):
        r = await gw.post(
            "/v1/auth/token",
            json={"username": "admin", "password": "x" * (2 * MiB)},
            headers={"Accept-Language": "en"},
        )
        assert r.status_code == 413
        assert r.json()["type"].endswith("/payload-too-large")
        assert "1048576 bytes" in r.json()["detail"]

    async def test_a_chunked_body_is_cut_off(self, gw):
        sent = 0

        async def hundred_megabytes():
            nonlocal sent
            for _ in range(100):
                sent += 1
                yield b" " * MiB

        r = await gw.post("/v1/auth/token", content=hundred_megabytes(), headers=JSON)
        assert r.status_code == 413
        assert sent <= 3

    async def test_an_article_may_be_larger(self, gw, newsroom):
        category, people = newsroom
        body = "<p>" + "Bảo hiểm xã hội Việt Nam. " * 60_000 + "</p>"  # 1.7 MB as JSON
        r = await gw.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, body=body[:499_000]),
            headers=people["editor"].headers,
        )
        assert r.status_code == 201, r.text[:300]
        r = await gw.post(
            "/v1/portals/phu-yen/articles",
            content=b'{"body": "' + b"x" * (5 * MiB) + b'"}',
            headers={**JSON, **people["editor"].headers},
        )
        assert r.status_code == 413


class TestNosniff:
    async def test_every_service_says_it(self, gw):
        answers = [
            await gw.get("/healthz"),
            await gw.get("/nowhere"),
            await gw.get("/v1/portals"),
            await gw.get("/v1/search?q=bao+hiem"),
            await gw.get("/v1/media/" + "0" * 32),
            await gw.get("/v1/analytics/script.js"),
            await gw.post("/v1/analytics/events", json={"portal": "phu-yen"}),
            await gw.post("/v1/portals", json={}),
        ]
        for r in answers:
            assert r.headers.get_list("x-content-type-options") == ["nosniff"], (
                r.request.url,
                r.status_code,
            )
