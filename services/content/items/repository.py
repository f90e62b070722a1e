"""Every SQL statement about items, revisions, tags and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content.models import AuditEntry, Category, Item, ItemTag, Revision


@dataclass(frozen=True)
class ListFilters:
    category_ids: Sequence[str] | None = None
    tag: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    locale: str | None = None
    status: str | None = None
    doc_type: str | None = None
    number: str | None = None


async def get_item(
    session: AsyncSession, portal: str, kind: str, item_id: str, *, for_update: bool = False
) -> Item | None:
    query = select(Item).where(Item.id == item_id, Item.portal_id == portal, Item.kind == kind)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_by_slug(session: AsyncSession, portal: str, kind: str, slug: str) -> Item | None:
    query = select(Item).where(Item.portal_id == portal, Item.kind == kind, Item.slug == slug)
    return (await session.execute(query)).scalar_one_or_none()


async def get_revision(session: AsyncSession, item_id: str, number: int) -> Revision | None:
    query = select(Revision).where(Revision.item_id == item_id, Revision.number == number)
    return (await session.execute(query)).scalar_one_or_none()


async def free_slug(session: AsyncSession, portal: str, kind: str, base: str) -> str:
    """`base`, or `base-2`, `base-3`… whichever is free in this portal."""
    rows = await session.execute(
        select(Item.slug).where(
            Item.portal_id == portal,
            Item.kind == kind,
            or_(Item.slug == base, Item.slug.like(base + "-%")),
        )
    )
    taken = set(rows.scalars().all())
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def category_in_portal(session: AsyncSession, portal: str, category_id: str) -> bool:
    category = await session.get(Category, category_id)
    return category is not None and category.portal_id == portal


async def relatable_documents(session: AsyncSession, portal: str, ids: set[str]) -> set[str]:
    """Of `ids`, the documents of `portal` (in any state) and those online in any portal."""
    rows = await session.scalars(
        select(Item.id).where(
            Item.id.in_(ids),
            Item.kind == "document",
            or_(Item.portal_id == portal, Item.is_live.is_(True)),
        )
    )
    return set(rows)


async def categories_by_id(session: AsyncSession, ids: set[str]) -> dict[str, Category]:
    if not ids:
        return {}
    rows = await session.execute(select(Category).where(Category.id.in_(ids)))
    return {c.id: c for c in rows.scalars().all()}


async def category_ids_for(session: AsyncSession, portal: str, ref: str) -> list[str]:
    """A category given by id or slug, with all its descendants (for `?category=`)."""
    rows = (
        await session.execute(
            select(Category.id, Category.slug, Category.parent_id).where(
                Category.portal_id == portal
            )
        )
    ).all()
    roots = [r.id for r in rows if ref in (r.id, r.slug)]
    found = list(roots)
    frontier = set(roots)
    while frontier:
        children = [r.id for r in rows if r.parent_id in frontier]
        found.extend(children)
        frontier = set(children)
    return found


def _filtered(query: Any, filters: ListFilters, *, working: bool = False) -> Any:
    category = Item.working_category_id if working else Item.live_category_id
    search = Item.working_search if working else Item.live_search
    if filters.category_ids is not None:
        query = query.where(category.in_(filters.category_ids))
    if filters.tag and working:
        query = query.where(Item.working_tags.contains(f"\n{filters.tag}\n", autoescape=True))
    elif filters.tag:
        query = query.where(Item.id.in_(select(ItemTag.item_id).where(ItemTag.tag == filters.tag)))
    if filters.q:
        for word in filters.q.split()[:8]:
            query = query.where(search.contains(word, autoescape=True))
    if filters.since:
        query = query.where(Item.published_at >= filters.since)
    if filters.until:
        query = query.where(Item.published_at < filters.until)
    if filters.locale:
        query = query.where(Item.locale == filters.locale)
    if filters.doc_type:
        query = query.where(
            (Item.working_doc_type if working else Item.doc_type) == filters.doc_type
        )
    if filters.number:
        query = query.where(
            (Item.working_doc_number if working else Item.doc_number) == filters.number
        )
    return query


async def public_page(
    session: AsyncSession,
    *,
    portal: str,
    kind: str,
    filters: ListFilters,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[Item, dict[str, Any]]]:
    """Live items newest first, seeking past `after` (published_at, id) on the index."""
    query = (
        select(Item, Revision.data)
        .join(Revision, and_(Revision.item_id == Item.id, Revision.number == Item.live_revision))
        .where(Item.portal_id == portal, Item.kind == kind, Item.is_live.is_(True))
    )
    query = _filtered(query, filters)
    if after is not None:
        published, item_id = after
        query = query.where(
            or_(
                Item.published_at < published,
                and_(Item.published_at == published, Item.id < item_id),
            )
        )
    query = query.order_by(Item.published_at.desc(), Item.id.desc()).limit(limit)
    return [(item, data) for item, data in (await session.execute(query)).all()]


async def staff_page(
    session: AsyncSession,
    *,
    portal: str,
    kind: str,
    filters: ListFilters,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[Item, dict[str, Any]]]:
    """Working revisions of every item of the portal, most recently changed first."""
    query = (
        select(Item, Revision.data)
        .join(Revision, and_(Revision.item_id == Item.id, Revision.number == Item.current_revision))
        .where(Item.portal_id == portal, Item.kind == kind)
    )
    if filters.status:
        query = query.where(Item.status == filters.status)
    query = _filtered(query, filters, working=True)
    if after is not None:
        updated, item_id = after
        query = query.where(
            or_(Item.updated_at < updated, and_(Item.updated_at == updated, Item.id < item_id))
        )
    query = query.order_by(Item.updated_at.desc(), Item.id.desc()).limit(limit)
    return [(item, data) for item, data in (await session.execute(query)).all()]


async def replace_tags(session: AsyncSession, item_id: str, tags: Sequence[str]) -> None:
    await session.execute(delete(ItemTag).where(ItemTag.item_id == item_id))
    if tags:
        await session.execute(insert(ItemTag), [{"item_id": item_id, "tag": t} for t in tags])


async def add_audit(session: AsyncSession, **values: Any) -> None:
    await session.execute(insert(AuditEntry).values(**values))


async def history_page(
    session: AsyncSession, item_id: str, *, after: int | None, limit: int
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.item_id == item_id)
    if after is not None:
        query = query.where(AuditEntry.id > after)
    query = query.order_by(AuditEntry.id).limit(limit)
    return (await session.execute(query)).scalars().all()


async def revisions_page(
    session: AsyncSession, item_id: str, *, before: int | None, limit: int
) -> Sequence[Revision]:
    query = select(Revision).where(Revision.item_id == item_id)
    if before is not None:
        query = query.where(Revision.number < before)
    query = query.order_by(Revision.number.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def due_items(session: AsyncSession, now: datetime, *, limit: int = 100) -> Sequence[Item]:
    """Items whose scheduled publish or unpublish time has come."""
    query = (
        select(Item)
        .where(
            or_(
                and_(Item.status == "scheduled", Item.publish_at <= now),
                and_(Item.is_live.is_(True), Item.unpublish_at <= now),
            )
        )
        .order_by(Item.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
