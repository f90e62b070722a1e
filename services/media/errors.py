"""The media service's errors; each carries its status.

ProblemError (services.common.errors)
├── BadRequest
│   ├── BadUpload (400)            not a usable multipart form
│   ├── BadFileName (400)          control characters, a path, too long
│   └── PortalFieldFirst (400)     a file over the small cap sent before the `portal` field
├── Forbidden
│   └── NotPortalMember (403)      not a member of the asset's portal
├── NotFound
│   ├── MediaNotFound (404)        unknown id, or a draft asset of another portal
│   └── PortalNotFound (404)       an upload into a portal that does not exist
├── Conflict
│   └── MediaInUse (409)           still used by content
├── PayloadTooLarge
│   └── FileTooLarge (413)         over the kind's limit (checked while streaming)
├── UnsupportedMedia (415)         a type off the allow-list, or a name/bytes mismatch
└── Unprocessable
    ├── BrokenFile (422)           the right type, but truncated, corrupt or hostile
    └── AnimationTooLarge (422)    frames x pixels over the budget (read from the headers)
"""

from __future__ import annotations

from services.common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unprocessable,
)
from services.common.i18n import Msg


class BadUpload(BadRequest):
    slug = "bad-upload"
    title = Msg("Tải lên không hợp lệ", "Bad upload")


class BadFileName(BadRequest):
    slug = "bad-file-name"
    title = Msg("Tên tệp không hợp lệ", "Bad file name")


class PortalFieldFirst(BadRequest):
    slug = "portal-field-first"
    title = Msg("Gửi trường 'portal' trước tệp", "Send the 'portal' field before the file")


class NotPortalMember(Forbidden):
    slug = "not-portal-member"
    title = Msg("Không thuộc cổng thông tin này", "Not a member of this portal")


class MediaNotFound(NotFound):
    slug = "media-not-found"
    title = Msg("Không tìm thấy tệp", "Media not found")


class PortalNotFound(NotFound):
    slug = "portal-not-found"
    title = Msg("Không có cổng thông tin này", "No such portal")


class MediaInUse(Conflict):
    slug = "media-in-use"
    title = Msg("Tệp đang được sử dụng", "Media in use")


class FileTooLarge(PayloadTooLarge):
    slug = "file-too-large"
    title = Msg("Tệp quá lớn", "File too large")


class UnsupportedMedia(ProblemError):
    status = 415
    slug = "unsupported-media-type"
    title = Msg("Loại tệp không được chấp nhận", "Unsupported file type")


class BrokenFile(Unprocessable):
    slug = "broken-file"
    title = Msg("Tệp hỏng hoặc không an toàn", "Broken or unsafe file")


class RangeNotSatisfiable(ProblemError):
    status = 416
    slug = "range-not-satisfiable"
    title = Msg("Khoảng byte không hợp lệ", "Range not satisfiable")


class AnimationTooLarge(Unprocessable):
    slug = "animation-too-large"
    title = Msg("Ảnh động quá nặng", "Animation too large")
