"""The media service as content's posting standard sees it: may this asset be a featured
image, and are a document's attachments and every media link in a body in the portal's
library?

Content asks media `GET /v1/media/{id}` with the acting user's own bearer token, so media's
tenancy rules decide what the user may see: a 404 means "not in this portal's library".
An image of another portal that media shows anyway (it is public because published content
uses it) is refused the same way, as are other kinds of file and images without alt text.
When media cannot be reached or answers anything it should not, the submit is refused with
503 (try again later): a featured image is never accepted unchecked.
"""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urlsplit

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
    "Chưa kiểm tra được ảnh đại diện, tệp đính kèm hoặc liên kết tệp trong nội dung vì dịch "
    "vụ thư viện tệp không phản hồi; chưa có gì thay đổi. Vui lòng thử lại sau.",
    "The featured image, the attachments or the media links in the body could not be checked "
    "because the media service did not answer; nothing was changed. Please try again later.",
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


# --- media links in a body ---------------------------------------------------------------

# At most this many distinct media a body may link to (each is one question to media).
MAX_BODY_MEDIA_LINKS = 100
_URL_ATTRIBUTES = {"href", "src", "poster"}
_MEDIA_PATH = re.compile(r"(?:^|/)v1/media/([^/?#]+)")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in _URL_ATTRIBUTES and value]


def media_links(body: str) -> list[str]:
    """The media ids a body's links and sources point to, in order, each once.

    A URL points to media when its path, as a browser would resolve it (percent-escapes
    decoded, backslashes as slashes, `.` and `..` removed), is `/v1/media/{id}` or below:
    the file, a rendition, the poster, the metadata. Any host counts: content does not know
    every name the platform is served under, and a link to another site's `/v1/media/`
    is rare enough to be asked about too.
    """
    parser = _Links()
    parser.feed(body)
    parser.close()
    found: dict[str, None] = {}
    for url in parser.urls:
        try:
            path = urlsplit(url.strip().replace("\\", "/")).path
        except ValueError:
            continue
        path = posixpath.normpath("/" + unquote(path).replace("\\", "/"))
        match = _MEDIA_PATH.search(path)
        if match:
            found[match.group(1)] = None
    return list(found)


def _body_link_error(media_id: str) -> FieldError:
    return FieldError(
        "body",
        Msg(
            "Nội dung có liên kết đến tệp '{id}' không có trong thư viện tệp của cổng này; hãy "
            "tải tệp lên thư viện của cổng và dùng liên kết của tệp đó.",
            "The body links to the media '{id}', which is not in this portal's media library; "
            "upload the file to this portal's library and link to it there.",
        ).format(id=media_id[:64]),
        "media_not_found",
    )


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

    async def body_link_problems(self, body: str, *, portal: str) -> list[FieldError]:
        """An error (`field: body`) for each media the body links to that is not in
        `portal`'s library; `MediaUnavailable` when media cannot tell."""
        ids = media_links(body)
        if len(ids) > MAX_BODY_MEDIA_LINKS:
            message = Msg(
                "Nội dung liên kết đến {n} tệp khác nhau; tối đa {m}.",
                "The body links to {n} different media files; at most {m} are allowed.",
            ).format(n=len(ids), m=MAX_BODY_MEDIA_LINKS)
            return [FieldError("body", message, "too_many_media_links")]
        errors = []
        for media_id in ids:
            asset = await self._asset(media_id) if len(media_id) <= 64 else None
            if asset is None or asset.portal != portal:
                errors.append(_body_link_error(media_id))
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
