"""The HTTP server `portal dev` and `portal serve` run: uvicorn, with limits on a request's head.

uvicorn (with httptools, its fast parser) bounds neither the size of a request's head nor
the number of its header fields, and has no timeout for receiving them: `timeout_keep_alive`
runs only between two requests, and each byte a client sends cancels it. A 64 MB header was
accepted and held in memory, and sockets that send their headers a byte at a time (slowloris)
were held open for as long as the client liked. uvicorn's other parser, h11, bounds the head's
size (`h11_max_incomplete_event_size`) but not the count or the time, and is several times
slower; hypercorn and granian would replace the server and its tested behaviour for three
checks. So this module keeps uvicorn and its httptools protocol and adds them, with the
settings of `services.common.limits.RequestLimits` (`PORTAL_*`):

- `PORTAL_MAX_HEADER_BYTES` (32 KiB): request line and headers together; more is a 431 and
  the connection is closed (counted as bytes arrive, so at most one read beyond is held);
- `PORTAL_MAX_HEADERS` (100): more header fields is a 431;
- `PORTAL_HEADER_TIMEOUT` (10 s): from the connection (or the first byte of a request) to the
  end of its headers; a client that takes longer is disconnected;
- `PORTAL_BODY_TIMEOUT` (30 s): the longest pause between two pieces of a request body while
  the server waits for it (not while the application is busy); after it, the connection is
  closed and the application sees the client gone. Also how long the rest of a body is
  discarded once the application has answered without reading it (a 401, a 413): uvicorn
  would go on discarding an endless chunked body for as long as it kept coming.

These are the reverse proxy's `large_client_header_buffers`, `client_header_timeout` and
`client_body_timeout` (see docs/running.md); the body's size is the application's business
(`services.common.limits.BodyGuard`).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from services.common.limits import RequestLimits

PROTOCOL = "gateway.server:GuardedHttpToolsProtocol"
"""What `portal dev` and `portal serve` pass to uvicorn as `http` (importable in workers)."""


@functools.cache
def server_limits() -> RequestLimits:
    """The process's limits, read from the environment at the first connection."""
    return RequestLimits()


class _HeadTooLarge(Exception):
    """Raised from a parser callback; uvicorn answers the parse error, here with a 431."""


_431_BODY = json.dumps(
    {
        "type": "https://portal.gov.vn/problems/header-fields-too-large",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": (
            "Phần đầu yêu cầu quá lớn hoặc có quá nhiều trường; hãy gửi ít hơn. / "
            "The request's headers are too large or too many; send fewer."
        ),
    },
    ensure_ascii=False,
).encode()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head (size, fields, time) and body pauses."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = server_limits()
        self.reading_head = True
        self.head_bytes = 0
        self.head_fields = 0
        self.head_refused = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.body_done = True  # the current request's body has all arrived
        self.linger_timer: asyncio.TimerHandle | None = None

    # Connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.reading_head:
            self.head_bytes += len(data)
        elif self.body_timer is not None:
            self._arm_body_timer()  # the client is still sending
        super().data_received(data)
        if (
            self.reading_head
            and self.head_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._send_431()

    def send_400_response(self, msg: str) -> None:
        if self.head_refused:
            self._send_431()
            return
        super().send_400_response(msg)

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_head = True
        self.body_done = False
        if self.head_timer is None:
            self._arm_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_fields += 1
        if self.head_fields > self.limits.max_headers:
            self.head_refused = True
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_bytes = 0
        self.head_fields = 0
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().on_headers_complete()
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        self.body_done = True
        for timer in (self.body_timer, self.linger_timer):
            if timer is not None:
                timer.cancel()
        self.body_timer = self.linger_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.body_done and not self.transport.is_closing():
            # Answered before the body was read (a 401, a 413): what still comes is
            # discarded, for a while so the client can read the answer, then we hang up.
            self.linger_timer = self.loop.call_later(self.limits.body_timeout, self._stop_lingering)

    # Timers
    def _arm_head_timer(self) -> None:
        self.head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _arm_body_timer(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
        self.body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _cancel_timers(self) -> None:
        for timer in (self.head_timer, self.body_timer, self.linger_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = self.linger_timer = None

    def _stop_lingering(self) -> None:
        self.linger_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.reading_head and not self.transport.is_closing():
            self.transport.close()

    def _body_timed_out(self) -> None:
        self.body_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The application has not taken what arrived: the wait is not the client's.
            self._arm_body_timer()
            return
        self.transport.close()

    def _send_431(self) -> None:
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(_431_BODY)).encode() + b"\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"connection: close\r\n\r\n" + _431_BODY
        )
        self.transport.close()
