"""Portals (central and provincial), their profile and configuration, and categories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from services.common.i18n import Msg
from services.common.text import nfc, slugify
from services.content.access import Access, portal_not_found
from services.content.models import Category, Item, Portal, utcnow
from services.content.portals.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    PortalCreate,
    PortalLinkRead,
    PortalRead,
    PortalUpdate,
    SpokespersonRead,
    StageConfig,
)
from services.content.standards import PostingStandard
from services.content.workflow import (
    CENTRAL_PIPELINE,
    PROVINCIAL_PIPELINE,
    Pipeline,
    Role,
    pipeline_from_config,
)


class CategoryNotFound(NotFound):
    slug = "category-not-found"


class CategoryInUse(Conflict):
    slug = "category-in-use"


def pipeline_of(portal: Portal) -> Pipeline:
    """The portal's review stages, or the default for its kind."""
    if portal.review_stages:
        return pipeline_from_config(portal.review_stages)
    return CENTRAL_PIPELINE if portal.kind == "central" else PROVINCIAL_PIPELINE


def standard_of(portal: Portal) -> PostingStandard:
    return PostingStandard.from_config(portal.standards or {})


def portal_read(portal: Portal) -> PortalRead:
    return PortalRead(
        id=portal.id,
        name=portal.name,
        kind=portal.kind,
        locales=list(portal.locales),
        site_url=portal.site_url,
        spokesperson=SpokespersonRead(**portal.spokesperson) if portal.spokesperson else None,
        links=[PortalLinkRead(**link) for link in portal.links],
        review_stages=[StageConfig(**stage) for stage in pipeline_of(portal).to_config()],
        standards=standard_of(portal).to_config(),
        created_at=portal.created_at,
        updated_at=portal.updated_at,
    )


async def get_portal(session: AsyncSession, portal_id: str) -> Portal:
    portal = await session.get(Portal, portal_id)
    if portal is None:
        raise portal_not_found(portal_id)
    return portal


async def list_portals(session: AsyncSession) -> list[Portal]:
    """Every portal: the central one first, then provinces by name."""
    rows = await session.execute(select(Portal).order_by(Portal.kind, Portal.name))
    return list(rows.scalars().all())


async def create_portal(session: AsyncSession, *, access: Access, data: PortalCreate) -> Portal:
    """A new portal (superadmin only)."""
    access.require_signed_in()
    if not access.is_superadmin:
        raise Forbidden(
            Msg("Chỉ quản trị hệ thống được tạo cổng.", "Only a superadmin may create portals.")
        )
    if await session.get(Portal, data.id) is not None:
        raise Conflict(
            Msg("Cổng '{id}' đã tồn tại.", "The portal '{id}' already exists.").format(id=data.id)
        )
    portal = Portal(
        id=data.id,
        name=nfc(data.name),
        kind=data.kind,
        locales=list(data.locales),
        site_url=str(data.site_url) if data.site_url else None,
        spokesperson=data.spokesperson.model_dump(mode="json") if data.spokesperson else None,
        links=[link.model_dump(mode="json") for link in data.links],
    )
    session.add(portal)
    await session.flush()
    return portal


async def update_portal(
    session: AsyncSession, *, access: Access, portal_id: str, data: PortalUpdate
) -> Portal:
    """Change a portal's profile or configuration (its admins)."""
    portal = await get_portal(session, portal_id)
    access.require_role(portal_id, Role.ADMIN)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "review_stages" in changes and changes["review_stages"] is not None:
        try:
            pipeline_from_config(changes["review_stages"])
        except ValueError as exc:
            raise Unprocessable(
                errors=[FieldError("review_stages", Msg(f"Cấu hình không hợp lệ: {exc}", str(exc)))]
            ) from exc
    if "standards" in changes and changes["standards"] is not None:
        try:
            PostingStandard.from_config(changes["standards"])
        except (ValueError, TypeError) as exc:
            raise Unprocessable(
                errors=[FieldError("standards", Msg(f"Cấu hình không hợp lệ: {exc}", str(exc)))]
            ) from exc
    for key, value in changes.items():
        if key == "name" and value is not None:
            value = nfc(value)
        setattr(portal, key, value)
    portal.updated_at = utcnow()
    await session.flush()
    return portal


def category_read(category: Category) -> CategoryRead:
    return CategoryRead(
        id=category.id,
        portal=category.portal_id,
        name=category.name,
        slug=category.slug,
        parent_id=category.parent_id,
        position=category.position,
    )


async def list_categories(session: AsyncSession, portal_id: str) -> list[Category]:
    await get_portal(session, portal_id)
    rows = await session.execute(
        select(Category)
        .where(Category.portal_id == portal_id)
        .order_by(Category.position, Category.name)
    )
    return _tree_order(list(rows.scalars().all()))


def _tree_order(categories: list[Category]) -> list[Category]:
    """Parents before their children, siblings by position (a depth-first walk)."""
    children: dict[str | None, list[Category]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    ordered: list[Category] = []

    def walk(parent: str | None) -> None:
        for child in children.get(parent, []):
            ordered.append(child)
            walk(child.id)

    walk(None)
    return ordered


async def _category(session: AsyncSession, portal_id: str, category_id: str) -> Category:
    category = await session.get(Category, category_id)
    if category is None or category.portal_id != portal_id:
        raise CategoryNotFound(
            Msg(
                "Không có chuyên mục '{id}' trong cổng này.",
                "There is no category '{id}' in this portal.",
            ).format(id=category_id)
        )
    return category


async def _unique_category_slug(
    session: AsyncSession, portal_id: str, slug: str, exclude: str | None = None
) -> None:
    query = select(Category.id).where(Category.portal_id == portal_id, Category.slug == slug)
    existing = (await session.execute(query)).scalar_one_or_none()
    if existing is not None and existing != exclude:
        raise Conflict(
            Msg(
                "Đường dẫn chuyên mục '{slug}' đã được dùng.",
                "The category slug '{slug}' is already used.",
            ).format(slug=slug),
            errors=[FieldError("slug", Msg("Đã được dùng.", "Already used."), "taken")],
        )


def _slug_or_error(name: str, slug: str | None) -> str:
    result = slug or slugify(name)
    if not result:
        raise Unprocessable(
            errors=[
                FieldError(
                    "slug",
                    Msg(
                        "Không tạo được đường dẫn từ tên; hãy nhập slug.",
                        "No slug can be made from the name; give a slug.",
                    ),
                    "required",
                )
            ]
        )
    return result


async def create_category(
    session: AsyncSession, *, access: Access, portal_id: str, data: CategoryCreate
) -> Category:
    """A new category (portal admins); the slug folds the name when not given."""
    await get_portal(session, portal_id)
    access.require_role(portal_id, Role.ADMIN)
    slug = _slug_or_error(data.name, data.slug)
    await _unique_category_slug(session, portal_id, slug)
    if data.parent_id is not None:
        await _category(session, portal_id, data.parent_id)
    category = Category(
        portal_id=portal_id,
        name=nfc(data.name),
        slug=slug,
        parent_id=data.parent_id,
        position=data.position,
    )
    session.add(category)
    await session.flush()
    return category


async def update_category(
    session: AsyncSession, *, access: Access, portal_id: str, category_id: str, data: CategoryUpdate
) -> Category:
    """Rename, move or reorder a category (portal admins); cycles are refused."""
    await get_portal(session, portal_id)
    access.require_role(portal_id, Role.ADMIN)
    category = await _category(session, portal_id, category_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if changes.get("slug"):
        await _unique_category_slug(session, portal_id, changes["slug"], exclude=category.id)
    if "parent_id" in changes and changes["parent_id"] is not None:
        await _check_no_cycle(session, portal_id, category.id, changes["parent_id"])
    for key, value in changes.items():
        if key == "name" and value is not None:
            value = nfc(value)
        if value is not None or key == "parent_id":
            setattr(category, key, value)
    await session.flush()
    return category


async def _check_no_cycle(
    session: AsyncSession, portal_id: str, category_id: str, parent_id: str
) -> None:
    current: str | None = parent_id
    while current is not None:
        if current == category_id:
            raise Unprocessable(
                errors=[
                    FieldError(
                        "parent_id",
                        Msg(
                            "Chuyên mục không thể nằm trong chính nó.",
                            "A category cannot be inside itself.",
                        ),
                        "cycle",
                    )
                ]
            )
        current = (await _category(session, portal_id, current)).parent_id


async def delete_category(
    session: AsyncSession, *, access: Access, portal_id: str, category_id: str
) -> None:
    """Delete an empty category (no sub-categories, no content filed in it)."""
    await get_portal(session, portal_id)
    access.require_role(portal_id, Role.ADMIN)
    category = await _category(session, portal_id, category_id)
    children = await session.scalar(
        select(func.count()).select_from(Category).where(Category.parent_id == category.id)
    )
    # `live_category_id` outlives a takedown, so count only what is online now.
    used = await session.scalar(
        select(func.count())
        .select_from(Item)
        .where(Item.live_category_id == category.id, Item.is_live.is_(True))
    )
    if children or used:
        raise CategoryInUse(
            Msg(
                "Chuyên mục còn {c} chuyên mục con và {n} bài đang đăng; hãy chuyển chúng trước.",
                "The category still has {c} sub-categories and {n} live items; move them first.",
            ).format(c=children, n=used)
        )
    await session.delete(category)
    await session.flush()
