"""Portals and categories API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from services.common.caching import cached_json
from services.common.deps import SessionDep, reject_nul_bytes
from services.common.paths import CategoryIdPath, PortalPath
from services.content.access import SignedInAccessDep
from services.content.portals import service
from services.content.portals.schemas import (
    CategoryCreate,
    CategoryList,
    CategoryRead,
    CategoryUpdate,
    PortalCreate,
    PortalList,
    PortalRead,
    PortalUpdate,
)

router = APIRouter(prefix="/v1/portals", dependencies=[Depends(reject_nul_bytes)])


@router.get("", tags=["portals"], operation_id="listPortals", response_model=PortalList)
async def list_portals(request: Request, session: SessionDep) -> Response:
    """Every portal of the federation: the central portal and the provinces."""
    portals = await service.list_portals(session)
    page = PortalList(items=[service.portal_read(p) for p in portals])
    return cached_json(request, page, public=True, max_age=300)


@router.post("", tags=["portals"], operation_id="createPortal", status_code=201)
async def create_portal(
    body: PortalCreate, session: SessionDep, access: SignedInAccessDep
) -> PortalRead:
    """Create a portal (superadmin)."""
    return service.portal_read(await service.create_portal(session, access=access, data=body))


@router.get("/{portal}", tags=["portals"], operation_id="getPortal", response_model=PortalRead)
async def get_portal(portal: PortalPath, request: Request, session: SessionDep) -> Response:
    """A portal's profile: name, kind, spokesperson, department links, review stages."""
    read = service.portal_read(await service.get_portal(session, portal))
    return cached_json(request, read, public=True, max_age=300)


@router.patch("/{portal}", tags=["portals"], operation_id="updatePortal")
async def update_portal(
    portal: PortalPath, body: PortalUpdate, session: SessionDep, access: SignedInAccessDep
) -> PortalRead:
    """Change a portal's profile, review stages or posting standard (portal admin)."""
    updated = await service.update_portal(session, access=access, portal_id=portal, data=body)
    return service.portal_read(updated)


@router.get(
    "/{portal}/categories",
    tags=["categories"],
    operation_id="listCategories",
    response_model=CategoryList,
)
async def list_categories(portal: PortalPath, request: Request, session: SessionDep) -> Response:
    """The portal's category tree, parents before children, siblings by position."""
    categories = await service.list_categories(session, portal)
    page = CategoryList(items=[service.category_read(c) for c in categories])
    return cached_json(request, page, public=True, max_age=300)


@router.post(
    "/{portal}/categories", tags=["categories"], operation_id="createCategory", status_code=201
)
async def create_category(
    portal: PortalPath, body: CategoryCreate, session: SessionDep, access: SignedInAccessDep
) -> CategoryRead:
    """Create a category; its slug folds the name when none is given (portal admin)."""
    category = await service.create_category(session, access=access, portal_id=portal, data=body)
    return service.category_read(category)


@router.patch(
    "/{portal}/categories/{category_id}", tags=["categories"], operation_id="updateCategory"
)
async def update_category(
    portal: PortalPath,
    category_id: CategoryIdPath,
    body: CategoryUpdate,
    session: SessionDep,
    access: SignedInAccessDep,
) -> CategoryRead:
    """Rename, move or reorder a category (portal admin)."""
    category = await service.update_category(
        session, access=access, portal_id=portal, category_id=category_id, data=body
    )
    return service.category_read(category)


@router.delete(
    "/{portal}/categories/{category_id}",
    tags=["categories"],
    operation_id="deleteCategory",
    status_code=204,
)
async def delete_category(
    portal: PortalPath, category_id: CategoryIdPath, session: SessionDep, access: SignedInAccessDep
) -> None:
    """Delete a category that holds nothing (portal admin)."""
    await service.delete_category(session, access=access, portal_id=portal, category_id=category_id)
