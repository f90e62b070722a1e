"""A short-lived in-process cache of anonymous public GET responses (micro-caching).

Portal home pages ask for the same lists thousands of times a minute. Responses that the
service itself marks `Cache-Control: public` are kept for a few seconds per exact URL and
served without touching the database, with `If-None-Match` → 304 answered from the entry.
Requests carrying credentials are never cached. A successful write through this process
drops the entries of its portal at once; other processes converge within the TTL, which
is shorter than the `max-age` browsers and CDNs are already allowed.

When an entry expires, one request refreshes it while concurrent ones are still served
the previous copy (for at most another TTL), and requests for a URL that is being filled
for the first time wait for that fill instead of all hitting the database at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SAFE = {"GET", "HEAD"}


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes | None
    expires: float


class ResponseCache:
    """Entries by URL with a TTL and a size bound (oldest evicted first)."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 5000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._filling: dict[str, asyncio.Event] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, key: str) -> CachedResponse | None:
        """A fresh entry, or None."""
        entry = self._entries.get(key)
        if entry is None or entry.expires < time.monotonic():
            return None
        return entry

    def stale(self, key: str) -> CachedResponse | None:
        """An expired entry still fit to serve while someone refreshes it."""
        entry = self._entries.get(key)
        if entry is None or entry.expires + self.ttl < time.monotonic():
            return None
        return entry

    def begin_fill(self, key: str) -> bool:
        """True if the caller should fill `key`; False if another request already is."""
        if key in self._filling:
            return False
        self._filling[key] = asyncio.Event()
        return True

    def end_fill(self, key: str) -> None:
        event = self._filling.pop(key, None)
        if event is not None:
            event.set()

    async def wait_fill(self, key: str, timeout: float) -> None:
        event = self._filling.get(key)
        if event is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)

    def put(self, key: str, entry: CachedResponse) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, prefix: str = "") -> None:
        """Drop every entry whose URL starts with `prefix` (everything by default)."""
        if not prefix:
            self._entries.clear()
            return
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class ResponseCacheMiddleware:
    """Serve and fill `cache` for anonymous GETs under `prefix`; invalidate on writes."""

    def __init__(
        self, app: ASGIApp, *, cache: ResponseCache, prefix: str, scope_depth: int
    ) -> None:
        self.app = app
        self.cache = cache
        self.prefix = prefix
        # Writes under /v1/portals/{portal}/… drop the cached reads of that portal.
        self.scope_depth = scope_depth

    def _invalidation_prefix(self, path: str) -> str:
        parts = path.split("/")
        return "/".join(parts[: self.scope_depth + 1])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.cache.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in _SAFE:
            await self._write(scope, receive, send, path)
            return
        if _header(scope, b"authorization") or _header(scope, b"x-api-key"):
            await self.app(scope, receive, send)
            return
        key = path + "?" + scope.get("query_string", b"").decode("latin-1")
        entry = self.cache.get(key)
        if entry is not None:
            await self._replay(scope, send, entry)
            return
        if not self.cache.begin_fill(key):
            stale = self.cache.stale(key)
            if stale is None:
                await self.cache.wait_fill(key, timeout=max(self.cache.ttl, 1.0))
                stale = self.cache.get(key)
            if stale is not None:
                await self._replay(scope, send, stale)
                return
            await self.app(scope, receive, send)
            return
        try:
            await self._fill(scope, receive, send, key)
        finally:
            self.cache.end_fill(key)

    async def _write(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status < 400:
                    self.cache.invalidate(self._invalidation_prefix(path))
                    self.cache.invalidate(self.prefix + "?")  # the collection itself
            await send(message)

        await self.app(scope, receive, watch)

    async def _replay(self, scope: Scope, send: Send, entry: CachedResponse) -> None:
        # Copies: middleware outside this one (CORS) may change the headers in place.
        if entry.etag is not None and _etag_matches(_header(scope, b"if-none-match"), entry.etag):
            headers = [
                (k, v) for k, v in entry.headers if k not in {b"content-length", b"content-type"}
            ]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = list(entry.headers)
        await send({"type": "http.response.start", "status": entry.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else entry.body
        await send({"type": "http.response.body", "body": body})

    async def _fill(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        cacheable = False

        async def capture(message: Message) -> None:
            nonlocal headers, cacheable
            if message["type"] == "http.response.start":
                # Snapshot now: outer middleware (CORS) adds per-request headers in place.
                headers = [
                    (bytes(k), bytes(v))
                    for k, v in message.get("headers", [])
                    if k != b"x-request-id"
                ]
                control = dict(headers).get(b"cache-control", b"")
                cacheable = message["status"] == 200 and b"public" in control
            elif message["type"] == "http.response.body" and cacheable:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.cache.put(
                        key,
                        CachedResponse(
                            status=200,
                            headers=headers,
                            body=b"".join(chunks),
                            etag=dict(headers).get(b"etag"),
                            expires=time.monotonic() + self.cache.ttl,
                        ),
                    )
            await send(message)

        if scope["method"] == "HEAD":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, capture)


def _etag_matches(header: bytes | None, etag: bytes) -> bool:
    if not header:
        return False
    if header.strip() == b"*":
        return True
    return etag in [c.strip().removeprefix(b"W/") for c in header.split(b",")]
