"""The API of articles, legal documents and pages: one router factory, three kinds."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.common.caching import cached_json
from services.common.deps import SessionDep, reject_nul_bytes
from services.common.pagination import CursorParam, LimitParam
from services.common.paths import ItemIdPath, PortalPath, SlugPath
from services.common.types import Nfc, UtcQueryDatetime
from services.content.access import AccessDep, SignedInAccessDep
from services.content.items import listing, service
from services.content.items.kinds import KindSpec
from services.content.items.repository import ListFilters
from services.content.items.schemas import (
    AuditList,
    RevisionComparison,
    RevisionList,
    TransitionIn,
)
from services.content.media import FeaturedImageCheck
from services.content.portals.service import get_portal

_TRANSITION_DOC = (
    "`submit` (author): draft/returned → in_review at the first stage; `forward`: to the "
    "next stage; `return` (comment required): back to the author; `publish`/`schedule` "
    "(`publish_at`): by the role of the last stage; `unpublish` (comment = reason): by the "
    "last stage's role; `archive`. 409 when the state does not allow it, 403 when the role "
    "does not, 422 with every problem when inputs or posting standards are not met (with the "
    "media service configured, the featured image must be an image of the portal with alt "
    "text; 503 `media-unavailable` when media cannot be asked)."
)


# Revision numbers are 32-bit integers in the database; larger ones cannot exist.
MAX_REVISION = 2**31 - 1


def now() -> datetime:
    return datetime.now(UTC)


def item_router(spec: KindSpec) -> APIRouter:
    """Routes under `/v1/portals/{portal}/<kind plural>` for one kind of item."""
    router = APIRouter(
        prefix=f"/v1/portals/{{portal}}/{spec.plural}",
        tags=[spec.plural],
        dependencies=[Depends(reject_nul_bytes)],
    )
    name = spec.kind.capitalize()
    page_model: Any = _page_model(spec)

    @router.get("", operation_id=f"list{name}s", response_model=page_model)
    async def list_items(
        portal: PortalPath,
        request: Request,
        session: SessionDep,
        access: AccessDep,
        limit: LimitParam = 20,
        cursor: CursorParam = None,
        category: Annotated[Nfc | None, Query(max_length=140)] = None,
        tag: Annotated[Nfc | None, Query(max_length=100)] = None,
        q: Annotated[Nfc | None, Query(max_length=200)] = None,
        from_: Annotated[UtcQueryDatetime | None, Query(alias="from")] = None,
        to: Annotated[UtcQueryDatetime | None, Query()] = None,
        locale: Annotated[str | None, Query(pattern="^(vi|en)$")] = None,
        status: Annotated[str | None, Query(max_length=20)] = None,
        doc_type: Annotated[Nfc | None, Query(max_length=100)] = None,
        number: Annotated[Nfc | None, Query(max_length=100)] = None,
    ) -> Response:
        """Published items, newest first; members pass `status` to see a workflow queue."""
        filters = ListFilters(
            tag=tag,
            q=q,
            since=from_,
            until=to,
            locale=locale,
            status=listing.parse_status(status),
            doc_type=doc_type,
            number=number,
        )
        items, next_cursor = await listing.list_items(
            session,
            spec,
            access=access,
            portal_id=portal,
            filters=filters,
            category=category,
            cursor=cursor,
            limit=limit,
        )
        page = page_model(items=items, next_cursor=next_cursor)
        return cached_json(request, page, public=status is None and not access.signed_in)

    @router.post("", operation_id=f"create{name}", status_code=201, response_model=spec.read_model)
    async def create_item(
        portal: PortalPath,
        body: Annotated[spec.create_model, Body()],  # type: ignore[name-defined]
        session: SessionDep,
        access: SignedInAccessDep,
    ) -> Any:
        """Create a draft (any member of the portal)."""
        return await service.create_item(
            session, spec, access=access, portal_id=portal, body=body, now=now()
        )

    async def _read(
        portal: str, ref: str, by_slug: bool, request: Request, session: Any, access: Any
    ) -> Response:
        item = await service.visible_item(
            session, spec, access=access, portal=portal, ref=ref, by_slug=by_slug
        )
        read = await service.render(
            session, spec, item, portal=await get_portal(session, portal), access=access
        )
        return cached_json(request, read, public=not access.is_staff(portal))

    @router.get("/by-slug/{slug}", operation_id=f"get{name}BySlug", response_model=spec.read_model)
    async def get_by_slug(
        portal: PortalPath, slug: SlugPath, request: Request, session: SessionDep, access: AccessDep
    ) -> Response:
        """One item by its slug; the public sees its live revision only."""
        return await _read(portal, slug, True, request, session, access)

    @router.get("/{item_id}", operation_id=f"get{name}", response_model=spec.read_model)
    async def get_item(
        portal: PortalPath,
        item_id: ItemIdPath,
        request: Request,
        session: SessionDep,
        access: AccessDep,
    ) -> Response:
        """One item; the public sees its live revision, members the working one."""
        return await _read(portal, item_id, False, request, session, access)

    @router.patch("/{item_id}", operation_id=f"update{name}", response_model=spec.read_model)
    async def update_item(
        portal: PortalPath,
        item_id: ItemIdPath,
        body: Annotated[spec.update_model, Body()],  # type: ignore[name-defined]
        session: SessionDep,
        access: SignedInAccessDep,
    ) -> Any:
        """Edit: a new revision; a live item stays online until the new one is published."""
        return await service.update_item(
            session, spec, access=access, portal_id=portal, item_id=item_id, body=body, now=now()
        )

    @router.post(
        "/{item_id}/transitions",
        operation_id=f"transition{name}",
        response_model=spec.read_model,
        description=_TRANSITION_DOC,
    )
    async def transition(
        portal: PortalPath,
        item_id: ItemIdPath,
        body: TransitionIn,
        session: SessionDep,
        access: SignedInAccessDep,
        request: Request,
    ) -> Any:
        """Move the item through the editorial workflow."""
        client = request.app.state.media
        media = (
            FeaturedImageCheck(client, request.headers.get("authorization"))
            if client is not None
            else None
        )
        return await service.transition(
            session,
            spec,
            access=access,
            portal_id=portal,
            item_id=item_id,
            body=body,
            now=now(),
            media=media,
        )

    @router.get("/{item_id}/revisions", operation_id=f"list{name}Revisions")
    async def list_revisions(
        portal: PortalPath,
        item_id: ItemIdPath,
        session: SessionDep,
        access: AccessDep,
        limit: LimitParam = 20,
        cursor: CursorParam = None,
    ) -> RevisionList:
        """Every revision, newest first (members of the portal)."""
        return await listing.list_revisions(
            session,
            spec,
            access=access,
            portal_id=portal,
            item_id=item_id,
            cursor=cursor,
            limit=limit,
        )

    @router.get("/{item_id}/revisions/compare", operation_id=f"compare{name}Revisions")
    async def compare_revisions(
        portal: PortalPath,
        item_id: ItemIdPath,
        session: SessionDep,
        access: AccessDep,
        from_: Annotated[int, Query(alias="from", ge=1, le=MAX_REVISION)],
        to: Annotated[int, Query(ge=1, le=MAX_REVISION)],
    ) -> RevisionComparison:
        """Field-by-field differences between two revisions."""
        return await listing.compare_revisions(
            session, spec, access=access, portal_id=portal, item_id=item_id, a=from_, b=to
        )

    @router.post(
        "/{item_id}/revisions/{number}/restore",
        operation_id=f"restore{name}Revision",
        response_model=spec.read_model,
    )
    async def restore_revision(
        portal: PortalPath,
        item_id: ItemIdPath,
        number: Annotated[int, Path(ge=1, le=MAX_REVISION)],
        session: SessionDep,
        access: SignedInAccessDep,
    ) -> Any:
        """Copy an old revision into a new one (the old one stays as it was)."""
        return await service.restore_revision(
            session,
            spec,
            access=access,
            portal_id=portal,
            item_id=item_id,
            number=number,
            now=now(),
        )

    @router.get("/{item_id}/history", operation_id=f"get{name}History")
    async def get_history(
        portal: PortalPath,
        item_id: ItemIdPath,
        session: SessionDep,
        access: AccessDep,
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> AuditList:
        """The audit trail: who moved the item from which state to which, when and why."""
        return await listing.history(
            session,
            spec,
            access=access,
            portal_id=portal,
            item_id=item_id,
            cursor=cursor,
            limit=limit,
        )

    return router


def _page_model(spec: KindSpec) -> Any:
    from pydantic import create_model

    return create_model(
        f"{spec.kind.capitalize()}Page",
        items=(list[spec.summary_model], ...),  # type: ignore[name-defined]
        next_cursor=(str | None, None),
    )
