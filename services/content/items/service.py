"""The rules of articles, legal documents and pages: drafts, edits, workflow, revisions.

Every kind runs through these functions with its `KindSpec`. Visibility is decided here:
staff (members of the item's portal) see working revisions; everyone else sees only the
live revision of live items, and another portal's drafts answer 404, never 403, so their
existence does not leak. Each change to live content writes an outbox event in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import FieldError, Forbidden, NotFound, Unprocessable
from services.common.i18n import Msg
from services.common.outbox import emit
from services.common.text import slugify
from services.content.access import Access
from services.content.items import repository as repo
from services.content.items.kinds import KindSpec, SubmitContext
from services.content.items.schemas import ItemMeta, TransitionIn
from services.content.items.views import event_payload, to_read
from services.content.media import FeaturedImageCheck
from services.content.models import OUTBOX, Item, Portal, Revision
from services.content.portals.service import get_portal, pipeline_of, standard_of
from services.content.standards import StandardsNotMet
from services.content.workflow import (
    Action,
    Actor,
    ItemState,
    Pipeline,
    Status,
    TransitionRequest,
    allowed_actions,
    can_edit,
    decide,
)


class ItemNotFound(NotFound):
    slug = "item-not-found"


def not_found(spec: KindSpec, ref: str) -> ItemNotFound:
    return ItemNotFound(
        Msg("Không tìm thấy {kind} '{ref}'.", "There is no {kind} '{ref}'.").format(
            kind=spec.kind, ref=ref
        )
    )


def state_of(item: Item) -> ItemState:
    status = Status(item.status)
    return ItemState(
        status=status,
        stage=item.stage if status is Status.IN_REVIEW else None,
        is_live=item.is_live,
        author_id=item.author_id,
    )


async def render(
    session: AsyncSession,
    spec: KindSpec,
    item: Item,
    *,
    portal: Portal,
    access: Access,
    full: bool = True,
    data: dict[str, Any] | None = None,
) -> ItemMeta:
    """The read model as this caller may see it: working revision for staff, else live."""
    staff = access.is_staff(portal.id)
    number = item.current_revision if staff else item.live_revision
    assert number is not None
    if data is None:
        revision = await repo.get_revision(session, item.id, number)
        assert revision is not None
        data = revision.data
    pipeline = pipeline_of(portal)
    categories = await repo.categories_by_id(session, {data.get("category_id") or ""} - {""})
    allowed = None
    if staff and access.user_id is not None:
        allowed = allowed_actions(state_of(item), access.actor(portal.id), pipeline)
    return to_read(
        spec,
        item,
        data,
        portal=portal,
        pipeline=pipeline,
        categories=categories,
        full=full,
        revision=number,
        allowed=allowed,
        public=not staff,
    )


async def visible_item(
    session: AsyncSession, spec: KindSpec, *, access: Access, portal: str, ref: str, by_slug: bool
) -> Item:
    """The item if this caller may see it; 404 otherwise (drafts of others never leak)."""
    if by_slug:
        item = await repo.get_by_slug(session, portal, spec.kind, ref)
    else:
        item = await repo.get_item(session, portal, spec.kind, ref)
    if item is None or not (item.is_live or access.is_staff(portal)):
        raise not_found(spec, ref)
    return item


async def _writable_item(
    session: AsyncSession, spec: KindSpec, *, access: Access, portal: str, item_id: str
) -> Item:
    """The item, locked, for a member of its portal; 403 to others if it is public."""
    access.require_signed_in()
    item = await repo.get_item(session, portal, spec.kind, item_id, for_update=True)
    if item is None or not (item.is_live or access.is_staff(portal)):
        raise not_found(spec, item_id)
    if not access.is_staff(portal):
        raise Forbidden(
            Msg(
                "Bạn không phải thành viên của cổng '{p}'.",
                "You are not a member of portal '{p}'.",
            ).format(p=portal)
        )
    return item


async def _check_category(session: AsyncSession, portal: str, data: dict[str, Any]) -> None:
    category_id = data.get("category_id")
    if category_id and not await repo.category_in_portal(session, portal, category_id):
        raise Unprocessable(
            errors=[
                FieldError(
                    "category_id",
                    Msg(
                        "Chuyên mục '{id}' không thuộc cổng '{p}'.",
                        "The category '{id}' is not in portal '{p}'.",
                    ).format(id=category_id, p=portal),
                    "unknown_category",
                )
            ]
        )


async def create_item(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    body: BaseModel,
    now: datetime,
) -> ItemMeta:
    """A new draft (any member of the portal) as revision 1."""
    portal = await get_portal(session, portal_id)
    user_id = access.require_signed_in()
    if not access.is_staff(portal_id):
        raise Forbidden(
            Msg("Bạn không phải thành viên của cổng này.", "You are not a member of this portal.")
        )
    data = spec.prepare(body.model_dump(mode="json"))
    locale = data.pop("locale", "vi")
    translation_of = data.pop("translation_of", None)
    wanted_slug = data.pop("slug", None)
    if locale not in portal.locales:
        raise Unprocessable(
            errors=[
                FieldError(
                    "locale",
                    Msg(
                        "Cổng này không dùng ngôn ngữ '{l}'.", "This portal does not use '{l}'."
                    ).format(l=locale),
                )
            ]
        )
    if translation_of is not None:
        await _check_translation(session, spec, portal_id, translation_of, locale)
    await _check_category(session, portal_id, data)
    base = wanted_slug or slugify(spec.title_of(data)) or spec.kind
    item = Item(
        portal_id=portal_id,
        kind=spec.kind,
        locale=locale,
        translation_of=translation_of,
        slug=await repo.free_slug(session, portal_id, spec.kind, base),
        status=Status.DRAFT.value,
        author_id=user_id,
        current_revision=1,
        version=1,
        created_at=now,
        updated_at=now,
        **spec.working_projection(data),
    )
    session.add(item)
    await session.flush()
    session.add(Revision(item_id=item.id, number=1, data=data, created_by=user_id, created_at=now))
    await session.flush()
    return await render(session, spec, item, portal=portal, access=access, data=data)


async def _check_translation(
    session: AsyncSession, spec: KindSpec, portal: str, original_id: str, locale: str
) -> None:
    original = await repo.get_item(session, portal, spec.kind, original_id)
    if (
        original is None
        or original.locale != "vi"  # originals are Vietnamese (see `translation_of`)
        or original.locale == locale
        or original.translation_of is not None
    ):
        raise Unprocessable(
            errors=[
                FieldError(
                    "translation_of",
                    Msg(
                        "Bản gốc phải là một mục cùng loại, cùng cổng, khác ngôn ngữ.",
                        "The original must be an item of the same kind and portal in another "
                        "locale.",
                    ),
                )
            ]
        )


async def update_item(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    item_id: str,
    body: BaseModel | None,
    now: datetime,
    note: str | None = None,
    replace: dict[str, Any] | None = None,
) -> ItemMeta:
    """Save an edit as a new revision; a live item stays online until it is republished."""
    item = await _writable_item(session, spec, access=access, portal=portal_id, item_id=item_id)
    portal = await get_portal(session, portal_id)
    pipeline = pipeline_of(portal)
    new_status = can_edit(state_of(item), access.actor(portal_id), pipeline)
    current = await repo.get_revision(session, item.id, item.current_revision)
    assert current is not None
    if replace is not None:
        data = replace
    else:
        assert body is not None
        changes = body.model_dump(mode="json", exclude_unset=True)
        if problems := spec.null_errors(changes):
            raise Unprocessable(errors=problems)
        changes = spec.prepare(changes)
        data = {**current.data, **changes}
    await _check_category(session, portal_id, data)
    if data == current.data:
        return await render(session, spec, item, portal=portal, access=access, data=data)
    from_status, from_stage = item.status, _stage_key(item, pipeline)
    for column, value in spec.working_projection(data).items():
        setattr(item, column, value)
    item.current_revision += 1
    item.status = new_status.value
    if new_status is not Status.IN_REVIEW:
        item.stage = None
    if from_status == Status.SCHEDULED:
        item.publish_at = None
    item.version += 1
    item.updated_at = now
    user_id = access.require_signed_in()
    session.add(
        Revision(
            item_id=item.id,
            number=item.current_revision,
            data=data,
            created_by=user_id,
            created_at=now,
            note=note,
        )
    )
    await _audit(session, item, access, "edit", from_status, from_stage, pipeline, now, note)
    await session.flush()
    return await render(session, spec, item, portal=portal, access=access, data=data)


async def restore_revision(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    item_id: str,
    number: int,
    now: datetime,
) -> ItemMeta:
    """Copy revision `number` into a new revision; the old one stays as it was."""
    # A write: check it like an edit first (403 on another portal's live item, 404 on drafts).
    item = await _writable_item(session, spec, access=access, portal=portal_id, item_id=item_id)
    revision = await repo.get_revision(session, item.id, number)
    if revision is None:
        raise NotFound(
            Msg("Không có phiên bản số {n}.", "There is no revision {n}.").format(n=number)
        )
    return await update_item(
        session,
        spec,
        access=access,
        portal_id=portal_id,
        item_id=item_id,
        body=None,
        now=now,
        note=f"restored from revision {number}",
        replace=dict(revision.data),
    )


async def transition(
    session: AsyncSession,
    spec: KindSpec,
    *,
    access: Access,
    portal_id: str,
    item_id: str,
    body: TransitionIn,
    now: datetime,
    media: FeaturedImageCheck | None = None,
) -> ItemMeta:
    """Move an item through the workflow (state, then role, then inputs, then standards).

    With `media`, the standard's gates also check the featured image with the media service."""
    item = await _writable_item(session, spec, access=access, portal=portal_id, item_id=item_id)
    portal = await get_portal(session, portal_id)
    await apply_transition(
        session,
        spec,
        item,
        portal=portal,
        actor=access.actor(portal_id),
        actor_name=access.full_name or access.username,
        request=TransitionRequest(
            action=body.action,
            now=now,
            comment=body.comment,
            publish_at=body.publish_at,
            unpublish_at=body.unpublish_at,
        ),
        media=media,
    )
    return await render(session, spec, item, portal=portal, access=access)


# Every step a person takes towards publication checks the posting standard again: the
# working revision may have been edited in review, or its featured image changed in media.
# (The scheduler's publish runs what `schedule` already checked.)
STANDARD_GATES = frozenset({Action.SUBMIT, Action.FORWARD, Action.PUBLISH, Action.SCHEDULE})


async def _check_standards(
    session: AsyncSession,
    spec: KindSpec,
    portal: Portal,
    item_id: str,
    data: dict[str, Any],
    media: FeaturedImageCheck | None,
) -> None:
    """422 `standards-not-met` with every miss; what media is asked (the featured image,
    a document's attachments, the media linked in the body) last."""
    category_ok = bool(data.get("category_id")) and await repo.category_in_portal(
        session, portal.id, data["category_id"]
    )
    problems = spec.submit_problems(data, SubmitContext(standard_of(portal), category_ok))
    relations = data.get("relations") or []
    if relations:
        problems += await _relation_problems(session, portal.id, item_id, relations)
    featured = (data.get("featured_media_id") or "").strip()
    if media is not None and featured:
        problems += await media.problems(featured, portal=portal.id)
    if media is not None and data.get("attachments"):
        problems += await media.attachment_problems(data["attachments"], portal=portal.id)
    if media is not None and data.get("body"):
        problems += await media.body_link_problems(data["body"], portal=portal.id)
    if problems:
        raise StandardsNotMet(
            Msg(
                "Còn {n} điểm chưa đạt chuẩn đăng tải; xem danh sách errors.",
                "{n} point(s) do not meet the posting standard; see errors.",
            ).format(n=len(problems)),
            errors=problems,
        )


async def _relation_problems(
    session: AsyncSession, portal: str, item_id: str, relations: list[dict[str, Any]]
) -> list[FieldError]:
    """A document may relate to a document of its own portal, or to one online anywhere
    (a province's letter citing the centre's decree); not to itself, and not to another
    portal's unpublished work, whose existence it must not reveal."""
    known = await repo.relatable_documents(session, portal, {r["document_id"] for r in relations})
    errors = []
    for index, relation in enumerate(relations):
        other = relation["document_id"]
        field = f"relations.{index}.document_id"
        if other == item_id:
            message = Msg(
                "Văn bản không thể liên quan đến chính nó.", "A document cannot relate to itself."
            )
            errors.append(FieldError(field, message, "relation_to_itself"))
        elif other not in known:
            message = Msg(
                "Không tìm thấy văn bản liên quan '{id}' trong cổng này hoặc trong các văn "
                "bản đã ban hành.",
                "The related document '{id}' is neither in this portal nor published.",
            ).format(id=other)
            errors.append(FieldError(field, message, "relation_not_found"))
    return errors


async def apply_transition(
    session: AsyncSession,
    spec: KindSpec,
    item: Item,
    *,
    portal: Portal,
    actor: Actor,
    actor_name: str,
    request: TransitionRequest,
    media: FeaturedImageCheck | None = None,
) -> None:
    """Decide, apply, audit and announce one transition (used by the API and the scheduler).

    Nothing is changed when a gate (`STANDARD_GATES`) finds problems (422) or `media`
    cannot check (503)."""
    pipeline = pipeline_of(portal)
    state = state_of(item)
    outcome = decide(state, actor, pipeline, request)
    revision = await repo.get_revision(session, item.id, item.current_revision)
    assert revision is not None
    if request.action in STANDARD_GATES and not actor.is_system:
        await _check_standards(session, spec, portal, item.id, revision.data, media)
    from_status, from_stage = item.status, _stage_key(item, pipeline)
    was_live = item.is_live
    item.status = outcome.status.value
    item.stage = outcome.stage
    item.is_live = outcome.is_live
    item.publish_at = outcome.publish_at if outcome.status is Status.SCHEDULED else None
    if outcome.status in {Status.SCHEDULED, Status.PUBLISHED}:
        item.unpublish_at = outcome.unpublish_at
    elif outcome.takes_down:
        item.unpublish_at = None
    item.version += 1
    item.updated_at = request.now
    topic = None
    if outcome.goes_live:
        item.live_revision = item.current_revision
        for column, value in spec.projection(revision.data).items():
            setattr(item, column, value)
        item.published_at = item.published_at or request.now
        await repo.replace_tags(session, item.id, revision.data.get("tags") or [])
        topic = "updated" if was_live else "published"
    if outcome.takes_down:
        item.live_revision = None
        await repo.replace_tags(session, item.id, [])
        topic = "unpublished"
    await session.flush()
    await repo.add_audit(
        session,
        item_id=item.id,
        portal_id=item.portal_id,
        actor_id=None if actor.is_system else actor.user_id,
        actor_name=actor_name,
        action=request.action.value,
        from_status=from_status,
        to_status=item.status,
        from_stage=from_stage,
        to_stage=_stage_key(item, pipeline),
        revision=item.current_revision,
        comment=request.comment,
        at=request.now,
    )
    if topic is not None:
        await announce(session, spec, item, portal=portal, topic=topic, data=revision.data)


async def announce(
    session: AsyncSession,
    spec: KindSpec,
    item: Item,
    *,
    portal: Portal,
    topic: str,
    data: dict[str, Any],
) -> None:
    """Write the outbox event of a change to live content, in the caller's transaction."""
    await emit(
        session,
        OUTBOX,
        topic=f"{spec.kind}.{topic}",
        key=item.id,
        version=item.version,
        payload=await public_payload(session, spec, item, portal=portal, data=data),
    )


async def public_payload(
    session: AsyncSession,
    spec: KindSpec,
    item: Item,
    *,
    portal: Portal,
    data: dict[str, Any],
    categories: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What subscribers receive about an item: its public read model and plain text."""
    if categories is None:
        categories = await repo.categories_by_id(session, {data.get("category_id") or ""} - {""})
    read = to_read(
        spec,
        item,
        data,
        portal=portal,
        pipeline=pipeline_of(portal),
        categories=categories,
        full=True,
        revision=item.live_revision or item.current_revision,
        public=item.is_live,
    )
    payload = event_payload(read, data, spec.kind)
    # Every kind carries a title and its version, so a consumer needs no per-kind rules.
    payload.setdefault("title", spec.title_of(data))
    payload["version"] = item.version
    return payload


def _stage_key(item: Item, pipeline: Pipeline) -> str | None:
    if item.status != Status.IN_REVIEW or item.stage is None:
        return None
    return pipeline.stages[min(item.stage, len(pipeline.stages) - 1)].key


async def _audit(
    session: AsyncSession,
    item: Item,
    access: Access,
    action: str,
    from_status: str,
    from_stage: str | None,
    pipeline: Pipeline,
    now: datetime,
    comment: str | None,
) -> None:
    await repo.add_audit(
        session,
        item_id=item.id,
        portal_id=item.portal_id,
        actor_id=access.user_id,
        actor_name=access.full_name or access.username,
        action=action,
        from_status=from_status,
        to_status=item.status,
        from_stage=from_stage,
        to_stage=_stage_key(item, pipeline),
        revision=item.current_revision,
        comment=comment,
        at=now,
    )


async def import_published(
    session: AsyncSession,
    spec: KindSpec,
    *,
    portal: Portal,
    author_id: str,
    actor_name: str,
    data: dict[str, Any],
    published_at: datetime,
    locale: str = "vi",
) -> Item:
    """Bring in an item already published on an old portal, keeping its date.

    Migrated content was published before the posting standards existed, so it enters
    live, as revision 1, with an `import` audit entry and a `published` event.
    """
    data = spec.prepare(dict(data))
    await _check_category(session, portal.id, data)
    base = slugify(spec.title_of(data)) or spec.kind
    item = Item(
        portal_id=portal.id,
        kind=spec.kind,
        locale=locale,
        slug=await repo.free_slug(session, portal.id, spec.kind, base),
        status=Status.PUBLISHED.value,
        is_live=True,
        author_id=author_id,
        current_revision=1,
        live_revision=1,
        version=1,
        published_at=published_at,
        created_at=published_at,
        updated_at=published_at,
        **spec.projection(data),
        **spec.working_projection(data),
    )
    session.add(item)
    await session.flush()
    session.add(
        Revision(
            item_id=item.id,
            number=1,
            data=data,
            created_by=author_id,
            created_at=published_at,
            note="imported",
        )
    )
    await repo.replace_tags(session, item.id, data.get("tags") or [])
    await repo.add_audit(
        session,
        item_id=item.id,
        portal_id=portal.id,
        actor_id=author_id,
        actor_name=actor_name,
        action="import",
        from_status=None,
        to_status=item.status,
        from_stage=None,
        to_stage=None,
        revision=1,
        comment=None,
        at=published_at,
    )
    await session.flush()
    await announce(session, spec, item, portal=portal, topic="published", data=data)
    return item
