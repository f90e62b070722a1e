"""The gateway over HTTP (`HttpUpstream`): real uvicorn servers on 127.0.0.1, no mocks.

A small upstream app stands in for a service so every edge can be provoked on purpose:
echoing what it received, ETags and 304, HEAD, 5 MiB streamed in chunks, gzip, slowness and
going away. The gateway itself also runs under uvicorn, as `portal serve gateway` does.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import ASGIApp

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.common.limits import RequestLimits

CHUNK = 64 * 1024
LARGE_CHUNKS = 80  # 5 MiB
ETAG = '"rev-7"'
PROBLEM = {
    "type": "https://portal.gov.vn/problems/transition-not-allowed",
    "title": "Conflict",
    "status": 409,
    "detail": "Bài viết đã được xuất bản.",
}


def chunk(i: int) -> bytes:
    return bytes([i % 251]) * CHUNK


def large_digest() -> str:
    digest = hashlib.sha256()
    for i in range(LARGE_CHUNKS):
        digest.update(chunk(i))
    return digest.hexdigest()


def upstream_app(gate: threading.Event) -> FastAPI:
    """A stand-in service with one endpoint per behaviour the proxy must keep."""
    app = FastAPI()

    @app.api_route("/v1/echo/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(rest: str, request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
                "body": body.decode(errors="replace") if len(body) < 10_000 else None,
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            status_code=int(request.query_params.get("status", "200")),
            headers={"X-Upstream": "echo"},
        )

    @app.api_route("/v1/articles/7", methods=["GET", "HEAD"])
    async def article(request: Request) -> Response:
        headers = {"ETag": ETAG, "Cache-Control": "public, max-age=60"}
        if request.headers.get("if-none-match") == ETAG:
            return Response(status_code=304, headers=headers)
        response = JSONResponse({"id": "7", "title": "Bảo hiểm xã hội"}, headers=headers)
        response.headers.append("X-Multi", "a")
        response.headers.append("X-Multi", "b")
        return response

    @app.post("/v1/articles")
    async def create(request: Request) -> JSONResponse:
        return JSONResponse(
            await request.json(), status_code=201, headers={"Location": "/v1/articles/8"}
        )

    @app.get("/v1/conflict")
    async def conflict() -> Response:
        return Response(
            json.dumps(PROBLEM, ensure_ascii=False).encode(),
            status_code=409,
            media_type="application/problem+json",
            headers={"Content-Language": "vi"},
        )

    @app.get("/v1/large")
    async def large() -> StreamingResponse:
        async def chunks():
            for i in range(LARGE_CHUNKS):
                yield chunk(i)
                if i % 16 == 0:
                    await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get("/v1/gated")
    async def gated() -> StreamingResponse:
        """Sends a first line, then waits until the client has seen it."""

        async def lines():
            yield b"first\n"
            opened = await asyncio.to_thread(gate.wait, 5.0)
            yield b"opened\n" if opened else b"gate-timeout\n"

        return StreamingResponse(lines(), media_type="text/plain")

    @app.get("/v1/gzip")
    async def gzipped() -> Response:
        body = json.dumps({"items": ["bảo hiểm"] * 500}, ensure_ascii=False).encode()
        return Response(
            gzip.compress(body),
            media_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )

    @app.get("/v1/slow")
    async def slow(request: Request, seconds: float = 3.0) -> dict[str, bool]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return {"finished": False}
            await asyncio.sleep(0.05)
        return {"finished": True}

    return app


class ServerThread:
    """One uvicorn server in a thread, on a socket bound before it starts (no port races)."""

    def __init__(self, app: ASGIApp) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            loop="asyncio",
            ws="none",
            lifespan="on",
            proxy_headers=False,  # as `portal serve` runs
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive(), "the server thread died while starting"
            assert time.monotonic() < deadline, "the server did not start within 10 s"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(10)
            assert not self.thread.is_alive(), "the server did not stop within 10 s"
        self.socket.close()


@pytest.fixture(scope="module")
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def upstream(gate) -> Iterator[ServerThread]:
    server = ServerThread(upstream_app(gate)).start()
    yield server
    server.stop()


@pytest.fixture
def serve() -> Iterator:
    """Start servers for one test; all are stopped at its end."""
    started: list[ServerThread] = []

    def start(app: ASGIApp) -> ServerThread:
        server = ServerThread(app).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


def gateway_to(tmp: Path, limits: RequestLimits | None = None, **settings) -> ASGIApp:
    # Bodies of up to 8 MiB anywhere: the stand-in upstream echoes large ones.
    return create_gateway(
        GatewaySettings(**settings), limits=limits or RequestLimits(max_json_bytes=8 * 1024 * 1024)
    )


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory) -> Iterator[ServerThread]:
    """The gateway under uvicorn, content routed to the upstream over HTTP."""
    app = gateway_to(tmp_path_factory.mktemp("gateway"), content_url=upstream.url)
    server = ServerThread(app).start()
    yield server
    server.stop()


@pytest.fixture
def http(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        yield client


def headers_of(echo: dict) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for key, value in echo["headers"]:
        seen.setdefault(key, []).append(value)
    return seen


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith(f"/{slug}")
    assert problem["status"] == status
    assert problem["request_id"] == r.headers["x-request-id"]
    return problem


class TestForwardRequest:
    def test_body_query_and_headers_reach_the_upstream(self, http, upstream):
        r = http.post(
            "/v1/echo/portals/phu-yen?limit=5&q=b%E1%BA%A3o+hi%E1%BB%83m",
            json={"title": "Bảo hiểm xã hội", "tags": ["bhxh"]},
            headers={
                "Authorization": "Bearer abc.def.ghi",
                "Accept-Language": "en",
                "X-Request-ID": "proxy-1",
                "X-Forwarded-For": "198.51.100.4",
            },
        )
        assert r.status_code == 200
        echo = r.json()
        seen = headers_of(echo)
        assert echo["method"] == "POST"
        assert echo["path"] == "/v1/echo/portals/phu-yen"
        assert echo["query"] == "limit=5&q=b%E1%BA%A3o+hi%E1%BB%83m"
        assert json.loads(echo["body"]) == {"title": "Bảo hiểm xã hội", "tags": ["bhxh"]}
        assert seen["authorization"] == ["Bearer abc.def.ghi"]
        assert seen["accept-language"] == ["en"]
        assert seen["content-type"] == ["application/json"]
        assert seen["content-length"] == [str(echo["length"])]
        assert "transfer-encoding" not in seen
        assert seen["x-request-id"] == ["proxy-1"]
        assert seen["x-forwarded-for"] == ["198.51.100.4, 127.0.0.1"]
        assert seen["x-forwarded-proto"] == ["http"]
        assert seen["x-forwarded-host"] == [f"127.0.0.1:{http.base_url.port}"]
        assert seen["host"] == [f"127.0.0.1:{upstream.port}"]

    def test_only_the_clients_headers_are_sent(self, gateway):
        """The gateway's HTTP client adds none of its own (Accept-Encoding, User-Agent…)."""
        with httpx.Client(base_url=gateway.url) as bare:
            for name in ("accept", "accept-encoding", "user-agent"):
                del bare.headers[name]
            seen = headers_of(bare.get("/v1/echo/x", headers={"X-Portal": "phu-yen"}).json())
        assert "accept-encoding" not in seen
        assert "user-agent" not in seen
        assert "accept" not in seen
        assert seen["x-portal"] == ["phu-yen"]

    @pytest.mark.parametrize(
        ("target", "raw_path", "query"),
        [
            ("/v1/echo/a%00b", "/v1/echo/a%00b", ""),
            ("/v1/echo/%FF%FE", "/v1/echo/%FF%FE", ""),
            ("/v1/echo/x?q=%FF&&=&a=b=c", "/v1/echo/x", "q=%FF&&=&a=b=c"),
            ("/v1/echo/a;b,c@d:e", "/v1/echo/a;b,c@d:e", ""),
            ("/v1/echo//double//slash", "/v1/echo//double//slash", ""),
        ],
    )
    def test_odd_targets_are_forwarded_verbatim(self, gateway, target, raw_path, query):
        with httpx.Client() as client:
            request = client.build_request("GET", gateway.url)
            request.url = request.url.copy_with(raw_path=target.encode())
            echo = client.send(request).json()
        assert (echo["raw_path"], echo["query"]) == (raw_path, query)

    def test_client_address_starts_x_forwarded_for(self, http):
        seen = headers_of(http.get("/v1/echo/x").json())
        assert seen["x-forwarded-for"] == ["127.0.0.1"]

    def test_front_proxy_headers_are_kept_once(self, http):
        """An ingress in front of the gateway has already said what the client used."""
        r = http.get(
            "/v1/echo/x",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "baohiemxahoi.gov.vn"},
        )
        seen = headers_of(r.json())
        assert seen["x-forwarded-proto"] == ["https"]
        assert seen["x-forwarded-host"] == ["baohiemxahoi.gov.vn"]
        assert seen["x-forwarded-for"] == ["127.0.0.1"]

    def test_escaped_path_reaches_the_same_resource(self, http):
        # `%2F` inside a segment (a document number such as 3216/BHXH-TT) and `%3F` must not
        # become a separator or a query string on the way.
        r = http.get("/v1/echo/documents/3216%2FBHXH-TT/a%3Fb/b%C3%A0i%20vi%E1%BA%BFt?r=a%26b")
        echo = r.json()
        assert echo["raw_path"] == "/v1/echo/documents/3216%2FBHXH-TT/a%3Fb/b%C3%A0i%20vi%E1%BA%BFt"
        assert echo["query"] == "r=a%26b"

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    def test_other_methods(self, http, method):
        r = http.request(method, "/v1/echo/items/1", content=b"payload")
        assert r.json()["method"] == method
        assert r.json()["body"] == "payload"

    def test_get_without_body_sends_none(self, http):
        seen = headers_of(http.get("/v1/echo/items").json())
        assert "content-length" not in seen
        assert "transfer-encoding" not in seen

    def test_large_upload_streams_through(self, http):
        body = b"".join(chunk(i) for i in range(48))  # 3 MiB
        r = http.post("/v1/echo/upload", content=body)
        echo = r.json()
        assert echo["length"] == len(body)
        assert echo["sha256"] == hashlib.sha256(body).hexdigest()
        assert headers_of(echo)["content-length"] == [str(len(body))]

    def test_chunked_upload_streams_through(self, http):
        parts = [b"a" * 1000, "bảo hiểm".encode(), b"z" * 70_000]
        r = http.post("/v1/echo/upload", content=iter(parts))
        echo = r.json()
        assert echo["length"] == sum(len(p) for p in parts)
        assert echo["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()


class TestBodyLimit:
    """The gateway refuses a body over its class before streaming it on: an upstream over
    HTTP could only answer once httpx had sent it all."""

    @pytest.fixture
    def small(self, serve, upstream, tmp_path) -> Iterator[httpx.Client]:
        limits = RequestLimits(max_json_bytes=64 * 1024)
        app = gateway_to(tmp_path, limits, content_url=upstream.url)
        with httpx.Client(base_url=serve(app).url, timeout=20) as client:
            yield client

    def test_a_chunked_body_is_cut_off_at_the_gateway(self, small):
        ten_megabytes = (chunk(i) for i in range(160))
        r = small.post("/v1/echo/upload", content=ten_megabytes)
        # The gateway's own answer: not the upstream's echo, nor a 502 for the cut request.
        problem = assert_problem(r, 413, "payload-too-large")
        assert "65536" in problem["detail"]

    def test_a_declared_length_is_refused_before_the_upstream(self, small):
        r = small.post("/v1/echo/upload", content=b"x" * (1024 * 1024))
        assert_problem(r, 413, "payload-too-large")

    def test_within_the_limit_it_streams_through(self, small):
        r = small.post("/v1/echo/upload", content=iter([b"a" * 30_000, b"b" * 30_000]))
        assert r.json()["length"] == 60_000


class TestForwardResponse:
    def test_status_and_headers_pass_through(self, http):
        r = http.get("/v1/articles/7")
        assert r.status_code == 200
        assert r.json() == {"id": "7", "title": "Bảo hiểm xã hội"}
        assert r.headers["etag"] == ETAG
        assert r.headers["cache-control"] == "public, max-age=60"
        assert r.headers.get_list("x-multi") == ["a", "b"]
        assert r.headers["content-length"] == str(len(r.content))
        # The gateway's own server writes Date and Server: exactly one of each.
        assert len(r.headers.get_list("date")) == 1
        assert r.headers.get_list("server") == ["uvicorn"]

    def test_created_with_location(self, http):
        r = http.post("/v1/articles", json={"title": "Mới"})
        assert r.status_code == 201
        assert r.headers["location"] == "/v1/articles/8"
        assert r.json() == {"title": "Mới"}

    def test_304_on_revalidation(self, http):
        r = http.get("/v1/articles/7", headers={"If-None-Match": ETAG})
        assert r.status_code == 304
        assert r.content == b""
        assert r.headers["etag"] == ETAG
        assert r.headers["cache-control"] == "public, max-age=60"

    def test_head(self, http):
        full = http.get("/v1/articles/7")
        r = http.head("/v1/articles/7")
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["etag"] == ETAG
        assert r.headers["content-length"] == str(len(full.content))

    def test_upstream_problem_passes_through_untouched(self, http):
        r = http.get("/v1/conflict", headers={"X-Request-ID": "proxy-409"})
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["content-language"] == "vi"
        assert r.json() == PROBLEM
        assert r.headers["x-request-id"] == "proxy-409"

    @pytest.mark.parametrize("status", [400, 404, 422, 500, 503])
    def test_upstream_status_is_kept(self, http, status):
        r = http.get(f"/v1/echo/status?status={status}")
        assert r.status_code == status
        assert r.headers["x-upstream"] == "echo"

    def test_large_streamed_response_arrives_intact(self, http):
        with http.stream("GET", "/v1/large") as r:
            assert r.status_code == 200
            assert r.headers["transfer-encoding"] == "chunked"
            digest = hashlib.sha256()
            size = 0
            for part in r.iter_bytes():
                digest.update(part)
                size += len(part)
        assert size == LARGE_CHUNKS * CHUNK
        assert digest.hexdigest() == large_digest()

    def test_response_is_streamed_not_buffered(self, http, gate):
        gate.clear()
        with http.stream("GET", "/v1/gated") as r:
            lines = r.iter_lines()
            assert next(lines) == "first"
            gate.set()  # the upstream sends the rest only now
            assert list(lines) == ["opened"]

    def test_gzip_body_is_relayed_as_sent(self, http):
        r = http.get("/v1/gzip")
        assert r.headers["content-encoding"] == "gzip"
        assert int(r.headers["content-length"]) < len(r.content)
        assert r.json() == {"items": ["bảo hiểm"] * 500}


class TestUpstreamFailures:
    def test_stopped_upstream_is_502(self, serve, tmp_path, gate):
        search = serve(upstream_app(gate))
        gateway = serve(gateway_to(tmp_path, search_url=search.url))
        with httpx.Client(base_url=gateway.url, timeout=20) as http:
            assert http.get("/v1/search/echo").status_code == 404  # reachable: its own 404
            search.stop()
            r = http.get("/v1/search/articles?q=bhxh", headers={"Accept-Language": "en"})
            problem = assert_problem(r, 502, "bad-gateway")
            assert "search" in problem["detail"]
            ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"search": "unreachable: ConnectError"}

    def test_nothing_listening_is_502(self, serve, tmp_path):
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        gateway = serve(gateway_to(tmp_path, media_url=f"http://127.0.0.1:{port}"))
        with httpx.Client(base_url=gateway.url, timeout=20) as http:
            r = http.post("/v1/media/uploads", content=b"x" * 100)
        assert_problem(r, 502, "bad-gateway")

    def test_slow_upstream_is_504(self, serve, upstream, tmp_path):
        gateway = serve(gateway_to(tmp_path, content_url=upstream.url, read_timeout=0.3))
        with httpx.Client(base_url=gateway.url, timeout=20) as http:
            started = time.monotonic()
            r = http.get("/v1/slow?seconds=5", headers={"Accept-Language": "en"})
            elapsed = time.monotonic() - started
            problem = assert_problem(r, 504, "gateway-timeout")
            assert "content" in problem["detail"]
            assert elapsed < 4, "the gateway waited for the upstream instead of timing out"
            # A fast answer from the same upstream still gets through.
            assert http.get("/v1/slow?seconds=0").json() == {"finished": True}


class TestLifespan:
    async def test_the_gateway_can_start_again_after_a_shutdown(self, tmp_path):
        from gateway.app import create_app as create_gateway
        from gateway.settings import GatewaySettings

        gateway = create_gateway(GatewaySettings(content_url="http://127.0.0.1:9"))
        for _ in range(2):
            async with gateway.router.lifespan_context(gateway.own):
                transport = httpx.ASGITransport(app=gateway)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                    r = await client.get("/v1/portals")
                # nothing listens on port 9: a 502 problem, not a 500 from a closed client
                assert r.status_code == 502
