"""Turning an item and one of its revisions into the API's read models."""

from __future__ import annotations

from typing import Any

from services.content.items.kinds import KindSpec
from services.content.items.schemas import CategoryRef, FeaturedMedia, ItemMeta
from services.content.models import Category, Item, Portal
from services.content.sanitize import html_to_text
from services.content.workflow import Action, Pipeline, Status


def item_url(spec: KindSpec, portal: Portal, slug: str) -> str:
    """The item's address on its portal's site, or its API address when none is set."""
    if portal.site_url:
        return f"{portal.site_url.rstrip('/')}/{spec.plural}/{slug}"
    return f"/v1/portals/{portal.id}/{spec.plural}/by-slug/{slug}"


def to_read(
    spec: KindSpec,
    item: Item,
    data: dict[str, Any],
    *,
    portal: Portal,
    pipeline: Pipeline,
    categories: dict[str, Category],
    full: bool,
    revision: int,
    allowed: list[Action] | None = None,
    public: bool = False,
) -> ItemMeta:
    """The read model of `item` showing revision `revision` whose fields are `data`.

    The public view is the live revision: it reads as published whatever the newsroom is
    doing with a newer revision, and shows nothing of the workflow behind it.
    """
    stage = None
    status = item.status
    if public:
        status = Status.PUBLISHED.value
    elif item.status == Status.IN_REVIEW and item.stage is not None:
        stage = pipeline.stages[min(item.stage, len(pipeline.stages) - 1)].key
    meta: dict[str, Any] = {
        "id": item.id,
        "portal": item.portal_id,
        "slug": item.slug,
        "locale": item.locale,
        "translation_of": item.translation_of,
        "status": status,
        "stage": stage,
        "is_live": item.is_live,
        "revision": revision,
        "live_revision": item.live_revision,
        "published_at": item.published_at,
        "updated_at": item.updated_at,
        "publish_at": None if public else item.publish_at,
        "unpublish_at": item.unpublish_at,
        "url": item_url(spec, portal, item.slug),
        "allowed_actions": allowed,
    }
    fields = dict(data)
    if not full:
        fields.pop("body", None)
    if spec.has_category:
        category = categories.get(fields.pop("category_id", None) or "")
        fields["category"] = (
            CategoryRef(id=category.id, name=category.name, slug=category.slug)
            if category
            else None
        )
    if spec.kind == "article":
        media_id = fields.pop("featured_media_id", None)
        caption = fields.pop("featured_caption", None)
        credit = fields.pop("featured_credit", None)
        fields["featured_media"] = (
            FeaturedMedia(id=media_id, caption=caption, credit=credit, url=f"/v1/media/{media_id}")
            if media_id
            else None
        )
    model = spec.read_model if full else spec.summary_model
    allowed_fields = set(model.model_fields)
    return model.model_validate(
        {**{k: v for k, v in fields.items() if k in allowed_fields}, **meta}
    )


def event_payload(read: ItemMeta, data: dict[str, Any], kind: str) -> dict[str, Any]:
    """What subscribers (search, webhooks) receive: the public item plus its plain text."""
    payload = read.model_dump(mode="json", exclude={"allowed_actions"})
    payload["type"] = kind
    payload["body_text"] = html_to_text(data.get("body") or "")[:100_000]
    return payload
