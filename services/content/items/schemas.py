"""API models of articles, legal documents and pages, and of their workflow.

Each kind has a Create model (every editable field), an Update model (the same, all
optional) and Read models. The editable fields are stored as one revision snapshot.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.types import Nfc, NfcLine, TextOrHttpLink, UtcDatetime
from services.content.workflow import Action

Locale = Literal["vi", "en"]
Tag = Annotated[NfcLine, StringConstraints(min_length=1, max_length=100)]
Id = Annotated[Nfc, StringConstraints(min_length=1, max_length=64)]  # Nfc: no NUL
Body = Annotated[Nfc, StringConstraints(max_length=500_000)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArticleFields(_Fields):
    """Editable fields of an article (tin, bài)."""

    title: Annotated[NfcLine, StringConstraints(min_length=1, max_length=300)]
    lead: Annotated[NfcLine, StringConstraints(max_length=2000)] | None = Field(
        default=None, description="Sapo: the summary paragraph under the title."
    )
    body: Body = Field(default="", description="HTML; sanitised on the way in.")
    category_id: Id | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    featured_media_id: Id | None = None
    featured_caption: Annotated[NfcLine, StringConstraints(max_length=500)] | None = None
    featured_credit: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    author: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    source: Annotated[TextOrHttpLink, StringConstraints(max_length=300)] | None = None


class ArticleCreate(ArticleFields):
    locale: Locale = "vi"
    translation_of: Id | None = Field(
        default=None, description="The Vietnamese original this English item translates."
    )


class ArticleUpdate(_Fields):
    title: Annotated[NfcLine, StringConstraints(min_length=1, max_length=300)] | None = None
    lead: Annotated[NfcLine, StringConstraints(max_length=2000)] | None = None
    body: Body | None = None
    category_id: Id | None = None
    tags: list[Tag] | None = Field(default=None, max_length=30)
    featured_media_id: Id | None = None
    featured_caption: Annotated[NfcLine, StringConstraints(max_length=500)] | None = None
    featured_credit: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    author: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    source: Annotated[TextOrHttpLink, StringConstraints(max_length=300)] | None = None


DocField = Literal["BHXH", "BHYT", "BHTN", "khac"]
RelationType = Literal["replaces", "amends", "guides", "replaced_by", "amended_by"]


class DocumentRelation(_Fields):
    type: RelationType
    document_id: Id


class DocumentFields(_Fields):
    """Editable fields of a legal document (văn bản)."""

    number: Annotated[NfcLine, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Số, ký hiệu, e.g. 3216/BHXH-TT."
    )
    doc_type: Annotated[NfcLine, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Loại văn bản: Quyết định, Công văn, Thông tư, Nghị định…"
    )
    issuer: Annotated[NfcLine, StringConstraints(min_length=1, max_length=200)]
    signer: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    issued_on: date | None = None
    effective_on: date | None = None
    expires_on: date | None = None
    summary: Annotated[NfcLine, StringConstraints(max_length=2000)] = Field(
        default="", description="Trích yếu."
    )
    body: Body = ""
    field: DocField | None = None
    in_force: bool = True
    category_id: Id | None = None
    attachments: list[Id] = Field(default_factory=list, max_length=20)
    relations: list[DocumentRelation] = Field(default_factory=list, max_length=50)


class DocumentCreate(DocumentFields):
    locale: Locale = "vi"
    translation_of: Id | None = None


class DocumentUpdate(_Fields):
    number: Annotated[NfcLine, StringConstraints(min_length=1, max_length=100)] | None = None
    doc_type: Annotated[NfcLine, StringConstraints(min_length=1, max_length=100)] | None = None
    issuer: Annotated[NfcLine, StringConstraints(min_length=1, max_length=200)] | None = None
    signer: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    issued_on: date | None = None
    effective_on: date | None = None
    expires_on: date | None = None
    summary: Annotated[NfcLine, StringConstraints(max_length=2000)] | None = None
    body: Body | None = None
    field: DocField | None = None
    in_force: bool | None = None
    category_id: Id | None = None
    attachments: list[Id] | None = Field(default=None, max_length=20)
    relations: list[DocumentRelation] | None = Field(default=None, max_length=50)


class PageFields(_Fields):
    """Editable fields of a static page (giới thiệu, chức năng nhiệm vụ, liên hệ)."""

    title: Annotated[NfcLine, StringConstraints(min_length=1, max_length=300)]
    body: Body = ""
    position: int = Field(default=0, ge=0, le=10_000)


class PageCreate(PageFields):
    locale: Locale = "vi"
    translation_of: Id | None = None
    slug: str | None = Field(default=None, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class PageUpdate(_Fields):
    title: Annotated[NfcLine, StringConstraints(min_length=1, max_length=300)] | None = None
    body: Body | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)


class CategoryRef(BaseModel):
    id: str
    name: str
    slug: str


class FeaturedMedia(BaseModel):
    id: str
    caption: str | None
    credit: str | None
    url: str


class ItemMeta(BaseModel):
    """Workflow and identity fields every kind shares."""

    id: str
    portal: str
    slug: str
    locale: str
    translation_of: str | None
    status: str = Field(description="Workflow status of the working revision.")
    stage: str | None = Field(description="Review stage key while in_review.")
    is_live: bool = Field(description="A published revision is online.")
    revision: int = Field(description="Number of the revision shown.")
    live_revision: int | None
    published_at: datetime | None
    updated_at: datetime
    publish_at: datetime | None
    unpublish_at: datetime | None
    url: str
    allowed_actions: list[Action] | None = Field(
        default=None, description="Transitions the caller may make now (staff only)."
    )


class ArticleSummary(ItemMeta):
    title: str
    lead: str | None
    category: CategoryRef | None
    tags: list[str]
    featured_media: FeaturedMedia | None
    author: str | None
    source: str | None


class ArticleRead(ArticleSummary):
    body: str


class DocumentSummary(ItemMeta):
    number: str
    doc_type: str
    issuer: str
    signer: str | None
    issued_on: date | None
    effective_on: date | None
    expires_on: date | None
    summary: str
    field: str | None
    in_force: bool
    category: CategoryRef | None
    attachments: list[str]
    relations: list[DocumentRelation]


class DocumentRead(DocumentSummary):
    body: str


class PageSummary(ItemMeta):
    title: str
    position: int


class PageRead(PageSummary):
    body: str


class TransitionIn(_Fields):
    action: Action
    comment: Annotated[NfcLine, StringConstraints(max_length=2000)] | None = None
    publish_at: UtcDatetime | None = None
    unpublish_at: UtcDatetime | None = None


class RevisionRead(BaseModel):
    number: int
    created_at: datetime
    created_by: str
    note: str | None
    is_live: bool
    is_current: bool
    data: dict[str, Any]


class RevisionList(BaseModel):
    items: list[RevisionRead]
    next_cursor: str | None = None


class FieldChange(BaseModel):
    field: str
    before: Any
    after: Any


class RevisionComparison(BaseModel):
    from_revision: int
    to_revision: int
    changes: list[FieldChange]


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor_id: str | None
    actor_name: str
    action: str
    from_status: str | None
    to_status: str
    from_stage: str | None
    to_stage: str | None
    revision: int
    comment: str | None


class AuditList(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = None
