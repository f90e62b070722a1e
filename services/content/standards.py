"""Posting standards (chuẩn đăng tải) an article must meet before it is submitted.

Each portal configures its own `PostingStandard`; `check` returns every problem at once, in
Vietnamese and English, so an editor fixes them in one pass; `enforce` raises
`StandardsNotMet` (422) carrying them all. Lengths count characters after NFC and trimming,
so a title typed in NFD is not counted twice as long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from services.common.errors import FieldError, Unprocessable
from services.common.i18n import Msg
from services.common.text import nfc


@dataclass(frozen=True)
class PostingStandard:
    """A portal's posting standard; the defaults are BHXH's."""

    title_min: int = 10
    title_max: int = 200
    lead_min: int = 30
    lead_max: int = 600
    require_body: bool = True
    require_category: bool = True
    require_featured_image: bool = True
    require_caption: bool = True
    require_author: bool = True
    require_source: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value, expected = getattr(self, f.name), bool if f.name.startswith("require_") else int
            # bool is a subclass of int: `title_min: true` must not pass as 1.
            if type(value) is not expected:
                raise ValueError(f"{f.name} must be {expected.__name__}, got {value!r}")
        for name in ("title", "lead"):
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if not 0 <= low <= high:
                raise ValueError(f"need 0 <= {name}_min <= {name}_max, got {low} and {high}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PostingStandard:
        """Build a standard from portal settings; missing keys take the defaults."""
        unknown = set(config) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown posting standard keys: {sorted(unknown)}")
        return cls(**config)

    def to_config(self) -> dict[str, int | bool]:
        """Return the JSON-ready settings that `from_config` reads back."""
        return asdict(self)


@dataclass(frozen=True)
class Draft:
    """What the standard looks at; the caller strips tags and resolves the category."""

    title: str
    lead: str | None
    body_text: str
    category_id: str | None
    category_exists: bool
    featured_media_id: str | None
    featured_caption: str | None
    author: str | None
    source: str | None


class StandardsNotMet(Unprocessable):
    """422: the article misses the portal's posting standard; `errors` lists every miss."""

    slug = "standards-not-met"
    title = Msg(
        "Bài viết chưa đạt chuẩn đăng tải", "The article does not meet the posting standard"
    )


_NAMES = {
    "title": Msg("Tiêu đề", "title"),
    "lead": Msg("Sapo", "lead"),
    "body": Msg("Nội dung", "body"),
    "category_id": Msg("Chuyên mục", "category"),
    "featured_media_id": Msg("Ảnh đại diện", "featured image"),
    "featured_caption": Msg("Chú thích ảnh đại diện", "featured image caption"),
    "author": Msg("Tác giả", "author"),
    "source": Msg("Nguồn tin", "source"),
}


def _length(value: str | None) -> int:
    return len(nfc(value or "").strip())


def _required(field: str) -> FieldError:
    name = _NAMES[field]
    return FieldError(
        field, Msg(f"{name.vi} là bắt buộc.", f"The {name.en} is required."), "required"
    )


def _length_errors(field: str, value: str | None, low: int, high: int) -> list[FieldError]:
    name, n = _NAMES[field], _length(value)
    if n < low:
        msg = Msg(
            f"{name.vi} phải có ít nhất {low} ký tự (hiện có {n}).",
            f"The {name.en} must have at least {low} characters (it has {n}).",
        )
        return [_required(field) if n == 0 else FieldError(field, msg, "too_short")]
    if n > high:
        msg = Msg(
            f"{name.vi} chỉ được có tối đa {high} ký tự (hiện có {n}).",
            f"The {name.en} must have at most {high} characters (it has {n}).",
        )
        return [FieldError(field, msg, "too_long")]
    return []


def check(draft: Draft, standard: PostingStandard) -> list[FieldError]:
    """Return every way the draft misses the standard, in field order; empty if none."""
    errors = _length_errors("title", draft.title, max(standard.title_min, 1), standard.title_max)
    errors += _length_errors("lead", draft.lead, standard.lead_min, standard.lead_max)
    if standard.require_body and not _length(draft.body_text):
        errors.append(_required("body"))
    if draft.category_id and draft.category_id.strip() and not draft.category_exists:
        msg = Msg(
            "Chuyên mục không tồn tại trong cổng thông tin này.",
            "The category does not exist in this portal.",
        )
        errors.append(FieldError("category_id", msg, "unknown_category"))
    elif standard.require_category and not _length(draft.category_id):
        errors.append(_required("category_id"))
    has_image = bool(_length(draft.featured_media_id))
    if standard.require_featured_image and not has_image:
        errors.append(_required("featured_media_id"))
    needs_caption = has_image or standard.require_featured_image
    if standard.require_caption and needs_caption and not _length(draft.featured_caption):
        errors.append(_required("featured_caption"))
    if standard.require_author and not _length(draft.author):
        errors.append(_required("author"))
    if standard.require_source and not _length(draft.source):
        errors.append(_required("source"))
    return errors


def enforce(draft: Draft, standard: PostingStandard) -> None:
    """Raise `StandardsNotMet` with every problem if the draft misses the standard."""
    if errors := check(draft, standard):
        raise StandardsNotMet(
            Msg(
                f"Bài viết còn {len(errors)} điểm chưa đạt chuẩn đăng tải.",
                f"The article misses the posting standard in {len(errors)} places.",
            ),
            errors=errors,
        )
