"""The media API: upload, metadata, files, renditions, posters; content's usage intake."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.background import BackgroundTask

from services.common.deps import (
    SessionDep,
    reject_nul_bytes,
    require_shared_secret,
)
from services.common.errors import BadRequest
from services.common.i18n import Msg
from services.common.pagination import (
    CursorParam,
    InvalidCursor,
    LimitParam,
    decode_cursor,
    encode_cursor,
)
from services.common.paths import MediaIdPath
from services.common.roles import ROLE_RESPONSES, CallerDep, CurrentPrincipalDep
from services.media import ingest, service
from services.media.errors import MediaNotFound, RangeNotSatisfiable
from services.media.images import RENDITIONS
from services.media.schemas import MediaPage, MediaRead, MediaUpdate, UsageUpdate
from services.media.service import MediaContext
from services.media.sniff import visible_name
from services.media.storage import Storage
from services.media.upload import receive_upload

router = APIRouter(prefix="/v1/media", tags=["media"])
internal = APIRouter(include_in_schema=False)

YEAR = "public, max-age=31536000, immutable"
PRIVATE = "private, no-cache"
# User files are served from the platform's own origin: whatever a browser makes of them
# (a PDF viewer's script, a sniffed HTML page) runs sandboxed, without scripts, forms or
# same-origin access, and loads nothing.
USER_FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def _ctx(request: Request) -> MediaContext:
    ctx: MediaContext = request.app.state.media
    return ctx


_BAD_CURSOR = Msg(
    "Tham số cursor không hợp lệ; hãy dùng đúng giá trị next_cursor của trang trước.",
    "The cursor is not valid; pass the next_cursor of the previous page unchanged.",
)
# The body is parsed as it streams (not by FastAPI), so its shape is declared here.
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "portal"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "portal": {"type": "string", "example": "phu-yen"},
                    "caption": {"type": "string", "maxLength": 2000},
                    "credit": {"type": "string", "maxLength": 500},
                    "alt": {"type": "string", "maxLength": 1000},
                    "focal_x": {"type": "number", "minimum": 0, "maximum": 1},
                    "focal_y": {"type": "number", "minimum": 0, "maximum": 1},
                },
            }
        }
    },
}


@router.post(
    "",
    operation_id="upload_media",
    response_model=MediaRead,
    status_code=201,
    responses={
        200: {"description": "The same bytes were already uploaded to this portal."},
        **ROLE_RESPONSES,
        400: {
            "description": "Not a usable form (`bad-upload`, `bad-file-name`), or more than "
            "`MEDIA_MAX_BYTES_BEFORE_PORTAL` of the file before the `portal` field "
            "(`portal-field-first`: send `portal` first)."
        },
        403: {"description": "Not a member of the portal (`not-portal-member`)."},
        404: {"description": "The portal does not exist (`portal-not-found`)."},
        413: {"description": "Over the kind's size limit (`file-too-large`)."},
        415: {"description": "A type off the allow-list (`unsupported-media-type`)."},
        422: {
            "description": "Broken or hostile file (`broken-file`), an animation over the "
            "frames x pixels budget (`animation-too-large`), or invalid form fields."
        },
    },
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload_media(
    request: Request, session: SessionDep, principal: CurrentPrincipalDep, response: Response
) -> Any:
    """Upload a file (multipart: `file`, `portal`, optional caption/credit/alt/focal)."""
    ctx = _ctx(request)
    upload = await receive_upload(
        request,
        ctx.settings,
        ctx.tmp_dir,
        check_portal=partial(service.check_upload_target, ctx, principal),
    )
    asset, created = await ingest.create(session, ctx, principal, upload)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/media/{asset.id}"
    return await service.view(session, asset, member=True)


@router.get(
    "",
    operation_id="list_media",
    response_model=MediaPage,
    responses={**ROLE_RESPONSES, 403: {"description": "Not a member of the portal."}},
)
async def list_media(
    session: SessionDep,
    principal: CurrentPrincipalDep,
    portal: Annotated[str, Query(max_length=64, pattern=r"^[a-z0-9-]+$")],
    kind: Annotated[str | None, Query(pattern=r"^(image|video|audio|document)$")] = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Any:
    """A portal's media library, newest first (members of the portal)."""
    after_values = decode_cursor(cursor, arity=2)
    after = None
    if after_values is not None:
        try:
            moment = datetime.fromisoformat(str(after_values[0]))
        except ValueError as exc:
            raise InvalidCursor(_BAD_CURSOR) from exc
        if moment.tzinfo is None:
            raise InvalidCursor(_BAD_CURSOR)
        after = (moment, str(after_values[1]))
    found = await service.list_assets(
        session, principal, portal=portal, kind=kind, after=after, limit=limit + 1
    )
    page = found[:limit]
    last = page[-1][0] if page else None
    more = len(found) > limit and last is not None
    next_cursor = encode_cursor([last.created_at.isoformat(), last.id]) if more and last else None
    return MediaPage(items=[view for _, view in page], next_cursor=next_cursor)


# A draft asset's reader is checked with content: 503 when content cannot tell.
_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such media, or a draft asset of a portal you are not in."},
    503: {"description": "A draft asset, and your roles cannot be checked now."},
}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ROLE_RESPONSES,
    403: {"description": "Not a member (or, to delete, not an admin) of the asset's portal."},
    404: {"description": "No such media, or a draft asset of a portal you are not in."},
}


@router.get(
    "/{media_id}", operation_id="get_media", response_model=MediaRead, responses=_READ_RESPONSES
)
async def get_media(
    media_id: MediaIdPath, session: SessionDep, caller: CallerDep, request: Request
) -> Any:
    """One asset's metadata: public when published content uses it, else members only."""
    return await service.read(session, caller, media_id)


@router.patch(
    "/{media_id}",
    operation_id="update_media",
    response_model=MediaRead,
    responses=_WRITE_RESPONSES,
)
async def update_media(
    media_id: MediaIdPath,
    changes: MediaUpdate,
    session: SessionDep,
    principal: CurrentPrincipalDep,
    request: Request,
) -> Any:
    """Change caption, credit, alt text or focal point (members of the asset's portal)."""
    return await service.update(session, _ctx(request), principal, media_id, changes)


@router.delete(
    "/{media_id}", operation_id="delete_media", status_code=204, responses=_WRITE_RESPONSES
)
async def delete_media(
    media_id: MediaIdPath, session: SessionDep, principal: CurrentPrincipalDep, request: Request
) -> Response:
    """Delete an asset (portal admin); refused with 409 while content uses it."""
    keys = await service.delete(session, principal, media_id)
    # Runs after the response, so after the session dependency has committed.
    cleanup = BackgroundTask(service.delete_objects, _ctx(request).storage, keys)
    return Response(status_code=204, background=cleanup)


def content_disposition(name: str, *, inline: bool) -> str:
    """RFC 6266 with an ASCII fallback and the UTF-8 name (RFC 5987) for Vietnamese;
    invisible and bidi characters are dropped (again: rows stored before they were)."""
    name = visible_name(name)
    ascii_name = (
        unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
        .encode("ascii", "ignore")
        .decode()
    )
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_name).strip() or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return etag in [c.strip().removeprefix("W/") for c in header.split(",")]


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as (start, end inclusive); None means the whole file
    (no header, a syntax we ignore, or several ranges); 416 when it cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None  # RFC 9110: an invalid or multi-range header may be ignored
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        Msg(
            "Khoảng byte nằm ngoài tệp ({s} byte).",
            "The range lies outside the file ({s} bytes).",
        ).format(s=size),
        headers={"Content-Range": f"bytes */{size}"},
    )


async def _send(
    request: Request,
    storage: Storage,
    key: str,
    *,
    mime: str,
    etag: str,
    cache: str,
    disposition: str | None,
    vary: str | None = None,
) -> Response:
    headers = {
        "ETag": etag,
        "Cache-Control": cache,
        "Accept-Ranges": "bytes",
        **USER_FILE_HEADERS,
    }
    if vary:
        headers["Vary"] = vary
    if disposition:
        headers["Content-Disposition"] = disposition
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    size = await storage.size(key)
    if size is None:
        raise MediaNotFound(
            Msg("Tệp gốc không còn trong kho lưu trữ.", "The stored file is missing.")
        )
    if_range = request.headers.get("if-range")
    wanted = None
    if not if_range or if_range.strip() == etag:
        wanted = parse_range(request.headers.get("range"), size)
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            storage.stream(key),
            media_type=mime,
            headers=headers,
        )
    start, end = wanted
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        storage.stream(key, start, end - start + 1),
        status_code=206,
        media_type=mime,
        headers=headers,
    )


@router.get("/{media_id}/file", operation_id="download_media", responses=_READ_RESPONSES)
async def download_media(
    media_id: MediaIdPath,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    download: Annotated[bool, Query(description="Ask the browser to save, not show.")] = False,
) -> Response:
    """The original file, with `Range` (206), `ETag`/304 and its Vietnamese file name."""
    ctx = _ctx(request)
    asset, public = await service.visible(session, caller, media_id)
    inline = not download and (asset.kind != "document" or asset.mime == "application/pdf")
    disposition = content_disposition(asset.original_name, inline=inline)
    if public and ctx.settings.storage == "s3" and ctx.settings.s3_presigned_downloads:
        url = await ctx.storage.presigned_url(
            service.original_key(asset),
            content_type=asset.mime,
            disposition=disposition,
            seconds=ctx.settings.s3_presign_seconds,
        )
        if url:
            return RedirectResponse(
                url, status_code=307, headers={"Cache-Control": "no-store", **USER_FILE_HEADERS}
            )
    return await _send(
        request,
        ctx.storage,
        service.original_key(asset),
        mime=asset.mime,
        etag=f'"{asset.stored_sha256}"',
        cache=YEAR if public else PRIVATE,
        disposition=disposition,
    )


@router.get(
    "/{media_id}/renditions/{name}", operation_id="get_rendition", responses=_READ_RESPONSES
)
async def get_rendition(
    media_id: MediaIdPath,
    name: str,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    v: Annotated[str | None, Query(max_length=64, description="Version from the metadata.")] = None,
) -> Response:
    """A resized image: WebP when the browser accepts it, else JPEG (thumb is square)."""
    if name not in RENDITIONS:
        raise MediaNotFound(
            Msg("Không có cỡ ảnh '{n}'; dùng: {a}.", "No rendition '{n}'; use: {a}.").format(
                n=name[:40], a=", ".join(RENDITIONS)
            )
        )
    asset, public = await service.visible(session, caller, media_id)
    if asset.kind != "image":
        raise MediaNotFound(
            Msg("Tệp này không phải ảnh nên không có cỡ ảnh.", "Only images have renditions.")
        )
    fmt = "webp" if "image/webp" in request.headers.get("accept", "") else "jpeg"
    version = service.rendition_version(asset)
    if not public:
        cache = PRIVATE
    elif v == version:
        cache = YEAR
    else:
        cache = "public, max-age=300"
    return await _send(
        request,
        _ctx(request).storage,
        service.rendition_key(asset.id, name, fmt),
        mime=f"image/{fmt}",
        etag=f'"{version}-{name}-{fmt}"',
        cache=cache,
        disposition=None,
        vary="Accept",
    )


@router.get("/{media_id}/poster", operation_id="get_poster", responses=_READ_RESPONSES)
async def get_poster(
    media_id: MediaIdPath, request: Request, session: SessionDep, caller: CallerDep
) -> Response:
    """A video's poster frame (JPEG), made with ffmpeg when it is installed."""
    asset, public = await service.visible(session, caller, media_id)
    if not asset.has_poster:
        raise MediaNotFound(Msg("Tệp này không có ảnh bìa.", "This media has no poster."))
    return await _send(
        request,
        _ctx(request).storage,
        service.poster_key(asset.id),
        mime="image/jpeg",
        etag=f'"{asset.stored_sha256}-poster"',
        cache=YEAR if public else PRIVATE,
        disposition=None,
    )


@internal.put("/internal/usage/{item_id}", status_code=204)
async def put_usage(
    item_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    usage: UsageUpdate,
    request: Request,
    session: SessionDep,
) -> Response:
    """Content tells media which assets one item uses (service-to-service)."""
    require_shared_secret(request, _ctx(request).settings.events_token)
    await reject_nul_bytes(request)
    await service.set_usage(session, item_id, usage)
    return Response(status_code=204)


@internal.post("/internal/events", status_code=204)
async def receive_event(request: Request, session: SessionDep) -> Response:
    """Content's outbox relay delivers its events here (not routed by the gateway)."""
    require_shared_secret(request, _ctx(request).settings.events_token)
    try:
        event = await request.json()
    except ValueError as exc:
        raise BadRequest(Msg("Nội dung không phải JSON.", "The body is not JSON.")) from exc
    if not isinstance(event, dict):
        raise BadRequest(Msg("Sự kiện phải là một đối tượng JSON.", "An event is a JSON object."))
    found = service.usage_from_event(event)
    if found is not None:
        await service.set_usage(session, *found)
    return Response(status_code=204)
