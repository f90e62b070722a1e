"""The search API: `/v1/search`, `/v1/search/suggest`, and the internal event intake."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from services.common.deps import require_shared_secret
from services.common.errors import BadRequest, Conflict, FieldError, Forbidden
from services.common.i18n import Msg
from services.common.roles import ROLE_RESPONSES, CurrentPrincipalDep
from services.common.security import Principal
from services.common.types import Nfc
from services.search.model import FACETS, Filters, SearchBackend, SearchQuery, Sort
from services.search.rebuild import ContentSource, Job, reconcile, reindex, start
from services.search.settings import SearchSettings
from services.search.sync import apply_event

router = APIRouter(tags=["search"])
internal = APIRouter(include_in_schema=False)

SEARCH_PARAMS = {"q", "sort", "page", "per_page", *FACETS}
# Query parameters that are not filters: "unknown filter" is judged against both sets.
SUGGEST_PARAMS = {"q", "limit", "portal", "type", "locale"}


class SearchHit(BaseModel):
    type: str
    id: str
    portal: str
    title: str
    title_highlighted: str = Field(description="The title with matches in <mark>.")
    snippet: str = Field(description="Original text around the best match, with <mark>.")
    url: str
    published_at: datetime
    category: str | None = None
    number: str | None = None
    doc_type: str | None = None
    issuer: str | None = None


class SearchResponse(BaseModel):
    hits: list[SearchHit]
    total: int
    page: int
    per_page: int
    facets: dict[str, dict[str, int]]
    took_ms: float


class SuggestionRead(BaseModel):
    title: str
    url: str
    type: str
    portal: str


class SuggestResponse(BaseModel):
    items: list[SuggestionRead]


class UnknownParameter(BadRequest):
    slug = "unknown-parameter"
    title = Msg("Tham số không được hỗ trợ", "Unknown parameter")


def _only(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise UnknownParameter(
            Msg(
                "Không hỗ trợ tham số {u}; dùng: {a}.",
                "Unsupported parameter(s) {u}; use: {a}.",
            ).format(u=", ".join(unknown), a=", ".join(sorted(allowed))),
            errors=[
                FieldError(name, Msg("Tham số không được hỗ trợ.", "Unknown parameter."), "unknown")
                for name in unknown
            ],
        )


def _backend(request: Request) -> SearchBackend:
    backend: SearchBackend = request.app.state.backend
    return backend


Values = Annotated[list[Nfc] | None, Query(max_length=20)]


@router.get("/v1/search", operation_id="search", response_model=SearchResponse)
async def search(
    request: Request,
    q: Annotated[Nfc, Query(max_length=512, description="Words; diacritics optional.")] = "",
    portal: Values = None,
    type: Annotated[list[Literal["article", "document"]] | None, Query(max_length=2)] = None,
    category: Values = None,
    doc_type: Values = None,
    issuer: Values = None,
    year: Annotated[list[Annotated[int, Query(ge=1900, le=2200)]] | None, Query()] = None,
    locale: Annotated[list[Literal["vi", "en"]] | None, Query(max_length=2)] = None,
    sort: Sort = Sort.RELEVANCE,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """Articles and legal documents of every portal, Vietnamese-aware, with facets."""
    _only(request, SEARCH_PARAMS)
    started = time.perf_counter()
    filters = Filters(
        portal=tuple(portal or ()),
        type=tuple(type or ()),
        category=tuple(category or ()),
        doc_type=tuple(doc_type or ()),
        issuer=tuple(issuer or ()),
        year=tuple(year or ()),
        locale=tuple(locale or ()),
    )
    results = await _backend(request).search(
        SearchQuery(q=q.strip(), filters=filters, sort=sort, page=page, per_page=per_page)
    )
    return SearchResponse(
        hits=[SearchHit.model_validate(h, from_attributes=True) for h in results.hits],
        total=results.total,
        page=page,
        per_page=per_page,
        facets=results.facets,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@router.get("/v1/search/suggest", operation_id="suggest", response_model=SuggestResponse)
async def suggest(
    request: Request,
    q: Annotated[Nfc, Query(min_length=1, max_length=100)],
    portal: Values = None,
    type: Annotated[list[Literal["article", "document"]] | None, Query(max_length=2)] = None,
    locale: Annotated[list[Literal["vi", "en"]] | None, Query(max_length=2)] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> Any:
    """Title completions as a reader types (the last word is a prefix)."""
    _only(request, SUGGEST_PARAMS)
    filters = Filters(
        portal=tuple(portal or ()), type=tuple(type or ()), locale=tuple(locale or ())
    )
    suggestions = await _backend(request).suggest(q.strip(), filters, limit)
    return SuggestResponse(
        items=[
            SuggestionRead(title=s.title, url=s.url, type=s.type, portal=s.portal)
            for s in suggestions
        ]
    )


@internal.post("/internal/events", status_code=204)
async def receive_event(request: Request) -> Response:
    """Content's outbox relay delivers events here (not routed by the gateway)."""
    settings: SearchSettings = request.app.state.settings
    require_shared_secret(request, settings.events_token)
    try:
        event = await request.json()
    except ValueError as exc:
        raise BadRequest(Msg("Nội dung không phải JSON.", "The body is not JSON.")) from exc
    if not isinstance(event, dict):
        raise BadRequest(Msg("Sự kiện phải là một đối tượng JSON.", "An event is a JSON object."))
    await apply_event(_backend(request), event)
    return Response(status_code=204)


class JobStatus(BaseModel):
    kind: str
    state: str
    done: int
    total: int | None
    added: int
    updated: int
    removed: int
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ROLE_RESPONSES,
    403: {"description": "Not a superadmin."},
}


def _superadmin(principal: Principal) -> None:
    """403 unless content says, now, that the caller is a superadmin."""
    if not principal.is_superadmin:
        raise Forbidden(
            Msg(
                "Chỉ quản trị hệ thống được dựng lại chỉ mục tìm kiếm.",
                "Only a superadmin may rebuild the search index.",
            )
        )


def _start(request: Request, kind: str) -> JobStatus:
    job: Job = request.app.state.job
    if job.state == "running":
        raise Conflict(
            Msg(
                "Đang chạy {k}; hãy chờ xong (GET …/admin/jobs).",
                "A {k} is running; wait for it (GET …/admin/jobs).",
            ).format(k=job.kind)
        )
    source: ContentSource | None = request.app.state.content_source
    if source is None:
        raise Conflict(
            Msg(
                "Chưa cấu hình nguồn nội dung (SEARCH_CONTENT_URL).",
                "No content source is configured (SEARCH_CONTENT_URL).",
            )
        )
    backend = _backend(request)
    work = reindex(backend, source, job) if kind == "reindex" else reconcile(backend, source, job)
    start(job, kind, work)
    return JobStatus(**job.as_json())


@router.post(
    "/v1/search/admin/reindex", operation_id="reindex", status_code=202, tags=["search admin"]
)
async def start_reindex(request: Request, principal: CurrentPrincipalDep) -> JobStatus:
    """Rebuild the index from content and swap it in without downtime (superadmin)."""
    _superadmin(principal)
    return _start(request, "reindex")


@router.post(
    "/v1/search/admin/reconcile", operation_id="reconcile", status_code=202, tags=["search admin"]
)
async def start_reconcile(request: Request, principal: CurrentPrincipalDep) -> JobStatus:
    """Compare content's published set with the index and repair the drift (superadmin)."""
    _superadmin(principal)
    return _start(request, "reconcile")


@router.get(
    "/v1/search/admin/jobs",
    operation_id="getSearchJob",
    tags=["search admin"],
    responses=_ADMIN_RESPONSES,
)
async def job_status(request: Request, principal: CurrentPrincipalDep) -> JobStatus:
    """Progress of the running (or last) reindex or reconcile (superadmin)."""
    _superadmin(principal)
    job: Job = request.app.state.job
    return JobStatus(**job.as_json())
