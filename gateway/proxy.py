"""Forwarding a request to a service: in-process (embedded) or over HTTP (distributed).

Over HTTP the request and the response both stream through httpx, with explicit connect
and read timeouts; an upstream that cannot be reached is a 502 problem, one that does not
answer in time a 504. Upstream problems (4xx/5xx bodies) pass through untouched.

The upstream sees the path exactly as the client sent it (`raw_path`): decoding it first
would turn `%2F` into a path separator and `%3F` into the start of a query string, so the
request would reach a different resource.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import quote_from_bytes

import httpx
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
FORWARDED = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
# Written by the gateway's own server on every response: passing the upstream's on would
# send each twice, and a response may carry only one Date (RFC 9110, 5.3).
SERVER_WRITTEN = {"date", "server"}
# Characters left as they are when re-encoding a path or query: everything a valid URL may
# hold, `%` included so existing escapes survive; only stray bytes get escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


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
        self._base = httpx.URL(base_url)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        headers = [
            (k, v)
            for k, v in request.headers.raw
            if k.decode().lower() not in HOP_BY_HOP | FORWARDED
        ]
        # One header each: the client joins the chain of addresses; the scheme and host are
        # the ones a proxy in front of the gateway already named, else what the gateway saw.
        chain = [*request.headers.getlist("x-forwarded-for")]
        chain.append(request.client.host if request.client else "unknown")
        headers.append((b"x-forwarded-for", ", ".join(chain).encode("latin-1")))
        proto = request.headers.get("x-forwarded-proto") or scope.get("scheme", "http")
        headers.append((b"x-forwarded-proto", proto.encode("latin-1")))
        host = request.headers.get("x-forwarded-host") or request.headers.get("host")
        if host:
            headers.append((b"x-forwarded-host", host.encode("latin-1")))
        # Keep the client's framing: a known length stays a Content-Length (services may
        # refuse an upload by its size before reading it), anything else streams chunked.
        content_length = request.headers.get("content-length")
        if content_length is not None:
            headers.append((b"content-length", content_length.encode()))
        has_body = (
            content_length is not None
            or "transfer-encoding" in request.headers
            or request.method in _BODY_METHODS
        )
        # Built as is, not with `client.build_request`, which would add the client's default
        # headers: an `Accept-Encoding: gzip` the caller never sent invites a body it cannot read.
        upstream_request = httpx.Request(
            request.method,
            self._url(scope),
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
        try:
            response_headers = [
                (k, v)
                for k, v in upstream.headers.raw
                if k.decode().lower() not in HOP_BY_HOP | SERVER_WRITTEN
            ]
            # The body is relayed as raw (still encoded) bytes, so the upstream's length holds.
            if "content-length" in upstream.headers:
                response_headers.append(
                    (b"content-length", upstream.headers["content-length"].encode())
                )
            response: Response = StreamingResponse(
                upstream.aiter_raw(), status_code=upstream.status_code
            )
            response.raw_headers = response_headers
            await response(scope, receive, send)
        finally:
            # Also when the client goes away mid-stream: the connection returns to the pool.
            await upstream.aclose()

    def _url(self, scope: Scope) -> httpx.URL:
        """The upstream URL of this request, its path and query as the client sent them."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw_path.split(b"?", 1)[0]  # some servers include the query in raw_path
        target = self._base.raw_path.rstrip(b"/") + _escape(raw_path, _PATH_SAFE)
        query: bytes = scope.get("query_string", b"")
        if query:
            target += b"?" + _escape(query, _QUERY_SAFE)
        return self._base.copy_with(raw_path=target)


def _escape(raw: bytes, safe: str) -> bytes:
    """`raw` with only the bytes a URL may not hold percent-encoded."""
    return quote_from_bytes(raw, safe=safe).encode("ascii")


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
