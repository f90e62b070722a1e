"""Errors that carry their own HTTP status, rendered as RFC 9457 problem details.

    ProblemError                 base: status, type slug, title, detail, field errors
    ├── BadRequest (400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── Unprocessable (422)       carries `errors=[FieldError, ...]`
    ├── TooManyRequests (429)
    ├── BadGateway (502)          written by the gateway only
    ├── ServiceUnavailable (503)  a service this one depends on cannot answer; carries Retry-After
    └── GatewayTimeout (504)      written by the gateway only

Domain modules raise subclasses of these (e.g. `TransitionNotAllowed(Conflict)`); they never
import FastAPI. One handler in `services.common.problems` turns them into responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.i18n import Msg

PROBLEM_BASE = "https://portal.gov.vn/problems/"


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; `field` is a dotted path such as `body.title`."""

    field: str
    message: Msg
    code: str = "invalid"


class ProblemError(Exception):
    """An error a client can act on; `slug` becomes the stable problem `type`."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[Msg] = Msg("Yêu cầu không hợp lệ", "Bad request")

    def __init__(
        self,
        detail: Msg | str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        super().__init__(detail.en if isinstance(detail, Msg) else detail or self.title.en)

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(ProblemError):
    status = 400
    slug = "bad-request"
    title = Msg("Yêu cầu không hợp lệ", "Bad request")


class Unauthorized(ProblemError):
    status = 401
    slug = "unauthorized"
    title = Msg("Chưa xác thực", "Not authenticated")

    def __init__(
        self,
        detail: Msg | str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            detail, errors=errors, headers={"WWW-Authenticate": "Bearer", **(headers or {})}
        )


class Forbidden(ProblemError):
    status = 403
    slug = "forbidden"
    title = Msg("Không có quyền", "Forbidden")


class NotFound(ProblemError):
    status = 404
    slug = "not-found"
    title = Msg("Không tìm thấy", "Not found")


class Conflict(ProblemError):
    status = 409
    slug = "conflict"
    title = Msg("Xung đột trạng thái", "Conflict")


class PayloadTooLarge(ProblemError):
    status = 413
    slug = "payload-too-large"
    title = Msg("Dữ liệu quá lớn", "Payload too large")


class Unprocessable(ProblemError):
    status = 422
    slug = "validation-error"
    title = Msg("Dữ liệu không hợp lệ", "Invalid data")


class TooManyRequests(ProblemError):
    status = 429
    slug = "rate-limited"
    title = Msg("Quá nhiều yêu cầu", "Too many requests")


class BadGateway(ProblemError):
    status = 502
    slug = "bad-gateway"
    title = Msg("Dịch vụ phía sau không phản hồi đúng", "Bad gateway")


class ServiceUnavailable(ProblemError):
    """A service this one needs (e.g. content, for the caller's roles) does not answer;
    raise it with a `Retry-After` header."""

    status = 503
    slug = "service-unavailable"
    title = Msg("Dịch vụ tạm thời không sẵn sàng", "Service unavailable")


class GatewayTimeout(ProblemError):
    status = 504
    slug = "gateway-timeout"
    title = Msg("Dịch vụ phía sau quá thời gian chờ", "Gateway timeout")
