"""The rules of the media service: who may see and change what, and what content uses.

No FastAPI here: the router parses requests and calls these functions with the session.
Uploads become assets in `services.media.ingest`; storage keys and the API view are here.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import anyio
import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import ServiceUnavailable, Unprocessable
from services.common.i18n import Msg
from services.common.portals import ContentUnreachable, PortalDirectory, is_portal_id
from services.common.roles import Caller
from services.common.security import Principal
from services.media import repository as repo
from services.media.av import AvTools
from services.media.errors import MediaInUse, MediaNotFound, NotPortalMember, PortalNotFound
from services.media.images import FORMATS, RENDITIONS, make_renditions
from services.media.models import MediaAsset, UsageItem, utcnow
from services.media.schemas import (
    FocalPoint,
    MediaRead,
    MediaUpdate,
    Renditions,
    UsageRead,
    UsageUpdate,
)
from services.media.settings import MediaSettings
from services.media.sniff import visible_name
from services.media.storage import Storage

PREFIX = "/v1/media"
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class MediaContext:
    """What the rules need besides the session.

    `processing` caps how many files are checked and rendered at once (decoding a large
    image takes hundreds of MB); it is made when the app starts, inside the event loop.
    """

    storage: Storage
    settings: MediaSettings
    tools: AvTools
    processing: anyio.CapacityLimiter | None = None
    portals: PortalDirectory | None = None  # which portals exist (content), set at start

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-heavy `fn` in a worker thread, at most `processing_slots` at a time."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.processing)

    @property
    def tmp_dir(self) -> Path:
        return self.settings.data_dir / "media-uploads"


# --- keys and URLs -----------------------------------------------------------------------


def original_key(asset: MediaAsset) -> str:
    return f"o/{asset.id}.{asset.ext}"


def rendition_key(media_id: str, name: str, fmt: str) -> str:
    return f"r/{media_id}/{name}.{fmt}"


def poster_key(media_id: str) -> str:
    return f"p/{media_id}.jpg"


def all_keys(asset: MediaAsset) -> list[str]:
    keys = [original_key(asset)]
    if asset.kind == "image":
        keys += [rendition_key(asset.id, n, f) for n in RENDITIONS for f in FORMATS]
    if asset.has_poster:
        keys.append(poster_key(asset.id))
    return keys


def focal_of(asset: MediaAsset) -> tuple[float, float] | None:
    if asset.focal_x is None or asset.focal_y is None:
        return None
    return (asset.focal_x, asset.focal_y)


def rendition_version(asset: MediaAsset) -> str:
    """Changes exactly when the renditions do (new bytes or a new focal point)."""
    seed = f"{asset.stored_sha256}:{asset.focal_x}:{asset.focal_y}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def present(asset: MediaAsset, *, public: bool, users: list[UsageItem] | None) -> MediaRead:
    """The API view of an asset; `users` only for members of its portal."""
    base = f"{PREFIX}/{asset.id}"
    renditions = None
    if asset.kind == "image":
        v = rendition_version(asset)
        renditions = Renditions(**{name: f"{base}/renditions/{name}?v={v}" for name in RENDITIONS})
    focal = focal_of(asset)
    return MediaRead(
        id=asset.id,
        portal=asset.portal_id,
        kind=asset.kind,
        mime=asset.mime,
        size=asset.size,
        sha256=asset.sha256,
        name=visible_name(asset.original_name),
        width=asset.width,
        height=asset.height,
        duration=asset.duration,
        caption=asset.caption,
        credit=asset.credit,
        alt=asset.alt,
        focal=FocalPoint(x=focal[0], y=focal[1]) if focal else None,
        url=f"{base}/file",
        renditions=renditions,
        poster=f"{base}/poster" if asset.has_poster else None,
        public=public,
        usable_as_featured=asset.kind == "image" and bool(asset.alt),
        used_by=None
        if users is None
        else [
            UsageRead(item_id=u.item_id, portal=u.portal_id, published=u.published) for u in users
        ],
        created_at=asset.created_at,
        updated_at=asset.updated_at,
    )


# --- who may do what ---------------------------------------------------------------------
# `principal` is always the caller as content sees them now (services.common.roles), never
# the roles inside the token: a removed member or a deactivated user is refused here too.


def is_member(principal: Principal | None, portal: str) -> bool:
    return principal is not None and (
        principal.is_superadmin or principal.role_in(portal) is not None
    )


def _not_member(portal: str) -> NotPortalMember:
    return NotPortalMember(
        Msg(
            "Bạn không thuộc cổng thông tin '{p}'.", "You are not a member of portal '{p}'."
        ).format(p=portal)
    )


def check_uploader(principal: Principal, portal: str) -> None:
    """403 unless the caller may upload to `portal`."""
    if not is_member(principal, portal):
        raise _not_member(portal)


async def check_upload_target(ctx: MediaContext, principal: Principal, portal: str) -> None:
    """Whether the caller may upload into `portal`: run as soon as the form names it, so a
    refused upload stops before its file is written."""
    check_uploader(principal, portal)
    await check_portal_exists(ctx, principal, portal)


async def check_portal_exists(ctx: MediaContext, principal: Principal, portal: str) -> None:
    """404 for an upload into a portal that does not exist.

    A member's portal exists (content keeps no membership of a deleted portal), so only a
    superadmin's upload is checked with content; a malformed id is left to the form check.
    """
    if not principal.is_superadmin or not is_portal_id(portal):
        return
    if ctx.portals is None:
        raise ContentUnreachable()
    if await ctx.portals.get(portal) is None:
        raise PortalNotFound(
            Msg(
                "Không có cổng thông tin '{p}'; hãy tạo cổng trước khi tải tệp lên.",
                "There is no portal '{p}'; create the portal before uploading to it.",
            ).format(p=portal)
        )


def not_found(media_id: str) -> MediaNotFound:
    return MediaNotFound(
        Msg("Không có tệp '{i}'.", "There is no media '{i}'.").format(i=media_id[:64])
    )


async def visible(session: AsyncSession, caller: Caller, media_id: str) -> tuple[MediaAsset, bool]:
    """The asset and whether it is public; 404 for a draft asset of another portal.

    The caller's roles are asked of content only for a draft asset: public and anonymous
    reads never depend on content answering.
    """
    asset = await repo.get(session, media_id)
    if asset is None:
        raise not_found(media_id)
    public = await repo.is_public(session, asset.id)
    if not public and not is_member(await caller.current(), asset.portal_id):
        raise not_found(media_id)
    return asset, public


async def view(session: AsyncSession, asset: MediaAsset, *, member: bool) -> MediaRead:
    """The API view of an asset, its users included for members of its portal."""
    public = await repo.is_public(session, asset.id)
    users = await repo.users_of(session, asset.id) if member else None
    return present(asset, public=public, users=users)


async def read(session: AsyncSession, caller: Caller, media_id: str) -> MediaRead:
    """One asset's metadata (with its users for members of its portal)."""
    asset, public = await visible(session, caller, media_id)
    member = False
    if caller.signed_in:
        try:
            member = is_member(await caller.current(), asset.portal_id)
        except ServiceUnavailable:
            # A public asset: when content cannot tell, show what everyone sees.
            member = False
    users = await repo.users_of(session, asset.id) if member else None
    return present(asset, public=public, users=users)


async def list_assets(
    session: AsyncSession,
    principal: Principal,
    *,
    portal: str,
    kind: str | None,
    after: tuple[Any, str] | None,
    limit: int,
) -> list[tuple[MediaAsset, MediaRead]]:
    """A portal's media library, newest first (members only), with each API view."""
    if not is_member(principal, portal):
        raise _not_member(portal)
    assets = await repo.page(session, portal=portal, kind=kind, after=after, limit=limit)
    public = await repo.public_ids(session, (a.id for a in assets))
    return [(a, present(a, public=a.id in public, users=None)) for a in assets]


async def delete_objects(storage: Storage, keys: list[str]) -> None:
    """Remove stored objects (after a deletion committed, or what a failed upload wrote)."""
    for key in keys:
        await storage.delete(key)


# --- changes -----------------------------------------------------------------------------


async def _writable(
    session: AsyncSession, principal: Principal, media_id: str, *, admin: bool
) -> MediaAsset:
    asset, _public = await visible(session, Caller.resolved(principal), media_id)
    portal = asset.portal_id
    if not is_member(principal, portal):
        raise _not_member(portal)
    if admin and not (principal.is_superadmin or principal.role_in(portal) == "admin"):
        raise NotPortalMember(
            Msg(
                "Chỉ quản trị cổng '{p}' được xoá tệp.",
                "Only an admin of portal '{p}' may delete media.",
            ).format(p=portal)
        )
    return asset


async def update(
    session: AsyncSession,
    ctx: MediaContext,
    principal: Principal,
    media_id: str,
    changes: MediaUpdate,
) -> MediaRead:
    """Change caption, credit, alt text or focal point (members of its portal)."""
    asset = await _writable(session, principal, media_id, admin=False)
    given = changes.model_fields_set
    for name in ("caption", "credit", "alt"):
        if name in given:
            setattr(asset, name, getattr(changes, name) or None)
    if "focal" in given:
        focal = changes.focal
        new = (focal.x, focal.y) if focal else (None, None)
        if new != (asset.focal_x, asset.focal_y):
            asset.focal_x, asset.focal_y = new
            if asset.kind == "image":
                await _rerender(ctx, asset)
    asset.updated_at = utcnow()
    await session.flush()
    public = await repo.is_public(session, asset.id)
    return present(asset, public=public, users=await repo.users_of(session, asset.id))


async def _rerender(ctx: MediaContext, asset: MediaAsset) -> None:
    original = await ctx.storage.read(original_key(asset))
    renditions = await ctx.in_worker(make_renditions, original, focal_of(asset))
    for (name, fmt), data in renditions.items():
        await ctx.storage.put_bytes(
            rendition_key(asset.id, name, fmt), data, content_type=FORMATS[fmt]
        )


async def delete(session: AsyncSession, principal: Principal, media_id: str) -> list[str]:
    """Delete an asset's row (portal admins); refused while content uses it.

    Returns the storage keys to remove once the transaction has committed (a failed
    commit then leaves the files of a row that still exists, never a row without files).
    """
    asset = await _writable(session, principal, media_id, admin=True)
    users = await repo.users_of(session, asset.id)
    if users:
        raise MediaInUse(
            Msg(
                "Tệp đang được dùng bởi {n} mục ({i}); gỡ khỏi các mục đó trước.",
                "The media is used by {n} item(s) ({i}); remove it from them first.",
            ).format(n=len(users), i=", ".join(u.item_id for u in users[:10]))
        )
    keys = all_keys(asset)
    await repo.remove(session, asset)
    return keys


# --- usage by content --------------------------------------------------------------------


async def set_usage(session: AsyncSession, item_id: str, usage: UsageUpdate) -> bool:
    """Record what an item uses; an older version than the one held is ignored."""
    held = await repo.usage_item(session, item_id)
    if held is not None and held.version > usage.version:
        return False
    await repo.set_usage(
        session,
        item_id=item_id,
        portal=usage.portal,
        version=usage.version,
        published=usage.published,
        media_ids=usage.media_ids,
    )
    return True


# Only what can be a media id (32 hex digits): anything else names no asset.
_MEDIA_LINK = re.compile(r"/v1/media/([0-9a-f]{32})(?![0-9a-f])")
# An item naming more is cut here rather than refused: a refused event would stop the
# whole stream of content's events to media (the relay retries it forever). What is cut
# only stays unused: not public, and deletable.
MAX_EVENT_MEDIA = 1000


def _linked_ids(body: str) -> list[str]:
    """Media ids in a body's links, as written or percent-/entity-escaped."""
    return _MEDIA_LINK.findall(unquote(html.unescape(body)).replace("\\", "/"))


def usage_from_event(event: Mapping[str, Any]) -> tuple[str, UsageUpdate] | None:
    """Content's outbox event as a usage record (None for events about nothing we track).

    The item's portal comes with the event; which of the ids count is decided when the
    usage is read (`repository`: only the asset's own portal's items)."""
    topic = str(event.get("topic", ""))
    action = topic.rpartition(".")[2]
    if action not in {"published", "updated", "unpublished"}:
        return None
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise Unprocessable(Msg("Sự kiện thiếu payload.", "The event has no payload."))
    named: list[str] = []
    featured = payload.get("featured_media")
    if isinstance(featured, dict) and featured.get("id"):
        named.append(str(featured["id"]))
    named += [str(a) for a in payload.get("attachments") or [] if a]
    named += _linked_ids(str(payload.get("body") or ""))
    ids = [i for i in dict.fromkeys(named) if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i)]
    if len(ids) > MAX_EVENT_MEDIA:
        log.warning(
            "event %s names %d media; the first %d are kept", topic, len(ids), MAX_EVENT_MEDIA
        )
        ids = ids[:MAX_EVENT_MEDIA]
    try:
        usage = UsageUpdate(
            portal=str(payload.get("portal") or ""),
            published=action != "unpublished",
            version=int(event.get("version") or 0),
        )
    except (ValidationError, ValueError) as exc:
        raise Unprocessable(
            Msg("Sự kiện không hợp lệ: {e}", "Malformed event: {e}").format(e=str(exc)[:200])
        ) from exc
    usage.media_ids = sorted(ids)  # past the API's limit of 200 on purpose (see above)
    item_id = str(event.get("key") or payload.get("id") or "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", item_id):
        raise Unprocessable(Msg("Sự kiện thiếu mã mục hợp lệ.", "The event names no valid item."))
    return item_id, usage
