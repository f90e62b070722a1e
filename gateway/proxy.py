"""Forwarding a request to a service: in-process (embedded) or over HTTP (distributed).

Over HTTP the request and the response both stream through httpx, with explicit connect
and read timeouts; an upstream that cannot be reached is a 502 problem, one that does not
answer in time a 504. Upstream problems (4xx/5xx bodies) pass through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.errors import BadGateway, GatewayTimeout
from services.common.i18n import Msg

log = logging.getLogger("portal.gateway")

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class Upstream:
    """One service behind the gateway."""

    name: str

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class InProcessUpstream(Upstream):
    """A service app mounted in this process: the ASGI call is direct, nothing is copied."""

    def __init__(self, name: str, app: ASGIApp) -> None:
        self.name = name
        self.app = app

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class HttpUpstream(Upstream):
    """A service in another process or pod, reached over HTTP."""

    def __init__(self, name: str, base_url: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self.base_url = base_url
        self.client = client

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in HOP_BY_HOP]
        client_host = request.client.host if request.client else ""
        forwarded_for = request.headers.get("x-forwarded-for")
        headers.append(
            (
                b"x-forwarded-for",
                (f"{forwarded_for}, {client_host}" if forwarded_for else client_host).encode(),
            )
        )
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        host = request.headers.get("host")
        if host:
            headers.append((b"x-forwarded-host", host.encode()))
        url = httpx.URL(self.base_url + scope["path"], query=scope.get("query_string", b""))
        has_body = request.method not in {"GET", "HEAD", "OPTIONS", "DELETE"} or any(
            k == b"content-length" or k == b"transfer-encoding" for k, _ in request.headers.raw
        )
        upstream_request = self.client.build_request(
            request.method,
            url,
            headers=headers,
            content=_body(request) if has_body else None,
        )
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.TimeoutException as exc:
            log.warning("upstream %s timed out: %s", self.name, exc)
            raise GatewayTimeout(
                Msg(
                    "Dịch vụ '{s}' không trả lời kịp; hãy thử lại sau.",
                    "The '{s}' service did not answer in time; try again later.",
                ).format(s=self.name)
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("upstream %s unreachable: %s", self.name, exc)
            raise BadGateway(
                Msg(
                    "Không kết nối được dịch vụ '{s}'; hãy thử lại sau.",
                    "The '{s}' service cannot be reached; try again later.",
                ).format(s=self.name)
            ) from exc
        response_headers = [
            (k, v) for k, v in upstream.headers.raw if k.decode().lower() not in HOP_BY_HOP
        ]
        if "content-length" in upstream.headers and "content-encoding" not in upstream.headers:
            response_headers.append(
                (b"content-length", upstream.headers["content-length"].encode())
            )
        response: Response = StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
        response.raw_headers = response_headers
        await response(scope, receive, send)


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
