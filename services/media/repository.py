"""Every SQL statement of the media service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.media.models import MediaAsset, UsageItem, UsageLink, utcnow


async def get(session: AsyncSession, media_id: str) -> MediaAsset | None:
    return await session.get(MediaAsset, media_id)


async def by_sha(session: AsyncSession, portal: str, sha256: str) -> MediaAsset | None:
    return await session.scalar(
        select(MediaAsset).where(MediaAsset.portal_id == portal, MediaAsset.sha256 == sha256)
    )


async def page(
    session: AsyncSession,
    *,
    portal: str,
    kind: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[MediaAsset]:
    query = select(MediaAsset).where(MediaAsset.portal_id == portal)
    if kind:
        query = query.where(MediaAsset.kind == kind)
    if after is not None:
        query = query.where(tuple_(MediaAsset.created_at, MediaAsset.id) < after)
    query = query.order_by(MediaAsset.created_at.desc(), MediaAsset.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


def _counts_for_asset() -> ColumnElement[bool]:
    """An item counts as using an asset (making it public, or in use) only when it belongs
    to the asset's own portal. A link from another portal's item is recorded but counts for
    nothing: otherwise any portal could publish another's draft, or pin it undeletable.

    This is the seam for assets one portal explicitly offers to others (a later issue): an
    offer would be OR-ed in here, and every query below follows.
    """
    return and_(
        UsageLink.item_id == UsageItem.item_id,
        MediaAsset.id == UsageLink.media_id,
        UsageItem.portal_id == MediaAsset.portal_id,
    )


async def is_public(session: AsyncSession, media_id: str) -> bool:
    """Used by at least one published item of its own portal."""
    query = select(
        exists().where(
            UsageLink.media_id == media_id,
            _counts_for_asset(),
            UsageItem.published.is_(True),
        )
    )
    return bool(await session.scalar(query))


async def public_ids(session: AsyncSession, media_ids: Iterable[str]) -> set[str]:
    """Which of these assets are used by a published item of their own portal (one query)."""
    ids = list(media_ids)
    if not ids:
        return set()
    query = (
        select(UsageLink.media_id)
        .where(UsageLink.media_id.in_(ids), _counts_for_asset(), UsageItem.published.is_(True))
        .distinct()
    )
    return set((await session.scalars(query)).all())


async def users_of(session: AsyncSession, media_id: str) -> list[UsageItem]:
    """The items of the asset's own portal that use it (what blocks its deletion)."""
    query = (
        select(UsageItem)
        .where(UsageLink.media_id == media_id, _counts_for_asset())
        .order_by(UsageItem.item_id)
    )
    return list((await session.scalars(query)).all())


async def usage_item(session: AsyncSession, item_id: str) -> UsageItem | None:
    return await session.get(UsageItem, item_id)


async def set_usage(
    session: AsyncSession,
    *,
    item_id: str,
    portal: str,
    version: int,
    published: bool,
    media_ids: Iterable[str],
) -> None:
    """Replace what one item uses."""
    item = await session.get(UsageItem, item_id)
    if item is None:
        item = UsageItem(item_id=item_id, portal_id=portal)
        session.add(item)
    item.portal_id = portal
    item.version = version
    item.published = published
    item.updated_at = utcnow()
    await session.flush()
    await session.execute(delete(UsageLink).where(UsageLink.item_id == item_id))
    for media_id in sorted(set(media_ids)):
        session.add(UsageLink(item_id=item_id, media_id=media_id))
    await session.flush()


async def remove(session: AsyncSession, asset: MediaAsset) -> None:
    await session.delete(asset)
    await session.flush()
