"""The analytics service's errors (each carries its status).

ProblemError
├── Unprocessable (422)
│   ├── UnknownPortal        the beacon names a portal content does not know
│   └── RangeInvalid         from/to reversed, or longer than the interval allows
├── NotFound (404)
│   └── PortalNotFound       a report of a portal that does not exist
├── PayloadTooLarge (413)
│   └── BeaconTooLarge
├── UnsupportedMediaType (415)
└── Unavailable (503)
    └── IngestBusy           the queue is full: retry after a second

Portals that cannot be checked with content are `services.common.portals.ContentUnreachable`
(503), roles that cannot be `services.common.roles.RolesUnavailable` (503).
"""

from __future__ import annotations

from typing import ClassVar

from services.common.errors import (
    FieldError,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unprocessable,
)
from services.common.i18n import Msg


class UnknownPortal(Unprocessable):
    slug = "unknown-portal"

    def __init__(self, portal: str) -> None:
        message = Msg("Cổng '{p}' không tồn tại.", "Portal '{p}' does not exist.").format(p=portal)
        super().__init__(message, errors=[FieldError("portal", message, "unknown_portal")])


class RangeInvalid(Unprocessable):
    slug = "invalid-range"


class PortalNotFound(NotFound):
    slug = "portal-not-found"

    def __init__(self, portal: str) -> None:
        super().__init__(
            Msg("Cổng '{p}' không tồn tại.", "Portal '{p}' does not exist.").format(p=portal)
        )


class BeaconTooLarge(PayloadTooLarge):
    slug = "beacon-too-large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            Msg(
                "Sự kiện quá lớn: tối đa {n} byte.", "The beacon is too large: at most {n} bytes."
            ).format(n=limit)
        )


class UnsupportedMediaType(ProblemError):
    status: ClassVar[int] = 415
    slug: ClassVar[str] = "unsupported-media-type"
    title: ClassVar[Msg] = Msg("Kiểu dữ liệu không được hỗ trợ", "Unsupported media type")


class Unavailable(ProblemError):
    status: ClassVar[int] = 503
    slug: ClassVar[str] = "unavailable"
    title: ClassVar[Msg] = Msg("Dịch vụ tạm thời không sẵn sàng", "Service unavailable")


class IngestBusy(Unavailable):
    slug = "ingest-busy"

    def __init__(self) -> None:
        super().__init__(
            Msg(
                "Hàng đợi ghi nhận đang đầy; hãy thử lại sau giây lát.",
                "The ingest queue is full; retry in a moment.",
            ),
            headers={"Retry-After": "1"},
        )
