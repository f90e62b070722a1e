"""What a request may cost in the app (BodyGuard), nosniff everywhere, /metrics not public.

A small service built with `service_app`, as every service is, in-process."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel, SecretStr

from services.common.app import service_app
from services.common.deps import PrincipalDep
from services.common.limits import BodyRoute, RequestLimits
from services.common.observability import MetricsAccess
from services.common.security import TokenIssuer, TokenVerifier, private_key_from_pem

LIMIT = 4096


class Note(BaseModel):
    text: str


@pytest.fixture(scope="module")
def issuer(signing_key_pem) -> TokenIssuer:
    return TokenIssuer(private_key_from_pem(signing_key_pem), issuer="portal", audience="api")


def make_app(metrics_token: str | None = None, issuer: TokenIssuer | None = None):
    router = APIRouter(prefix="/v1/notes")

    @router.post("")
    async def create_note(note: Note, principal: PrincipalDep) -> dict[str, str]:
        return {"text": note.text}

    @router.post("/open")
    async def open_note(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    @router.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @router.post("/big/raw")
    async def big_raw(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = service_app(
        name="notes",
        title="notes",
        description="notes",
        limits=RequestLimits(max_json_bytes=LIMIT),
        body_routes=[BodyRoute("POST", "/v1/notes/big/", 4 * LIMIT)],
        metrics_access=MetricsAccess(SecretStr(metrics_token) if metrics_token else None),
    )
    if issuer is not None:
        app.state.verifier = TokenVerifier(issuer="portal", audience="api", keys=issuer.jwks())
    app.include_router(router)
    return app


def client(app, *, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://notes")


class Chunks:
    """A chunked body (no Content-Length) that records how much of it was taken."""

    def __init__(self, chunks: int, size: int = 1024) -> None:
        self.chunks = chunks
        self.size = size
        self.sent = 0

    async def __aiter__(self):
        for _ in range(self.chunks):
            self.sent += 1
            yield b"x" * self.size


def assert_413(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/payload-too-large")
    assert str(limit) in problem["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]


class TestBodySize:
    async def test_declared_length_over_the_limit_is_refused_unread(self):
        async with client(make_app()) as http:
            body = Chunks(100)
            r = await http.post(
                "/v1/notes/raw", content=body, headers={"content-length": str(100 * 1024)}
            )
        assert_413(r, LIMIT)
        assert body.sent <= 1  # the app never asked for the body

    async def test_chunked_body_is_cut_off_when_it_passes_the_limit(self):
        async with client(make_app()) as http:
            body = Chunks(100_000)  # 100 MB if it were all read
            r = await http.post("/v1/notes/raw", content=body)
        assert_413(r, LIMIT)
        assert body.sent <= LIMIT // 1024 + 1

    async def test_json_body_over_the_limit_is_413_not_parsed(self):
        async with client(make_app()) as http:
            text = "x" * (2 * LIMIT)
            r = await http.post("/v1/notes/open", json={"text": text})
            assert_413(r, LIMIT)
            r = await http.post("/v1/notes/open", content=Chunks(8), headers=_json)
            assert_413(r, LIMIT)

    async def test_body_within_the_limit_passes(self):
        async with client(make_app()) as http:
            r = await http.post("/v1/notes/open", json={"text": "x" * (LIMIT - 100)})
            assert r.status_code == 200
            assert r.json() == {"length": LIMIT - 100}
            r = await http.post("/v1/notes/raw", content=Chunks(LIMIT // 1024))
            assert r.json() == {"size": LIMIT}

    async def test_a_declared_route_class_has_its_own_limit(self):
        async with client(make_app()) as http:
            r = await http.post("/v1/notes/big/raw", content=b"x" * (3 * LIMIT))
            assert r.json() == {"size": 3 * LIMIT}
            r = await http.post("/v1/notes/big/raw", content=Chunks(5 * LIMIT // 1024))
            assert_413(r, 4 * LIMIT)

    async def test_problem_in_english_when_asked(self):
        async with client(make_app()) as http:
            r = await http.post(
                "/v1/notes/raw",
                content=Chunks(10),
                headers={"accept-language": "en"},
            )
        assert "bytes allowed here" in r.json()["detail"]


_json = {"content-type": "application/json"}


class TestCallerBeforeBody:
    @pytest.mark.parametrize(
        "body",
        [b"{not json", b'{"text": 5}', b"", b"[]" * 10],
        ids=["malformed", "invalid", "empty", "wrong-shape"],
    )
    async def test_anonymous_write_with_a_bad_body_is_401(self, body):
        async with client(make_app()) as http:
            r = await http.post("/v1/notes", content=body, headers=_json)
        assert r.status_code == 401, r.text
        assert r.json()["type"].endswith("/unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"

    async def test_bad_token_with_a_bad_body_is_401(self, issuer):
        async with client(make_app(issuer=issuer)) as http:
            for header in ("Bearer not-a-token", "Basic YWxhZGRpbjpvcGVu"):
                r = await http.post(
                    "/v1/notes", content=b"{oops", headers={**_json, "authorization": header}
                )
                assert r.status_code == 401, r.text

    async def test_a_signed_in_caller_gets_the_validation(self, issuer):
        token, _ = issuer.issue(subject="u1", username="u1", roles={}, is_superadmin=False)
        headers = {**_json, "authorization": f"Bearer {token}"}
        async with client(make_app(issuer=issuer)) as http:
            r = await http.post("/v1/notes", content=b"{oops", headers=headers)
            assert r.status_code == 422
            r = await http.post("/v1/notes", json={"text": "ok"}, headers=headers)
            assert r.status_code == 200

    async def test_the_body_is_not_read_before_the_401(self):
        async with client(make_app()) as http:
            body = Chunks(1000)
            r = await http.post("/v1/notes", content=body, headers=_json)
        assert r.status_code == 401
        assert body.sent <= 1

    async def test_an_open_operation_still_validates(self):
        async with client(make_app()) as http:
            r = await http.post("/v1/notes/open", content=b"{oops", headers=_json)
        assert r.status_code == 422


class TestNosniff:
    async def test_every_answer_carries_it(self):
        async with client(make_app()) as http:
            answers = [
                await http.get("/healthz"),
                await http.get("/v1/openapi.json"),
                await http.get("/nowhere"),
                await http.post("/v1/notes/open", json={"text": "a"}),
                await http.post("/v1/notes/open", json={}),
                await http.post("/v1/notes", json={}),
                await http.get("/v1/notes/boom"),
            ]
        assert [r.status_code for r in answers] == [200, 200, 404, 200, 422, 401, 500]
        for r in answers:
            assert r.headers.get("x-content-type-options") == "nosniff", r.request.url
            assert r.headers.get_list("x-content-type-options") == ["nosniff"]


class TestMetricsAccess:
    async def test_without_a_token_only_loopback_is_answered(self):
        app = make_app()
        async with client(app) as http:
            assert (await http.get("/metrics")).status_code == 200
        async with client(app, peer="::1") as http:
            assert (await http.get("/metrics")).status_code == 200
        async with client(app, peer="203.0.113.9") as http:
            r = await http.get("/metrics")
        assert r.status_code == 403
        assert "PORTAL_METRICS_TOKEN" in r.json()["detail"]

    async def test_with_a_token_the_scraper_sends_it(self):
        app = make_app(metrics_token="s3cret-scrape")
        async with client(app, peer="203.0.113.9") as http:
            r = await http.get("/metrics", headers={"authorization": "Bearer s3cret-scrape"})
            assert r.status_code == 200
            assert "http_requests_total" in r.text
            for header in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
                r = await http.get("/metrics", headers=header)
                assert r.status_code == 401
                assert "http_requests_total" not in r.text
        async with client(app) as http:  # the token is required from loopback too
            assert (await http.get("/metrics")).status_code == 401

    async def test_the_token_is_read_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("PORTAL_METRICS_TOKEN", "from-env")
        assert MetricsAccess.from_env() == MetricsAccess(SecretStr("from-env"))


class TestOpenApi:
    async def test_the_guards_answers_are_documented(self):
        async with client(make_app()) as http:
            paths = (await http.get("/v1/openapi.json")).json()["paths"]
        assert {"401", "413", "422"} <= set(paths["/v1/notes"]["post"]["responses"])
        open_note = paths["/v1/notes/open"]["post"]["responses"]
        assert "413" in open_note
        assert "401" not in open_note
        problem = open_note["413"]["content"]["application/problem+json"]
        assert problem["schema"]["properties"]["status"] == {"type": "integer"}
