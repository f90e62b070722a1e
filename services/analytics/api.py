"""HTTP: the beacon, the tracker script and the reports."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import date, timedelta
from importlib import resources
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import Scope

from services.analytics import reports
from services.analytics import repository as repo
from services.analytics.beacon import Beacon, QuickBeacon, parse_beacon
from services.analytics.bots import PURPOSE_HEADERS
from services.analytics.errors import (
    BeaconTooLarge,
    IngestBusy,
    PortalNotFound,
    UnknownPortal,
    UnsupportedMediaType,
)
from services.analytics.ingest import Raw
from services.analytics.privacy import local_day
from services.analytics.runtime import CLOCK_HEADER_KEY, Runtime, runtime
from services.common.caching import cached_bytes, cached_json
from services.common.deps import SessionDep, reject_nul_bytes
from services.common.errors import Forbidden
from services.common.i18n import Msg
from services.common.paths import NOT_FOUND_RESPONSE, PortalPath
from services.common.portals import PortalInfo
from services.common.roles import ROLE_RESPONSES, CurrentPrincipalDep
from services.common.security import Principal
from services.common.spreadsheet import csv_response

RuntimeDep = Annotated[Runtime, Depends(runtime)]
router = APIRouter(prefix="/v1/analytics", dependencies=[Depends(reject_nul_bytes)])

JSON_TYPES = {"", "application/json", "text/plain", "application/csp-report"}
_BEACON_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": Beacon.model_json_schema()},
        "text/plain": {"schema": {"type": "string", "description": "The same JSON object."}},
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BeaconTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BeaconTooLarge(limit)
    return bytes(body)


def _parse(body: bytes) -> Beacon | QuickBeacon:
    try:
        return parse_beacon(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


class LeanRoute(APIRoute):
    """A route documented in OpenAPI like the others but served by its endpoint alone:
    `endpoint(request) -> Response`, with no dependency resolution and no body parsing by
    FastAPI (the beacon is the hot path: that machinery was half of each request). The
    endpoint does itself what the router's dependencies would (the NUL check)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return cast(Callable[[Request], Coroutine[Any, Any, Response]], self.endpoint)


async def send_event(request: Request) -> Response:
    """Record a page view or an event (JSON, or text/plain from sendBeacon); 202."""
    if request.scope["query_string"]:
        await reject_nul_bytes(request)
    rt: Runtime = request.app.state.analytics
    metrics = rt.ingestor.metrics
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        metrics.refused.labels("invalid").inc()
        raise UnsupportedMediaType(
            Msg(
                "Gửi JSON (application/json hoặc text/plain).",
                "Send JSON (application/json or text/plain).",
            )
        )
    try:
        beacon = _parse(await _read_body(request, rt.settings.max_body_bytes))
    except BeaconTooLarge:
        metrics.refused.labels("too_large").inc()
        raise
    except RequestValidationError:
        metrics.refused.labels("invalid").inc()
        raise
    if await rt.directory.get(beacon.portal) is None:
        metrics.refused.labels("unknown_portal").inc()
        raise UnknownPortal(beacon.portal)

    if not rt.ingestor.offer(capture(request.scope, rt, beacon)):
        metrics.refused.labels("busy").inc()
        raise IngestBusy()
    return Response(status_code=202)


def capture(scope: Scope, rt: Runtime, beacon: Beacon | QuickBeacon) -> Raw:
    """What the writer needs of a valid beacon of a known portal (`writer.BatchWriter`
    classifies it): its fields, its time, the socket peer and a few headers, read in one
    pass over the raw header list."""
    user_agent = ""
    forwarded: list[str] = []
    purpose: list[str] = []
    clock_header = None
    for key, value in scope["headers"]:
        if key == b"user-agent":
            user_agent = value.decode("latin-1")
        elif key == b"x-forwarded-for":
            forwarded.append(value.decode("latin-1"))
        elif key in PURPOSE_HEADERS:
            purpose.append(value.decode("latin-1"))
        elif key == CLOCK_HEADER_KEY:
            clock_header = value.decode("latin-1")
    peer = scope.get("client")
    return Raw(
        ts=rt.event_time(clock_header),
        portal=beacon.portal,
        kind=beacon.type,
        name=beacon.name,
        url=beacon.url,
        referrer=beacon.referrer,
        article=beacon.article,
        category=beacon.category,
        screen_width=beacon.screen_width,
        client_id=beacon.id,
        webdriver=beacon.webdriver,
        peer=peer[0] if peer else None,
        forwarded_for=tuple(forwarded),
        user_agent=user_agent,
        purpose=" ".join(purpose),
    )


router.add_api_route(
    "/events",
    send_event,
    methods=["POST"],
    status_code=202,
    tags=["ingest"],
    operation_id="sendAnalyticsEvent",
    openapi_extra={"requestBody": _BEACON_BODY},
    responses={202: {"description": "Accepted (written within a second)."}},
    route_class_override=LeanRoute,
)


@router.get("/script.js", tags=["ingest"], operation_id="getTrackerScript")
async def tracker_script(request: Request) -> Response:
    """The tracker: `<script defer src=".../v1/analytics/script.js" data-portal="…">`."""
    body = resources.files("services.analytics").joinpath("tracker.js").read_bytes()
    return cached_bytes(
        request, body, public=True, max_age=3600, media_type="application/javascript"
    )


# --- reports ---------------------------------------------------------------------------

From = Annotated[date | None, Query(alias="from", description="First local day (YYYY-MM-DD).")]
To = Annotated[date | None, Query(alias="to", description="Last local day, included.")]
_MEMBER_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ROLE_RESPONSES,
    403: {"description": "Not a member of the portal."},
    404: {
        "description": "No such portal (an id that cannot be one, or one that does not exist).",
        "content": {"application/problem+json": {}},
    },
}
_SUMMARY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ROLE_RESPONSES,
    403: {"description": "Not a member of the central portal."},
}
_NOT_MEMBER = Msg(
    "Chỉ thành viên của cổng này xem được số liệu.",
    "Only members of this portal can read its statistics.",
)


async def _readable(rt: Runtime, portal: str, principal: Principal) -> PortalInfo:
    """The portal, if the caller (with the roles content gives them now) is a member."""
    info = await rt.directory.get(portal)
    if info is None:
        raise PortalNotFound(portal)
    if not principal.is_superadmin and principal.role_in(portal) is None:
        raise Forbidden(_NOT_MEMBER)
    return info


@router.get(
    "/portals/{portal}/stats",
    tags=["reports"],
    operation_id="getPortalStats",
    responses=_MEMBER_RESPONSES,
)
async def portal_stats(
    portal: PortalPath,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipalDep,
    rt: RuntimeDep,
    first: From = None,
    last: To = None,
    interval: Literal["hour", "day", "month"] = "day",
) -> Response:
    """Page views, visitors, visits, bounce rate and a time series (portal members)."""
    await _readable(rt, portal, principal)
    today = local_day(rt.now(), rt.zone)
    span = reports.resolve_range(first, last, interval=interval, today=today)
    body = await reports.stats(session, portal=portal, span=span, interval=interval, zone=rt.zone)
    return cached_json(request, body, public=False)


@router.get(
    "/portals/{portal}/top",
    tags=["reports"],
    operation_id="getPortalTop",
    responses=_MEMBER_RESPONSES,
)
async def portal_top(
    portal: PortalPath,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipalDep,
    rt: RuntimeDep,
    dimension: Literal["page", "article", "category", "referrer", "device", "browser"],
    first: From = None,
    last: To = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """Top pages, articles, categories (by page views) or referrers, devices, browsers
    (by visits) over a range of days (portal members)."""
    await _readable(rt, portal, principal)
    today = local_day(rt.now(), rt.zone)
    span = reports.resolve_range(first, last, interval="day", today=today)
    rows = await repo.top_rows(session, portal, dimension, span.first, span.last, limit)
    measure = "visits" if dimension in {"referrer", "device", "browser"} else "pageviews"
    body = {
        "portal": portal,
        "dimension": dimension,
        "measure": measure,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "items": [{"key": r.key, "value": int(r.value)} for r in rows],
    }
    return cached_json(request, body, public=False)


@router.get(
    "/portals/{portal}/realtime",
    tags=["reports"],
    operation_id="getPortalRealtime",
    responses=_MEMBER_RESPONSES,
)
async def portal_realtime(
    portal: PortalPath, session: SessionDep, principal: CurrentPrincipalDep, rt: RuntimeDep
) -> dict[str, Any]:
    """Distinct visitors seen in the last 5 minutes (portal members)."""
    await _readable(rt, portal, principal)
    now = rt.now()
    window = rt.settings.realtime_minutes
    count = await repo.online(session, portal, now - timedelta(minutes=window))
    return {"portal": portal, "visitors": count, "window_minutes": window, "at": now.isoformat()}


@router.get(
    "/portals/{portal}/counter",
    tags=["reports"],
    operation_id="getPortalCounter",
    responses=NOT_FOUND_RESPONSE,
)
async def portal_counter(
    portal: PortalPath, request: Request, session: SessionDep, rt: RuntimeDep
) -> Response:
    """Public: total visits and visitors online now, for the classic portal counter."""
    if await rt.directory.get(portal) is None:
        raise PortalNotFound(portal)
    now = rt.now()
    body = {
        "portal": portal,
        "total_visits": await repo.total_visits(session, portal),
        "online": await repo.online(
            session, portal, now - timedelta(minutes=rt.settings.realtime_minutes)
        ),
    }
    return cached_json(request, body, public=True, max_age=30)


@router.get(
    "/portals/{portal}/bots",
    tags=["reports"],
    operation_id="getPortalBots",
    responses=_MEMBER_RESPONSES,
)
async def portal_bots(
    portal: PortalPath,
    session: SessionDep,
    principal: CurrentPrincipalDep,
    rt: RuntimeDep,
    first: From = None,
    last: To = None,
) -> dict[str, Any]:
    """Beacons dropped as bots, per reason per day (portal members)."""
    await _readable(rt, portal, principal)
    today = local_day(rt.now(), rt.zone)
    span = reports.resolve_range(first, last, interval="day", today=today)
    rows = await repo.bot_rows(session, portal, span.first, span.last)
    by_reason: dict[str, int] = {}
    for row in rows:
        by_reason[row.reason] = by_reason.get(row.reason, 0) + int(row.count)
    return {
        "portal": portal,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "total": sum(by_reason.values()),
        "by_reason": by_reason,
        "days": [
            {"day": r.day.isoformat(), "reason": r.reason, "count": int(r.count)} for r in rows
        ],
    }


async def _sees_all(rt: Runtime, principal: Principal) -> bool:
    """Superadmins and members of a central portal (roles as content gives them now)."""
    if principal.is_superadmin:
        return True
    for portal in principal.roles:
        info = await rt.directory.get(portal)
        if info is not None and info.kind == "central":
            return True
    return False


@router.get(
    "/summary", tags=["reports"], operation_id="getAnalyticsSummary", responses=_SUMMARY_RESPONSES
)
async def summary(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipalDep,
    rt: RuntimeDep,
    first: From = None,
    last: To = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Every portal's totals over a range, for the centre (central members); `?format=csv`."""
    if not await _sees_all(rt, principal):
        raise Forbidden(
            Msg(
                "Chỉ thành viên cổng trung ương xem được số liệu toàn hệ thống.",
                "Only members of the central portal can read the all-portals summary.",
            )
        )
    today = local_day(rt.now(), rt.zone)
    span = reports.resolve_range(first, last, interval="day", today=today)
    portals = [(p.id, p.name) for p in await rt.directory.all()]
    body = await reports.summary(session, portals=portals, span=span)
    if format == "json":
        return cached_json(request, body, public=False)
    columns = ("portal", "name", "pageviews", "visitors", "visits", "bounce_rate")
    return csv_response(
        columns,
        ([item[k] for k in columns] for item in body["items"]),
        filename=f"analytics-{span.first.isoformat()}-{span.last.isoformat()}.csv",
    )
