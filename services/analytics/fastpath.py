"""The beacon's fast path: plainly valid beacons answered without the framework.

`POST /v1/analytics/events` is the one endpoint called for every page view of every
portal. This ASGI middleware sits inside the service's request-id/metrics middleware
(so every request is still counted, logged and given an X-Request-ID) and in front of
FastAPI's exception handling, routing and the endpoint. For a beacon it:

1. reads the body (at most `max_body_bytes`);
2. takes it only when it is plainly fine: a JSON media type, no query string, a body
   `quick_beacon` accepts, a portal the directory knows, and room in the queue;
3. captures and queues it exactly as the endpoint does (`api.capture`) and answers 202
   with an empty body.

Anything else (any error, any doubt, any exception) is handed, with the body it read
replayed, to the normal app: the endpoint then refuses it with the problem, the status
and the metric it always did. Nothing is queued or counted before that hand-over, so no
beacon is handled twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.analytics.api import JSON_TYPES, capture
from services.analytics.beacon import quick_beacon
from services.analytics.runtime import Runtime

EVENTS_PATH = "/v1/analytics/events"


@dataclass(frozen=True)
class _RouteLabel:
    """What the metrics middleware reads of `scope["route"]`: the route's template."""

    path: str = EVENTS_PATH


_ROUTE = _RouteLabel()


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


class BeaconFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != EVENTS_PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        rt: Runtime | None = getattr(scope["app"].state, "analytics", None)
        if rt is None:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        complete = False
        limit = rt.settings.max_body_bytes
        request = Request(scope)
        declared = request.headers.get("content-length")
        if declared is None or (declared.isdigit() and int(declared) <= limit):
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                if len(body) > limit:
                    break
                if not message.get("more_body", False):
                    complete = True
                    break
        if complete and await self._take(request, rt, body):
            scope["route"] = _ROUTE
            # Fresh messages: the middleware outside adds X-Request-ID to them.
            await send(
                {
                    "type": "http.response.start",
                    "status": 202,
                    "headers": [(b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, _replay(messages, receive), send)

    @staticmethod
    async def _take(request: Request, rt: Runtime, body: bytes) -> bool:
        """Queue the beacon when it is plainly fine; False leaves it to the endpoint."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in JSON_TYPES:
            return False
        beacon = quick_beacon(body)
        if beacon is None:
            return False
        try:
            if await rt.directory.get(beacon.portal) is None:
                return False
            item = capture(request.scope, rt, beacon)
        except Exception:  # the endpoint meets the same failure and answers for it
            return False
        return rt.ingestor.offer(item)
