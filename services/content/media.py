"""The media service as content's posting standard sees it: may this asset be a featured
image, and are a document's attachments in the portal's library?

Content asks media `GET /v1/media/{id}` with the acting user's own bearer token, so media's
tenancy rules decide what the user may see: a 404 means "not in this portal's library".
An image of another portal that media shows anyway (it is public because published content
uses it) is refused the same way, as are other kinds of file and images without alt text.
When media cannot be reached or answers anything it should not, the submit is refused with
503 (try again later): a featured image is never accepted unchecked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from services.common.errors import FieldError, ProblemError
from services.common.i18n import Msg

log = logging.getLogger(__name__)

FIELD = "featured_media_id"

_KINDS = {"video": "video", "audio": "âm thanh", "document": "tài liệu"}


class MediaUnavailable(ProblemError):
    """503: the media service could not say whether the featured image may be used."""

    status = 503
    slug = "media-unavailable"
    title = Msg("Dịch vụ thư viện tệp tạm thời không phản hồi", "The media service is unavailable")


_UNAVAILABLE = Msg(
    "Chưa kiểm tra được ảnh đại diện hoặc tệp đính kèm vì dịch vụ thư viện tệp không phản "
    "hồi; chưa có gì thay đổi. Vui lòng thử lại sau.",
    "The featured image or the attachments could not be checked because the media service "
    "did not answer; nothing was changed. Please try again later.",
)


def _unavailable() -> MediaUnavailable:
    return MediaUnavailable(_UNAVAILABLE, headers={"Retry-After": "10"})


class _Asset(BaseModel):
    """The fields of media's `MediaRead` that the check reads (others are ignored)."""

    portal: str
    kind: str
    alt: str | None = None
    usable_as_featured: bool


def _not_found(media_id: str) -> FieldError:
    return FieldError(
        FIELD,
        Msg(
            "Ảnh đại diện '{id}' không có trong thư viện tệp của cổng này.",
            "The featured image '{id}' is not in this portal's media library.",
        ).format(id=media_id),
        "media_not_found",
    )


def _problems(media_id: str, asset: _Asset, portal: str) -> list[FieldError]:
    if asset.portal != portal:
        return [_not_found(media_id)]
    if asset.kind != "image":
        msg = Msg(
            "Ảnh đại diện phải là tệp ảnh; '{id}' là tệp {vi}.",
            "The featured image must be an image; '{id}' is a {en} file.",
        ).format(id=media_id, vi=_KINDS.get(asset.kind, asset.kind), en=asset.kind)
        return [FieldError(FIELD, msg, "not_an_image")]
    if not asset.usable_as_featured or not (asset.alt or "").strip():
        msg = Msg(
            "Ảnh đại diện '{id}' chưa có mô tả thay thế (alt); hãy thêm alt cho ảnh "
            "trong thư viện tệp.",
            "The featured image '{id}' has no alt text; add it to the image in the media library.",
        ).format(id=media_id)
        return [FieldError(FIELD, msg, "alt_required")]
    return []


@dataclass(frozen=True)
class FeaturedImageCheck:
    """Checks featured images and attachments against the media service, as the user who
    acts."""

    client: httpx.AsyncClient
    authorization: str | None

    async def problems(self, media_id: str, *, portal: str) -> list[FieldError]:
        """The standards errors of using `media_id` as `portal`'s featured image (none if ok);
        `MediaUnavailable` when media cannot tell."""
        asset = await self._asset(media_id)
        if asset is None:
            return [_not_found(media_id)]
        return _problems(media_id, asset, portal)

    async def attachment_problems(self, media_ids: list[str], *, portal: str) -> list[FieldError]:
        """An error for each attachment that is not in `portal`'s library (any kind of file
        may be attached); `MediaUnavailable` when media cannot tell."""
        errors = []
        for index, media_id in enumerate(media_ids):
            asset = await self._asset(media_id)
            if asset is None or asset.portal != portal:
                message = Msg(
                    "Tệp đính kèm '{id}' không có trong thư viện tệp của cổng này.",
                    "The attachment '{id}' is not in this portal's media library.",
                ).format(id=media_id)
                errors.append(FieldError(f"attachments.{index}", message, "media_not_found"))
        return errors

    async def _asset(self, media_id: str) -> _Asset | None:
        """What media shows this user of `media_id`; None when it says 404."""
        headers = {"Authorization": self.authorization} if self.authorization else {}
        try:
            response = await self.client.get(
                f"/v1/media/{quote(media_id, safe='')}", headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning("media service unreachable: %s", exc.__class__.__name__)
            raise _unavailable() from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("media service answered %s for an asset", response.status_code)
            raise _unavailable()
        try:
            return _Asset.model_validate_json(response.content)
        except ValidationError as exc:
            log.warning("media service answered an unexpected body")
            raise _unavailable() from exc
