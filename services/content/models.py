"""Tables of the content service (its own database; no other service reads them).

    portals ─┬─ categories (tree)
             ├─ memberships ── users ── auth_sessions (sign-ins: refresh-token families)
             └─ items (articles, documents, pages) ─┬─ revisions (immutable snapshots)
                                                    ├─ audit_log (append-only)
                                                    └─ item_tags (tags of the live revision)
    outbox_events, outbox_cursors (the transactional outbox)

One `items` table carries the workflow of every kind of content, so articles, legal
documents and pages share one revision and workflow machinery. The editable fields live in
`revisions.data`; `items` holds the workflow state plus the few live fields that public
lists filter and sort on (category, document number, type, issuer, dates).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime, make_metadata
from services.common.outbox import outbox_tables


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = make_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


OUTBOX = outbox_tables(Base.metadata)
AuditId = BigInteger().with_variant(Integer, "sqlite")


class Portal(Base):
    __tablename__ = "portals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # central | provincial
    locales: Mapped[list[Any]] = mapped_column(JSON, default=lambda: ["vi"])
    site_url: Mapped[str | None] = mapped_column(String(300))
    spokesperson: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    links: Mapped[list[Any]] = mapped_column(JSON, default=list)
    review_stages: Mapped[list[Any] | None] = mapped_column(JSON)
    standards: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("portal_id", "slug"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    portal_id: Mapped[str] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(140))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    is_superadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuthSession(Base):
    """One sign-in: the family of refresh tokens that descend from one password check.

    Only the family's newest refresh token works (`refresh_jti`); an older one presented
    again was copied, so the whole family is revoked. Access tokens carry the family's id
    (`sid`) and the content service refuses them once `revoked_at` is set.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    refreshed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # sign-out | password-change | deactivated | refresh-reuse
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class Membership(Base):
    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    portal_id: Mapped[str] = mapped_column(
        ForeignKey("portals.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class Item(Base):
    """One article, legal document or page: its workflow state and its live projection."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("portal_id", "kind", "slug"),
        # The public list: a portal's live items of one kind, newest first (keyset seek).
        Index("ix_items_public", "portal_id", "kind", "is_live", "published_at", "id"),
        Index("ix_items_queue", "portal_id", "kind", "status", "updated_at"),
        Index("ix_items_due_publish", "status", "publish_at"),
        Index("ix_items_due_unpublish", "is_live", "unpublish_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    portal_id: Mapped[str] = mapped_column(ForeignKey("portals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # article | document | page
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    translation_of: Mapped[str | None] = mapped_column(ForeignKey("items.id"))
    slug: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[int | None] = mapped_column(Integer)
    is_live: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    current_revision: Mapped[int] = mapped_column(Integer, default=1)
    live_revision: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    publish_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unpublish_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Live projection, filled when a revision goes live (public filters and sorts on these).
    live_category_id: Mapped[str | None] = mapped_column(String(32), index=True)
    live_search: Mapped[str | None] = mapped_column(Text)  # folded title + lead, for `?q=`
    # The same for the working revision, so newsroom queues filter what editors see.
    working_category_id: Mapped[str | None] = mapped_column(String(32))
    working_search: Mapped[str | None] = mapped_column(Text)
    working_tags: Mapped[str | None] = mapped_column(Text)  # see `kinds.working_tags`
    working_doc_type: Mapped[str | None] = mapped_column(String(100))
    working_doc_number: Mapped[str | None] = mapped_column(String(100))
    doc_number: Mapped[str | None] = mapped_column(String(100), index=True)
    doc_type: Mapped[str | None] = mapped_column(String(100))
    issuer: Mapped[str | None] = mapped_column(String(200))
    issued_on: Mapped[date | None] = mapped_column(Date)


class Revision(Base):
    """An immutable snapshot of an item's editable fields."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(String(500))


class ItemTag(Base):
    """Tags of an item's live revision, for the public `?tag=` filter."""

    __tablename__ = "item_tags"

    item_id: Mapped[str] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class AuditEntry(Base):
    """One workflow transition; append-only (no API edits it, PostgreSQL forbids it)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    portal_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_stage: Mapped[str | None] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
