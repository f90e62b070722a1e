"""Tables of the media service (its own database; no other service reads them).

    media_assets ── one row per stored file (the bytes live in the storage backend)
    media_usage_items ── content items that told us what they use (version, published)
    media_usage_links ── item → media ids it uses (no foreign key: content may name an
                         id before or after the asset exists, and deletion checks links)

An asset is public when a published item uses it; otherwise only members of its portal
see it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.db import UtcDateTime, make_metadata


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = make_metadata()


class MediaAsset(Base):
    __tablename__ = "media_assets"
    __table_args__ = (UniqueConstraint("portal_id", "sha256"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    portal_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(100))
    ext: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), doc="Of the bytes as uploaded.")
    stored_sha256: Mapped[str] = mapped_column(
        String(64), doc="Of the stored original (images are re-encoded without metadata)."
    )
    original_name: Mapped[str] = mapped_column(String(255))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    has_poster: Mapped[bool] = mapped_column(Boolean, default=False)
    focal_x: Mapped[float | None] = mapped_column(Float)
    focal_y: Mapped[float | None] = mapped_column(Float)
    caption: Mapped[str | None] = mapped_column(Text)
    credit: Mapped[str | None] = mapped_column(String(500))
    alt: Mapped[str | None] = mapped_column(String(1000))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UsageItem(Base):
    __tablename__ = "media_usage_items"

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    portal_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UsageLink(Base):
    __tablename__ = "media_usage_links"
    __table_args__ = (Index("ix_media_usage_links_media", "media_id"),)

    item_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("media_usage_items.item_id", ondelete="CASCADE"), primary_key=True
    )
    media_id: Mapped[str] = mapped_column(String(64), primary_key=True)
