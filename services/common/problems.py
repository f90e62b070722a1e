"""RFC 9457 problem details for every error a service returns.

One set of handlers, installed by `install_problem_handlers(app)`, renders `ProblemError`s,
request validation errors, routing errors (404/405) and, for genuine bugs only, a 500 that
names the request id so an operator can find the traceback in the logs.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.errors import PROBLEM_BASE, FieldError, ProblemError
from services.common.i18n import Msg, negotiate_language

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("portal.problems")

_HTTP_TITLES: dict[int, tuple[str, Msg]] = {
    400: ("bad-request", Msg("Yêu cầu không hợp lệ", "Bad request")),
    401: ("unauthorized", Msg("Chưa xác thực", "Not authenticated")),
    403: ("forbidden", Msg("Không có quyền", "Forbidden")),
    404: ("not-found", Msg("Không tìm thấy", "Not found")),
    405: ("method-not-allowed", Msg("Phương thức không được hỗ trợ", "Method not allowed")),
    406: ("not-acceptable", Msg("Không thể đáp ứng định dạng yêu cầu", "Not acceptable")),
    413: ("payload-too-large", Msg("Dữ liệu quá lớn", "Payload too large")),
    415: ("unsupported-media-type", Msg("Kiểu dữ liệu không hỗ trợ", "Unsupported media type")),
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_body(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if request_id:
        body["request_id"] = request_id
    return body


def _lang(request: Request) -> str:
    return negotiate_language(request.headers.get("accept-language"))


def _request_id(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return str(rid) if rid else None


def render_problem(request: Request, exc: ProblemError) -> ProblemResponse:
    """The problem+json response for a `ProblemError`, in the request's language."""
    lang = _lang(request)
    title = exc.title.pick(lang)
    if isinstance(exc.detail, Msg):
        detail = exc.detail.pick(lang)
    else:
        detail = exc.detail or title
    errors = [_field_error(e, lang) for e in exc.errors]
    headers = {"Content-Language": lang, **exc.headers}
    return ProblemResponse(
        problem_body(
            status=exc.status,
            slug=exc.slug,
            title=title,
            detail=detail,
            errors=errors,
            request_id=_request_id(request),
        ),
        status_code=exc.status,
        headers=headers,
    )


def _field_error(error: FieldError, lang: str) -> dict[str, str]:
    return {"field": error.field, "message": error.message.pick(lang), "code": error.code}


_PYDANTIC_MESSAGES: dict[str, Msg] = {
    "missing": Msg("Trường này là bắt buộc.", "This field is required."),
    "string_too_short": Msg(
        "Cần ít nhất {min_length} ký tự.", "Needs at least {min_length} characters."
    ),
    "string_too_long": Msg(
        "Không được quá {max_length} ký tự.", "At most {max_length} characters."
    ),
    "extra_forbidden": Msg("Trường này không được chấp nhận.", "This field is not accepted."),
    "json_invalid": Msg("JSON không hợp lệ.", "The body is not valid JSON."),
    "too_short": Msg("Cần ít nhất {min_length} phần tử.", "Needs at least {min_length} items."),
    "too_long": Msg("Không được quá {max_length} phần tử.", "At most {max_length} items."),
    "string_type": Msg("Phải là chuỗi ký tự.", "Must be a string."),
    "int_parsing": Msg("Phải là số nguyên.", "Must be an integer."),
    "int_type": Msg("Phải là số nguyên.", "Must be an integer."),
    "bool_parsing": Msg("Phải là true hoặc false.", "Must be true or false."),
    "bool_type": Msg("Phải là true hoặc false.", "Must be true or false."),
    "list_type": Msg("Phải là một danh sách.", "Must be a list."),
    "dict_type": Msg("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "model_type": Msg("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "string_pattern_mismatch": Msg("Sai định dạng.", "The format is wrong."),
    "literal_error": Msg("Giá trị không nằm trong danh sách cho phép.", "Not an allowed value."),
    "enum": Msg("Giá trị không nằm trong danh sách cho phép.", "Not an allowed value."),
    "date_parsing": Msg("Ngày không hợp lệ (YYYY-MM-DD).", "Invalid date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": Msg(
        "Ngày không hợp lệ (YYYY-MM-DD).", "Invalid date (YYYY-MM-DD)."
    ),
    "datetime_parsing": Msg("Thời điểm không hợp lệ (ISO 8601).", "Invalid date-time (ISO 8601)."),
    "datetime_from_date_parsing": Msg(
        "Thời điểm không hợp lệ (ISO 8601).", "Invalid date-time (ISO 8601)."
    ),
    "timezone_aware": Msg(
        "Thời điểm phải có múi giờ (ví dụ +07:00 hoặc Z).",
        "The time needs a zone (e.g. +07:00 or Z).",
    ),
    "greater_than_equal": Msg("Phải lớn hơn hoặc bằng {ge}.", "Must be at least {ge}."),
    "less_than_equal": Msg("Phải nhỏ hơn hoặc bằng {le}.", "Must be at most {le}."),
    "url_parsing": Msg("Địa chỉ URL không hợp lệ.", "Invalid URL."),
    "url_scheme": Msg("Địa chỉ URL phải dùng http hoặc https.", "The URL must use http(s)."),
    "link_scheme": Msg(
        "Liên kết chỉ được dùng http:// hoặc https:// (không dùng 'javascript:', 'data:', "
        "'mailto:'…); nếu đây là tên nguồn, hãy viết tên không kèm liên kết.",
        "A link may only use http:// or https:// (not 'javascript:', 'data:', 'mailto:'…); "
        "if this is the source's name, write the name without a link.",
    ),
}


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        field = ".".join(loc[1:] if len(loc) > 1 and loc[0] == "body" else loc) or "body"
        kind = str(err.get("type", "invalid"))
        message = _PYDANTIC_MESSAGES.get(kind)
        if message is not None:
            try:
                message = message.format(**(err.get("ctx") or {}))
            except (KeyError, IndexError, ValueError):
                message = None
        if message is None:
            text = str(err.get("msg", "Invalid value"))
            message = Msg(f"Giá trị không hợp lệ: {text}", text)
        errors.append(FieldError(field=field, message=message, code=kind))
    return errors


class RequestInvalid(ProblemError):
    status = 422
    slug = "validation-error"
    title = Msg("Dữ liệu không hợp lệ", "Invalid data")


async def _problem_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ProblemError)
    return render_problem(request, exc)


async def _validation_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    detail = Msg(
        "Dữ liệu gửi lên có {n} lỗi; xem danh sách errors.",
        "The request has {n} invalid field(s); see errors.",
    ).format(n=len(errors))
    return render_problem(request, RequestInvalid(detail, errors=errors))


async def _http_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", Msg("Lỗi", "Error")))
    lang = _lang(request)
    detail = exc.detail if isinstance(exc.detail, str) else title.pick(lang)
    if exc.status_code == 404 and detail == "Not Found":
        detail = Msg("Không có tài nguyên ở địa chỉ này.", "Nothing exists at this address.").pick(
            lang
        )
    return ProblemResponse(
        problem_body(
            status=exc.status_code,
            slug=slug,
            title=title.pick(lang),
            detail=detail,
            request_id=_request_id(request),
        ),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


class ConcurrentChange(ProblemError):
    status = 409
    slug = "concurrent-change"
    title = Msg("Xung đột dữ liệu", "Conflicting change")


async def _integrity_handler(request: Request, exc: Exception) -> ProblemResponse:
    # Services check uniqueness and references before writing; a constraint that still
    # fires means another request won the race (two identical creates at once), and the
    # transaction has been rolled back whole.
    log.warning("integrity error: %s", exc, extra={"request_id": _request_id(request)})
    return render_problem(
        request,
        ConcurrentChange(
            Msg(
                "Một yêu cầu khác vừa thay đổi cùng dữ liệu; hãy tải lại và thử lại.",
                "Another request changed the same data at the same time; reload and retry.",
            )
        ),
    )


async def _bug_handler(request: Request, exc: Exception) -> ProblemResponse:
    rid = _request_id(request)
    log.exception("unhandled error", extra={"request_id": rid})
    lang = _lang(request)
    return ProblemResponse(
        problem_body(
            status=500,
            slug="internal-error",
            title=Msg("Lỗi hệ thống", "Internal error").pick(lang),
            detail=Msg(
                "Đã xảy ra lỗi không mong muốn; hãy báo mã yêu cầu cho quản trị viên.",
                "An unexpected error occurred; report the request id to the operators.",
            ).pick(lang),
            request_id=rid,
        ),
        status_code=500,
        # Sent from outside the request-context middleware, which adds it to every other answer.
        headers={"X-Content-Type-Options": "nosniff"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of `app` as problem+json."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(IntegrityError, _integrity_handler)
    app.add_exception_handler(Exception, _bug_handler)
