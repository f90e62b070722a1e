"""Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out.

A cursor is the sort key of the last item returned, base64url-encoded JSON: opaque to
clients, stable under inserts, and an index seek for the database (no OFFSET), so a page
costs the same at item 20 and at item 100,000.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from services.common.errors import BadRequest
from services.common.i18n import Msg

T = TypeVar("T")

LimitParam = Annotated[int, Query(ge=1, le=100, description="Items per page (1 to 100).")]
CursorParam = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page."),
]


class Page(BaseModel, Generic[T]):
    """A page of a list."""

    items: list[T]
    next_cursor: str | None = None


class InvalidCursor(BadRequest):
    slug = "invalid-cursor"
    title = Msg("Con trỏ phân trang không hợp lệ", "Invalid pagination cursor")


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, arity: int) -> list[Any] | None:
    """The sort key in `cursor`, or None for the first page; 400 when it is not ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor(_BAD_CURSOR) from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidCursor(_BAD_CURSOR)
    # A forged cursor must not reach the database with what PostgreSQL refuses (500).
    if any(isinstance(v, str) and "\x00" in v for v in values):
        raise InvalidCursor(_BAD_CURSOR)
    return values


_BAD_CURSOR = Msg(
    "Tham số cursor không hợp lệ; hãy dùng đúng giá trị next_cursor của trang trước.",
    "The cursor is not valid; pass the next_cursor of the previous page unchanged.",
)
