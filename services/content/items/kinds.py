"""What differs between articles, legal documents and pages; everything else is shared.

A `KindSpec` names a kind's API models and its few rules: where its slug comes from, what
it must have before it is submitted, how its body is cleaned and which fields the public
lists filter on. The item service and router are written once against this spec.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel

from services.common.errors import FieldError
from services.common.i18n import Msg
from services.common.text import fold
from services.content.items import schemas
from services.content.sanitize import html_to_text, sanitize_html
from services.content.standards import Draft, PostingStandard, check


@dataclass(frozen=True)
class SubmitContext:
    standard: PostingStandard
    category_exists: bool


@dataclass(frozen=True)
class KindSpec:
    kind: str
    plural: str
    create_model: type[BaseModel]
    update_model: type[BaseModel]
    summary_model: type[schemas.ItemMeta]
    read_model: type[schemas.ItemMeta]
    title_of: Callable[[dict[str, Any]], str]
    submit_problems: Callable[[dict[str, Any], SubmitContext], list[FieldError]]
    has_category: bool = True

    def null_errors(self, changes: dict[str, Any]) -> list[FieldError]:
        """Fields an edit set to null that a new item could not leave empty."""
        fields = self.create_model.model_fields
        return [
            FieldError(
                key,
                Msg("Trường này không được để trống (null).", "This field cannot be null."),
                "null",
            )
            for key, value in changes.items()
            if value is None
            and key in fields
            and type(None) not in typing.get_args(fields[key].annotation)
        ]

    def prepare(self, data: dict[str, Any]) -> dict[str, Any]:
        """Clean what a client sent before it becomes a revision (sanitised HTML)."""
        if data.get("body") is not None:
            data["body"] = sanitize_html(data["body"])
        if data.get("tags") is not None:
            data["tags"] = list(dict.fromkeys(t.strip() for t in data["tags"] if t.strip()))
        return data

    def working_projection(self, data: dict[str, Any]) -> dict[str, Any]:
        """Item columns that newsroom queues filter on, from the working revision."""
        live = self.projection(data)
        return {
            "working_category_id": live["live_category_id"],
            "working_search": live["live_search"],
            "working_tags": working_tags(data.get("tags") or []),
            "working_doc_type": live.get("doc_type"),
            "working_doc_number": live.get("doc_number"),
        }

    def projection(self, data: dict[str, Any]) -> dict[str, Any]:
        """Item columns that public lists filter on, taken from the live revision."""
        values: dict[str, Any] = {
            "live_category_id": data.get("category_id") if self.has_category else None,
            "live_search": fold(" ".join(filter(None, [self.title_of(data), data.get("lead")])))[
                :2000
            ],
        }
        if self.kind == "document":
            issued = data.get("issued_on")
            values.update(
                doc_number=data.get("number"),
                doc_type=data.get("doc_type"),
                issuer=data.get("issuer"),
                issued_on=date.fromisoformat(issued) if isinstance(issued, str) else issued,
            )
        return values


def working_tags(tags: list[str]) -> str | None:
    """The working revision's tags in one column, each between newlines (`\ntag\n`), so
    `?tag=` in a queue is an exact match with a plain `LIKE`: a tag is one line of text.
    (Live tags have their own table, `item_tags`, indexed for the public lists.)"""
    return "\n" + "\n".join(tags) + "\n" if tags else None


def _required(field: str) -> FieldError:
    return FieldError(field, Msg("Trường này là bắt buộc.", "This field is required."), "required")


def _article_problems(data: dict[str, Any], ctx: SubmitContext) -> list[FieldError]:
    draft = Draft(
        title=data.get("title") or "",
        lead=data.get("lead"),
        body_text=html_to_text(data.get("body") or ""),
        category_id=data.get("category_id"),
        category_exists=ctx.category_exists,
        featured_media_id=data.get("featured_media_id"),
        featured_caption=data.get("featured_caption"),
        author=data.get("author"),
        source=data.get("source"),
    )
    return check(draft, ctx.standard)


def _document_problems(data: dict[str, Any], ctx: SubmitContext) -> list[FieldError]:
    problems = [
        _required(f) for f in ("number", "doc_type", "issuer", "summary") if not data.get(f)
    ]
    if not data.get("issued_on"):
        problems.append(_required("issued_on"))
    if data.get("category_id") and not ctx.category_exists:
        problems.append(
            FieldError(
                "category_id",
                Msg("Chuyên mục không thuộc cổng này.", "The category is not in this portal."),
                "unknown_category",
            )
        )
    issued, effective, expires = (data.get(k) for k in ("issued_on", "effective_on", "expires_on"))
    if issued and effective and str(effective) < str(issued):
        problems.append(
            FieldError(
                "effective_on",
                Msg(
                    "Ngày hiệu lực không được trước ngày ban hành.",
                    "The effective date cannot be before the issue date.",
                ),
                "before_issued",
            )
        )
    if expires and str(expires) <= str(effective or issued or ""):
        problems.append(
            FieldError(
                "expires_on",
                Msg(
                    "Ngày hết hiệu lực phải sau ngày có hiệu lực.",
                    "The expiry date must be after the effective date.",
                ),
                "before_effective",
            )
        )
    return problems


def _page_problems(data: dict[str, Any], ctx: SubmitContext) -> list[FieldError]:
    problems = []
    if not (data.get("title") or "").strip():
        problems.append(_required("title"))
    if not html_to_text(data.get("body") or ""):
        problems.append(_required("body"))
    return problems


ARTICLE = KindSpec(
    kind="article",
    plural="articles",
    create_model=schemas.ArticleCreate,
    update_model=schemas.ArticleUpdate,
    summary_model=schemas.ArticleSummary,
    read_model=schemas.ArticleRead,
    title_of=lambda d: str(d.get("title") or ""),
    submit_problems=_article_problems,
)
DOCUMENT = KindSpec(
    kind="document",
    plural="documents",
    create_model=schemas.DocumentCreate,
    update_model=schemas.DocumentUpdate,
    summary_model=schemas.DocumentSummary,
    read_model=schemas.DocumentRead,
    title_of=lambda d: f"{d.get('number') or ''} {d.get('summary') or ''}".strip(),
    submit_problems=_document_problems,
)
PAGE = KindSpec(
    kind="page",
    plural="pages",
    create_model=schemas.PageCreate,
    update_model=schemas.PageUpdate,
    summary_model=schemas.PageSummary,
    read_model=schemas.PageRead,
    title_of=lambda d: str(d.get("title") or ""),
    submit_problems=_page_problems,
    has_category=False,
)
KINDS = {spec.kind: spec for spec in (ARTICLE, DOCUMENT, PAGE)}
