"""What a request may cost, checked before its body is read.

`BodyGuard` is an ASGI middleware every service installs (through `service_app`), and the
gateway around its own routes. Before the application reads a byte of the body it checks:

1. **The size, by route class.** Each service declares its classes as a short table of
   `BodyRoute`s (method, path or path prefix, limit); every other request may carry at most
   `PORTAL_MAX_JSON_BYTES` (1 MiB). Media declares its upload route with the largest file
   it accepts (its per-kind limits still apply while the file streams); content declares its
   item writes with room for an article body of 500,000 characters. A `Content-Length` over
   the limit is refused before the application runs; a body without one (chunked) is
   counted as it arrives and refused the moment it passes the limit, so nothing larger is
   ever held in memory or parsed.
2. **The caller, on operations that need one.** FastAPI reads and validates a body before it
   solves an operation's dependencies (`fastapi.routing.get_request_handler`), so an
   anonymous write with a malformed body would get 422 instead of 401. When the application
   first asks for the body, routing has chosen the operation (`scope["route"]`); if its
   dependencies include `require_principal`, the token is checked there and then, and a
   missing or bad one is a 401 before any byte is read.

A refusal is raised inside `receive()`; whatever the application makes of that (FastAPI
turns it into a 400 "error parsing the body") is discarded and the guard answers with the
refusal itself, as an RFC 9457 problem in the caller's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.deps import optional_principal, require_principal
from services.common.errors import PayloadTooLarge, ProblemError
from services.common.i18n import Msg
from services.common.problems import render_problem

KiB = 1024
MiB = 1024 * KiB
ITEM_JSON_BYTES = 4 * MiB
"""A JSON body that carries a whole article (a body of up to 500,000 characters, 6 bytes
each at worst when \\u-escaped) or an event about one: content's item writes and the
services' `/internal/` event intake declare this class."""


class RequestLimits(BaseSettings):
    """Limits every process reads from `PORTAL_*` (the server's are used by `portal serve`)."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    max_json_bytes: int = Field(
        default=MiB, ge=1024, description="Largest body of a request outside a declared class."
    )
    max_header_bytes: int = Field(
        default=32 * KiB, ge=1024, description="Request line and headers together."
    )
    max_headers: int = Field(default=100, ge=10, description="Header fields in one request.")
    header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a client has to send its request line and headers."
    )
    body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds the server waits between two pieces of a body."
    )


@dataclass(frozen=True)
class BodyRoute:
    """A route class: requests with `method` ("*" for any) on `path` may send `max_bytes`.

    `path` is exact, or a prefix when it ends with "/".
    """

    method: str
    path: str
    max_bytes: int

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return path.startswith(self.path) if self.path.endswith("/") else path == self.path


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        Msg(
            "Nội dung yêu cầu vượt quá {n} byte cho phép ở địa chỉ này; hãy gửi ít hơn.",
            "The request body is over the {n} bytes allowed here; send less.",
        ).format(n=limit)
    )


class _Refused(Exception):
    """Raised inside `receive()` to stop the application reading; never leaves the guard."""


def needs_principal(route: object) -> bool:
    """Whether an operation's dependencies include `require_principal` (cached per route)."""
    if not isinstance(route, APIRoute):
        return False
    cached: bool | None = route.__dict__.get("_portal_needs_principal")
    if cached is None:
        cached = _depends_on(route.dependant, require_principal)
        route.__dict__["_portal_needs_principal"] = cached
    return cached


def _depends_on(dependant: Dependant, call: Any) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


class BodyGuard:
    """Body size per route class, and the caller before the body on protected operations."""

    def __init__(self, app: ASGIApp, *, default: int, routes: Sequence[BodyRoute] = ()) -> None:
        self.app = app
        self.default = default
        self.routes = tuple(routes)

    def limit_for(self, method: str, path: str) -> int:
        for route in self.routes:
            if route.matches(method, path):
                return route.max_bytes
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await render_problem(Request(scope), too_large(limit))(scope, receive, send)
            return

        received = 0
        checked_caller = False
        refusal: ProblemError | None = None
        failure: Exception | None = None  # a bug while checking the caller: a 500, as anywhere
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, checked_caller, refusal, failure
            if refusal is not None or failure is not None:
                raise _Refused
            if not checked_caller:
                checked_caller = True
                if needs_principal(scope.get("route")):
                    try:
                        await require_principal(await optional_principal(Request(scope)))
                    except ProblemError as exc:
                        refusal = exc
                        raise _Refused from exc
                    except Exception as exc:
                        failure = exc
                        raise _Refused from exc
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal = too_large(limit)
                    raise _Refused
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if (refusal is not None or failure is not None) and not started:
                return  # the application's answer to a refused body; the guard answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if (refusal is None and failure is None) or started:
                raise
        if failure is not None and not started:
            raise failure
        if refusal is not None and not started:
            await render_problem(Request(scope), refusal)(scope, receive, send)


def _problem(description: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            name: {"type": kind}
            for name, kind in (
                ("type", "string"),
                ("title", "string"),
                ("status", "integer"),
                ("detail", "string"),
                ("request_id", "string"),
            )
        },
    }
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


_DOCUMENTED = {
    "401": _problem("No valid token; checked before the body is read (`unauthorized`)."),
    "413": _problem("The body is over the limit of its route class (`payload-too-large`)."),
}


def document_guards(app: FastAPI) -> None:
    """Declare in `app`'s OpenAPI document what `BodyGuard` answers: 401 on each operation
    that needs a signed-in caller, 413 on each that takes a body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in context.methods or ():
                operation = document["paths"].get(context.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                if needs_principal(route):
                    responses.setdefault("401", _DOCUMENTED["401"])
                if "requestBody" in operation:
                    responses.setdefault("413", _DOCUMENTED["413"])
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
