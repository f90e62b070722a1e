"""The published set, for consumers that rebuild or check their copy (search reindex).

`GET /internal/published` pages through every live article and legal document of every
portal, in id order, each in the same form as its outbox event. It is internal: the
gateway does not route `/internal/`, and when `CONTENT_OUTBOX_TOKEN` is set the caller must
present it, like event deliveries do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import and_, func, select

from services.common.deps import SessionDep, require_shared_secret
from services.common.errors import BadRequest
from services.common.i18n import Msg
from services.content.items import repository as repo
from services.content.items.kinds import KINDS
from services.content.items.service import public_payload
from services.content.models import Item, Portal, Revision
from services.content.settings import ContentSettings

router = APIRouter(include_in_schema=False)


class PublishedEvent(BaseModel):
    topic: str
    key: str
    version: int
    payload: dict[str, Any]


class PublishedPage(BaseModel):
    items: list[PublishedEvent]
    next_cursor: str | None = None
    total: int | None = None  # on the first page: how many there are in all


def _check_token(request: Request) -> None:
    settings: ContentSettings = request.app.state.settings
    require_shared_secret(request, settings.outbox_token)


@router.get("/internal/published")
async def published(
    request: Request,
    session: SessionDep,
    kind: Annotated[list[str] | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> PublishedPage:
    """Live items in id order, each as its `<kind>.published` event would carry it."""
    _check_token(request)
    kinds = kind or ["article", "document"]
    if unknown := set(kinds) - set(KINDS):
        raise BadRequest(
            Msg("Loại không tồn tại: {k}", "Unknown kind(s): {k}").format(k=sorted(unknown))
        )
    query = (
        select(Item, Revision.data)
        .join(Revision, and_(Revision.item_id == Item.id, Revision.number == Item.live_revision))
        .where(Item.is_live.is_(True), Item.kind.in_(kinds))
        .order_by(Item.id)
        .limit(limit + 1)
    )
    if after:
        query = query.where(Item.id > after)
    rows = (await session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    portals = {p.id: p for p in (await session.execute(select(Portal))).scalars()}
    categories = await repo.categories_by_id(
        session, {str(data["category_id"]) for _, data in rows if data.get("category_id")}
    )
    items = []
    for item, data in rows:
        spec = KINDS[item.kind]
        payload = await public_payload(
            session, spec, item, portal=portals[item.portal_id], data=data, categories=categories
        )
        items.append(
            PublishedEvent(
                topic=f"{item.kind}.published", key=item.id, version=item.version, payload=payload
            )
        )
    total = None
    if not after:
        total = await session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.is_live.is_(True), Item.kind.in_(kinds))
        )
    return PublishedPage(
        items=items, next_cursor=rows[-1][0].id if more and rows else None, total=total
    )
