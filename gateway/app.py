"""The gateway: the only public entry.

It owns request ids, CORS, the merged OpenAPI and docs, and its own health and metrics;
every other path goes to the service that owns it (see `routing.py`), mounted in-process
in embedded mode or proxied over HTTP in distributed mode. The routes are the same in both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.openapi import merge
from gateway.proxy import HttpUpstream, InProcessUpstream, Upstream
from gateway.routing import service_for
from gateway.settings import SERVICES, GatewaySettings
from services.common.docs import ASSETS, install_docs
from services.common.errors import NotFound, ProblemError
from services.common.i18n import Msg, negotiate_language
from services.common.limits import ITEM_JSON_BYTES, BodyGuard, BodyRoute, RequestLimits
from services.common.observability import Metrics, MetricsAccess, RequestContextMiddleware
from services.common.problems import (
    ProblemResponse,
    install_problem_handlers,
    problem_body,
    render_problem,
)

GATEWAY_PATHS = {"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/docs"}


@dataclass(frozen=True)
class UpstreamRoute:
    """The route a forwarded request is counted under in the gateway's metrics."""

    path: str


class Dispatcher:
    """Sends each request to the gateway's own routes or to the owning service."""

    def __init__(self, own: FastAPI, upstreams: dict[str, Upstream]) -> None:
        self.own = own
        self.upstreams = upstreams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in GATEWAY_PATHS
            or scope["path"].startswith(ASSETS + "/")
        ):
            await self.own(scope, receive, send)
            return
        service = service_for(scope["path"])
        upstream = self.upstreams.get(service) if service else None
        if upstream is None:
            await self.own(scope, receive, send)
            return
        headers = list(scope["headers"])
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            headers = [(k, v) for k, v in headers if k != b"x-request-id"]
            headers.append((b"x-request-id", str(request_id).encode()))
        inner = {**scope, "headers": headers}
        try:
            await upstream.forward(inner, receive, send)
        except ProblemError as exc:
            response = render_problem(Request(inner, receive), exc)
            await response(inner, receive, send)
        finally:
            # A service mounted in-process names the route it matched; one over HTTP cannot,
            # so its requests are counted by service rather than all as "unmatched".
            scope["route"] = inner.get("route") or UpstreamRoute(f"upstream:{service}")


def create_app(
    settings: GatewaySettings | None = None,
    *,
    services: dict[str, FastAPI] | None = None,
    limits: RequestLimits | None = None,
    metrics_access: MetricsAccess | None = None,
) -> ASGIApp:
    """The gateway; `services` are apps mounted in-process (embedded mode).

    `limits` and `metrics_access` are read from the environment (`PORTAL_*`) when not given.
    """
    settings = settings or GatewaySettings()
    limits = limits or RequestLimits()
    metrics_access = metrics_access or MetricsAccess.from_env()
    mounted = dict(services or {})

    def new_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
        )

    http = new_client()
    upstreams: dict[str, Upstream] = {}
    for name in SERVICES:
        url = settings.upstream_url(name)
        if url:
            upstreams[name] = HttpUpstream(name, url, http)
        elif name in mounted:
            upstreams[name] = InProcessUpstream(name, mounted[name])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal http
        if http.is_closed:  # started again after a shutdown (tests, embedding servers)
            http = new_client()
            for upstream in upstreams.values():
                if isinstance(upstream, HttpUpstream):
                    upstream.client = http
        async with AsyncExitStack() as stack:
            for app in mounted.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            stack.push_async_callback(http.aclose)
            yield

    own = FastAPI(
        title="Portal Platform gateway",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    metrics = Metrics("gateway")
    install_problem_handlers(own)
    own.state.settings = settings
    own.state.upstreams = upstreams

    @own.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The gateway process is alive."""
        return {"status": "ok"}

    @own.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False, response_model=None)
    async def readyz() -> dict[str, Any] | ProblemResponse:
        """Every service answers its own /readyz."""
        results = await asyncio.gather(*(_ready(u, http) for u in upstreams.values()))
        checks = dict(zip(upstreams, results, strict=True))
        if any(v != "ok" for v in checks.values()):
            return ProblemResponse(
                {
                    "type": "https://portal.gov.vn/problems/not-ready",
                    "title": "Not ready",
                    "status": 503,
                    "detail": "A service is not ready.",
                    "checks": checks,
                },
                status_code=503,
            )
        return {"status": "ok", "checks": checks}

    @own.api_route("/metrics", methods=["GET", "HEAD"], include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics of the gateway and of the services mounted in this process."""
        metrics_access.check(request)
        registries = [metrics.registry, *(app.state.metrics.registry for app in mounted.values())]
        return Response(_exposition(registries), media_type=CONTENT_TYPE_LATEST)

    openapi_cache: dict[str, Any] = {}

    @own.api_route("/v1/openapi.json", methods=["GET", "HEAD"], include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        """The whole platform's OpenAPI document."""
        if "doc" not in openapi_cache:
            documents = {}
            for name, upstream in upstreams.items():
                documents[name] = await _openapi_of(upstream, http)
            doc = merge(documents)
            if not all(documents.values()):
                return doc  # an upstream is down: serve what we have, cache nothing
            openapi_cache["doc"] = doc
        cached: dict[str, Any] = openapi_cache["doc"]
        return cached

    install_docs(own, openapi_url="/v1/openapi.json", title="Portal Platform API")

    @own.api_route(
        "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        include_in_schema=False,
    )
    async def unrouted(path: str) -> Response:
        raise NotFound(
            Msg(
                "Không có API ở địa chỉ /{p}; xem /docs.",
                "There is no API at /{p}; see /docs.",
            ).format(p=path)
        )

    app: ASGIApp = Dispatcher(own, upstreams)
    # The services' body classes, at the public entry: a service over HTTP answers a body
    # it refuses only once the gateway has streamed all of it (httpx sends the whole
    # request before it reads the answer), so the gateway stops it here. A service
    # mounted in-process also applies its own (the same limits).
    app = BodyGuard(
        app,
        default=limits.max_json_bytes,
        routes=[
            BodyRoute("*", "/v1/portals/", ITEM_JSON_BYTES),
            BodyRoute("POST", "/v1/media", settings.max_upload_bytes),
        ],
    )
    app = ProblemCORSMiddleware(
        app,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-API-Key",
            "X-Request-ID",
            "If-None-Match",
            "Accept-Language",
        ],
        expose_headers=["ETag", "X-Request-ID", "Location"],
        allow_credentials=False,
        max_age=600,
    )
    app = RequestContextMiddleware(app, metrics=metrics)
    # Keep the FastAPI app reachable for lifespan handling by servers and tests.
    return _GatewayApp(app, own)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem like any other 4xx."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        lang = negotiate_language(request_headers.get("accept-language"))
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        detail = Msg(
            "Yêu cầu CORS bị từ chối: {what} không được phép.",
            "The CORS preflight was refused: {what} not allowed.",
        ).format(what=refused)
        headers = {
            k: v for k, v in response.headers.items() if k not in {"content-type", "content-length"}
        }
        return ProblemResponse(
            problem_body(
                status=400,
                slug="cors-refused",
                title=Msg("Yêu cầu CORS bị từ chối", "CORS preflight refused").pick(lang),
                detail=detail.pick(lang),
            ),
            status_code=400,
            headers=headers,
        )


class _GatewayApp:
    """The middleware stack, with lifespan events routed to the gateway's own app."""

    def __init__(self, stack: ASGIApp, own: FastAPI) -> None:
        self.stack = stack
        self.own = own
        self.state = own.state
        self.router = own.router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.own(scope, receive, send)
            return
        await self.stack(scope, receive, send)


class _Families:
    """Several registries exposed as one: a metric named in more than one is one family."""

    def __init__(self, registries: list[CollectorRegistry]) -> None:
        self.registries = registries

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for registry in self.registries:
            for family in registry.collect():  # fresh objects on every collect
                if family.name in families:
                    families[family.name].samples.extend(family.samples)
                else:
                    families[family.name] = family
        return families.values()


def _exposition(registries: list[CollectorRegistry]) -> bytes:
    """Prometheus text of `registries`: each family once (a scraper rejects a repeated one)."""
    combined = CollectorRegistry(auto_describe=False)
    combined.register(_Families(registries))
    return generate_latest(combined)


async def _ready(upstream: Upstream, http: httpx.AsyncClient) -> str:
    if isinstance(upstream, HttpUpstream):
        try:
            response = await http.get(upstream.base_url + "/readyz", timeout=3.0)
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__}"
        return "ok" if response.status_code == 200 else f"status {response.status_code}"
    assert isinstance(upstream, InProcessUpstream)
    transport = httpx.ASGITransport(app=upstream.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inprocess") as client:
        response = await client.get("/readyz")
    return "ok" if response.status_code == 200 else f"status {response.status_code}"


async def _openapi_of(upstream: Upstream, http: httpx.AsyncClient) -> dict[str, Any]:
    if isinstance(upstream, InProcessUpstream):
        app = upstream.app
        assert isinstance(app, FastAPI)
        return app.openapi()
    assert isinstance(upstream, HttpUpstream)
    with contextlib.suppress(httpx.HTTPError, ValueError):
        response = await http.get(upstream.base_url + "/v1/openapi.json", timeout=5.0)
        if response.status_code == 200:
            document: dict[str, Any] = response.json()
            return document
    return {}
