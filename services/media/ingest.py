"""From an upload to an asset: the checks of the bytes, renditions, storage, the row.

An upload is checked completely (type, structure, images re-encoded, renditions made)
before anything is stored; storage writes happen before the database row is flushed and
are deleted again if anything fails, so a refused or failed upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import FieldError, Unprocessable
from services.common.i18n import Msg
from services.common.security import Principal
from services.media import repository
from services.media.av import probe
from services.media.images import FORMATS, clean_image, make_renditions
from services.media.models import MediaAsset, new_id, utcnow
from services.media.schemas import Alt, Caption, Credit, FocalPoint
from services.media.service import (
    MediaContext,
    check_uploader,
    delete_objects,
    original_key,
    poster_key,
    rendition_key,
)
from services.media.sniff import (
    MP3,
    MP4,
    PDF,
    WEBM,
    ZIP_DOCUMENTS,
    FileType,
    check_mp3,
    check_mp4,
    check_name,
    check_pdf,
    check_webm,
    check_zip_document,
    clean_filename,
)
from services.media.upload import Upload

_PORTAL_ID = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass
class _Checked:
    found: FileType
    original: bytes | None = None  # images: the cleaned bytes; others: the upload file
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    poster: bytes | None = None
    renditions: dict[tuple[str, str], bytes] = field(default_factory=dict)


def _text_fields(fields: Mapping[str, str]) -> dict[str, Any]:
    """The form's caption/credit/alt/focal, validated like the JSON API's."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for name, kind in (("caption", Caption), ("credit", Credit), ("alt", Alt)):
        if name in fields:
            try:
                values[name] = TypeAdapter(kind).validate_python(fields[name]) or None
            except ValidationError:
                errors.append(
                    FieldError(
                        f"body.{name}",
                        Msg(
                            "Giá trị quá dài hoặc chứa ký tự NUL.",
                            "Too long, or contains a NUL character.",
                        ),
                    )
                )
    if "focal_x" in fields or "focal_y" in fields:
        try:
            focal = FocalPoint(x=fields.get("focal_x"), y=fields.get("focal_y"))
            values["focal"] = (focal.x, focal.y)
        except ValidationError:
            errors.append(
                FieldError(
                    "body.focal_x",
                    Msg(
                        "focal_x và focal_y là hai số từ 0 đến 1.",
                        "focal_x and focal_y are both numbers from 0 to 1.",
                    ),
                )
            )
    if errors:
        raise Unprocessable(
            Msg("Dữ liệu kèm tệp không hợp lệ.", "The form fields are invalid."), errors=errors
        )
    return values


def _check(path: Path, found: FileType, ctx: MediaContext, focal: Any) -> _Checked:
    """Everything about the file's bytes (runs in a worker thread)."""
    settings = ctx.settings
    if found.kind == "image":
        clean = clean_image(
            path,
            found,
            max_pixels=settings.max_image_pixels,
            max_animation_pixels=settings.max_animation_pixels,
            max_animation_frames=settings.max_animation_frames,
        )
        return _Checked(
            found,
            original=clean.data,
            width=clean.width,
            height=clean.height,
            renditions=make_renditions(clean.data, focal),
        )
    if found is PDF:
        check_pdf(path)
        return _Checked(found)
    if found in ZIP_DOCUMENTS:
        return _Checked(found)
    structural = {MP4: check_mp4, WEBM: check_webm, MP3: check_mp3}[found]
    structural(path)
    info = probe(path, found.kind, ctx.tools)
    if info is None:
        return _Checked(found)
    return _Checked(
        found, width=info.width, height=info.height, duration=info.duration, poster=info.poster
    )


async def create(
    session: AsyncSession, ctx: MediaContext, principal: Principal, upload: Upload
) -> tuple[MediaAsset, bool]:
    """Store an upload as a new asset, or return the portal's asset with the same bytes
    (`created` is False then). Nothing is left behind when it is refused."""
    try:
        portal = upload.fields.get("portal", "").strip()
        if not _PORTAL_ID.fullmatch(portal):
            raise Unprocessable(
                Msg(
                    "Cần mã cổng thông tin (ví dụ phu-yen).",
                    "A portal id is required (e.g. phu-yen).",
                ),
                errors=[
                    FieldError(
                        "body.portal",
                        Msg(
                            "Chữ thường, số và '-', tối đa 64 ký tự.",
                            "Lowercase letters, digits and '-', at most 64 characters.",
                        ),
                        "missing" if not portal else "invalid",
                    )
                ],
            )
        check_uploader(principal, portal)
        name = clean_filename(upload.filename)
        found = upload.found
        if found.kind == "document" and found in ZIP_DOCUMENTS:
            found = await ctx.in_worker(
                lambda: check_zip_document(
                    upload.path, max_uncompressed=ctx.settings.max_zip_uncompressed_bytes
                )
            )
        check_name(name, found)
        values = _text_fields(upload.fields)
        existing = await repository.by_sha(session, portal, upload.sha256)
        if existing is not None:
            return existing, False
        checked = await ctx.in_worker(_check, upload.path, found, ctx, values.get("focal"))
        return await _store(session, ctx, principal, upload, portal, name, checked, values)
    finally:
        upload.discard()


async def _store(
    session: AsyncSession,
    ctx: MediaContext,
    principal: Principal,
    upload: Upload,
    portal: str,
    name: str,
    checked: _Checked,
    values: dict[str, Any],
) -> tuple[MediaAsset, bool]:
    found = checked.found
    focal = values.get("focal")
    asset = MediaAsset(
        id=new_id(),
        portal_id=portal,
        kind=found.kind,
        mime=found.mime,
        ext=found.ext,
        size=len(checked.original) if checked.original is not None else upload.size,
        sha256=upload.sha256,
        stored_sha256=hashlib.sha256(checked.original).hexdigest()
        if checked.original is not None
        else upload.sha256,
        original_name=name,
        width=checked.width,
        height=checked.height,
        duration=checked.duration,
        has_poster=checked.poster is not None,
        focal_x=focal[0] if focal else None,
        focal_y=focal[1] if focal else None,
        caption=values.get("caption"),
        credit=values.get("credit"),
        alt=values.get("alt"),
        uploaded_by=principal.subject,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    storage = ctx.storage
    written: list[str] = []
    try:
        key = original_key(asset)
        written.append(key)
        if checked.original is not None:
            await storage.put_bytes(key, checked.original, content_type=found.mime)
        else:
            await storage.put_file(key, upload.path, content_type=found.mime)
        for (rendition, fmt), data in checked.renditions.items():
            written.append(rendition_key(asset.id, rendition, fmt))
            await storage.put_bytes(written[-1], data, content_type=FORMATS[fmt])
        if checked.poster is not None:
            written.append(poster_key(asset.id))
            await storage.put_bytes(written[-1], checked.poster, content_type="image/jpeg")
        try:
            async with session.begin_nested():
                session.add(asset)
        except IntegrityError:
            # The same bytes were stored for this portal meanwhile: theirs wins.
            existing = await repository.by_sha(session, portal, upload.sha256)
            if existing is None:
                raise
            await delete_objects(storage, written)
            return existing, False
    except BaseException:
        await delete_objects(storage, written)
        raise
    return asset, True
