"""Request ids, JSON logs, Prometheus metrics and health endpoints.

Everything here is pure ASGI or a plain router so it costs little on the hot path:
`RequestContextMiddleware` keeps an incoming `X-Request-ID` (or makes one), echoes it on
the response with `X-Content-Type-Options: nosniff`, times the request into a histogram and
writes one JSON access log line.

`/metrics` is not public (`MetricsAccess`): with `PORTAL_METRICS_TOKEN` set, a scraper sends
it as a bearer token; without one, only loopback peers may read it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import Forbidden, Unauthorized
from services.common.i18n import Msg
from services.common.problems import ProblemResponse, problem_body

REQUEST_ID_HEADER = b"x-request-id"
NOSNIFF = (b"x-content-type-options", b"nosniff")
_OWN_HEADERS = {REQUEST_ID_HEADER, NOSNIFF[0]}
access_log = logging.getLogger("portal.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms", "service"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route all logs to stderr, as JSON lines unless `fmt` is "text"."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    """The Prometheus registry of one app (each app owns its own, tests stay independent)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["service", "method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.service = service

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestContextMiddleware:
    """X-Request-ID in and out, access log line, request metrics."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _OWN_HEADERS
                ]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                # Browsers must take every answer for the type it declares (a JSON body or
                # an uploaded file is never sniffed into HTML or script).
                headers.append(NOSNIFF)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(self.metrics.service, method, route, str(status)).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "service": self.metrics.service,
                    },
                )


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == REQUEST_ID_HEADER:
            candidate: str = value.decode("latin-1").strip()
            if 0 < len(candidate) <= 128 and candidate.isprintable():
                return candidate
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class MetricsSettings(BaseSettings):
    """`PORTAL_METRICS_TOKEN`, the same for every service and the gateway."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    metrics_token: SecretStr | None = None


_METRICS_TOKEN = Msg(
    "Trang /metrics cần mã truy cập: gửi 'Authorization: Bearer <PORTAL_METRICS_TOKEN>'.",
    "/metrics needs its token: send 'Authorization: Bearer <PORTAL_METRICS_TOKEN>'.",
)
_METRICS_LOOPBACK = Msg(
    "Trang /metrics chỉ mở cho máy nội bộ; đặt PORTAL_METRICS_TOKEN để Prometheus đọc từ xa.",
    "/metrics answers only on loopback; set PORTAL_METRICS_TOKEN for a remote Prometheus.",
)


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read `/metrics`: a scraper sending the token, or, without a token, loopback."""

    token: SecretStr | None = None

    @classmethod
    def from_env(cls) -> MetricsAccess:
        return cls(MetricsSettings().metrics_token)

    def check(self, request: Request) -> None:
        """401 without the configured token, 403 from a remote peer when none is set."""
        if self.token is not None:
            scheme, _, sent = request.headers.get("authorization", "").partition(" ")
            expected = self.token.get_secret_value().encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                sent.strip().encode(), expected
            ):
                raise Unauthorized(_METRICS_TOKEN)
            return
        if not _is_loopback(request.client.host if request.client else None):
            raise Forbidden(_METRICS_LOOPBACK)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(
    metrics: Metrics, checks: dict[str, ReadinessCheck], *, access: MetricsAccess
) -> APIRouter:
    """`/healthz` (the process answers), `/readyz` (its dependencies answer), `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", operation_id="healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", operation_id="readyz", include_in_schema=False, response_model=None)
    async def readyz() -> dict[str, Any] | ProblemResponse:
        """Every dependency of this service answers."""
        results: dict[str, str] = {}
        failed = False
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # a readiness probe reports, it does not raise
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
                failed = True
        if failed:
            body = problem_body(
                status=503,
                slug="not-ready",
                title="Not ready",
                detail="A dependency does not answer: " + json.dumps(results, ensure_ascii=False),
            )
            body["checks"] = results
            return ProblemResponse(body, status_code=503)
        return {"status": "ok", "checks": results}

    @router.get("/metrics", operation_id="metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics of this process (token or loopback, see `MetricsAccess`)."""
        access.check(request)
        return metrics.render()

    return router
