"""Lists and history of items: public lists, staff queues, revisions and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import BadRequest, NotFound
from services.common.i18n import Msg
from services.common.pagination import decode_cursor, encode_cursor
from services.common.text import fold
from services.content.access import Access
from services.content.items import repository as repo
from services.content.items.kinds import KindSpec
from services.content.items.repository import ListFilters
from services.content.items.schemas import (
    AuditList,
    AuditRead,
    FieldChange,
    ItemMeta,
    RevisionComparison,
    RevisionList,
    RevisionRead,
)
from services.content.items.service import state_of, visible_item
from services.content.items.views import to_read
from services.content.portals.service import get_portal, pipeline_of
from services.content.workflow import Status, allowed_actions


async def list_items(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    filters: ListFilters,
    category: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[ItemMeta], str | None]:
    """A page of live items (newest first), or of a staff queue when `status` is given."""
    portal = await get_portal(session, portal_id)
    if filters.status is not None and not access.is_staff(portal_id):
        raise NotFound(
            Msg(
                "Chỉ thành viên của cổng mới xem được hàng đợi biên tập.",
                "Only members of this portal can see its editorial queues.",
            )
        )
    if category is not None:
        ids = await repo.category_ids_for(session, portal_id, category)
        filters = ListFilters(**{**filters.__dict__, "category_ids": ids})
    if filters.q:
        filters = ListFilters(**{**filters.__dict__, "q": fold(filters.q)})
    key = decode_cursor(cursor, arity=2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(str(key[0])), str(key[1]))
            if after[0].tzinfo is None:  # ours always carry the zone; the column needs one
                raise ValueError(key[0])
        except ValueError as exc:
            raise BadRequest(
                Msg("Tham số cursor không hợp lệ.", "The cursor is not valid.")
            ) from exc
    staff_view = filters.status is not None
    fetch = repo.staff_page if staff_view else repo.public_page
    rows = await fetch(
        session, portal=portal_id, kind=spec.kind, filters=filters, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    categories = await repo.categories_by_id(
        session, {str(d["category_id"]) for _, d in rows if d.get("category_id")}
    )
    pipeline = pipeline_of(portal)
    items = []
    for item, data in rows:
        allowed = None
        if staff_view and access.user_id is not None:
            allowed = allowed_actions(state_of(item), access.actor(portal_id), pipeline)
        number = item.current_revision if staff_view else item.live_revision
        items.append(
            to_read(
                spec,
                item,
                data,
                portal=portal,
                pipeline=pipeline,
                categories=categories,
                full=False,
                revision=number or item.current_revision,
                allowed=allowed,
                public=not staff_view,
            )
        )
    next_cursor = None
    if more and rows:
        last = rows[-1][0]
        sort_value = last.updated_at if staff_view else last.published_at
        assert sort_value is not None
        next_cursor = encode_cursor([sort_value.isoformat(), last.id])
    return items, next_cursor


def _parse_status(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return Status(value).value
    except ValueError as exc:
        raise BadRequest(
            Msg("Trạng thái '{s}' không tồn tại.", "There is no status '{s}'.").format(s=value)
        ) from exc


parse_status = _parse_status


async def _staff_item(
    session: AsyncSession, spec: KindSpec, *, access: Access, portal_id: str, item_id: str
) -> Any:
    await get_portal(session, portal_id)
    item = await visible_item(
        session, spec, access=access, portal=portal_id, ref=item_id, by_slug=False
    )
    if not access.is_staff(portal_id):
        raise NotFound(
            Msg(
                "Lịch sử biên tập chỉ dành cho thành viên của cổng.",
                "Editorial history is for members of this portal only.",
            )
        )
    return item


async def list_revisions(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    item_id: str,
    cursor: str | None,
    limit: int,
) -> RevisionList:
    """Revisions newest first (members of the portal)."""
    item = await _staff_item(session, spec, access=access, portal_id=portal_id, item_id=item_id)
    key = decode_cursor(cursor, arity=1)
    before = int(key[0]) if key and isinstance(key[0], int) and 0 < key[0] < 2**31 else None
    rows = await repo.revisions_page(session, item.id, before=before, limit=limit + 1)
    page = [
        RevisionRead(
            number=r.number,
            created_at=r.created_at,
            created_by=r.created_by,
            note=r.note,
            is_live=r.number == item.live_revision,
            is_current=r.number == item.current_revision,
            data=r.data,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return RevisionList(
        items=page, next_cursor=encode_cursor([page[-1].number]) if more and page else None
    )


async def revision_data(
    session: AsyncSession, spec: KindSpec, *, access: Access, portal_id: str, item_id: str, n: int
) -> dict[str, Any]:
    item = await _staff_item(session, spec, access=access, portal_id=portal_id, item_id=item_id)
    revision = await repo.get_revision(session, item.id, n)
    if revision is None:
        raise NotFound(Msg("Không có phiên bản số {n}.", "There is no revision {n}.").format(n=n))
    return revision.data


async def compare_revisions(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    item_id: str,
    a: int,
    b: int,
) -> RevisionComparison:
    """Field-by-field differences between two revisions."""
    before = await revision_data(
        session, spec, access=access, portal_id=portal_id, item_id=item_id, n=a
    )
    after = await revision_data(
        session, spec, access=access, portal_id=portal_id, item_id=item_id, n=b
    )
    changes = [
        FieldChange(field=k, before=before.get(k), after=after.get(k))
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]
    return RevisionComparison(from_revision=a, to_revision=b, changes=changes)


async def history(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    item_id: str,
    cursor: str | None,
    limit: int,
) -> AuditList:
    """The audit trail of an item, oldest first (members of the portal)."""
    item = await _staff_item(session, spec, access=access, portal_id=portal_id, item_id=item_id)
    key = decode_cursor(cursor, arity=1)
    after = int(key[0]) if key and isinstance(key[0], int) and 0 <= key[0] < 2**63 else None
    rows = await repo.history_page(session, item.id, after=after, limit=limit + 1)
    page = [
        AuditRead(
            id=r.id,
            at=r.at,
            actor_id=r.actor_id,
            actor_name=r.actor_name,
            action=r.action,
            from_status=r.from_status,
            to_status=r.to_status,
            from_stage=r.from_stage,
            to_stage=r.to_stage,
            revision=r.revision,
            comment=r.comment,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return AuditList(
        items=page, next_cursor=encode_cursor([page[-1].id]) if more and page else None
    )
