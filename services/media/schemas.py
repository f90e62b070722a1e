"""What the media API reads and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.types import Nfc

Caption = Annotated[Nfc, StringConstraints(max_length=2000, strip_whitespace=True)]
Credit = Annotated[Nfc, StringConstraints(max_length=500, strip_whitespace=True)]
Alt = Annotated[Nfc, StringConstraints(max_length=1000, strip_whitespace=True)]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class FocalPoint(BaseModel):
    """Where the subject is, as fractions of the width and height (0 = left/top)."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class Renditions(BaseModel):
    thumb: str
    small: str
    medium: str
    large: str


class UsageRead(BaseModel):
    item_id: str
    portal: str
    published: bool


class MediaRead(BaseModel):
    id: str
    portal: str
    kind: Literal["image", "video", "audio", "document"]
    mime: str
    size: int
    sha256: str = Field(description="SHA-256 of the bytes as uploaded.")
    name: str = Field(description="The uploaded file name (NFC).")
    width: int | None = None
    height: int | None = None
    duration: float | None = Field(default=None, description="Seconds (video/audio).")
    caption: str | None = None
    credit: str | None = None
    alt: str | None = None
    focal: FocalPoint | None = None
    url: str = Field(description="The original file.")
    renditions: Renditions | None = Field(
        default=None, description="Images: resized WebP (or JPEG by Accept), cached for a year."
    )
    poster: str | None = Field(default=None, description="Video: a still frame (JPEG).")
    public: bool = Field(description="Used by published content, so anyone may read it.")
    usable_as_featured: bool = Field(
        description="An image with alt text: content may use it as a featured image."
    )
    used_by: list[UsageRead] | None = Field(
        default=None, description="Items using it (shown to members of its portal)."
    )
    created_at: datetime
    updated_at: datetime


class MediaPage(BaseModel):
    items: list[MediaRead]
    next_cursor: str | None = None


class MediaUpdate(BaseModel):
    """Fields an editor may change; absent fields are left alone, null clears."""

    model_config = ConfigDict(extra="forbid")

    caption: Caption | None = None
    credit: Credit | None = None
    alt: Alt | None = None
    focal: FocalPoint | None = None


class UsageUpdate(BaseModel):
    """What one content item uses (sent by the content service)."""

    model_config = ConfigDict(extra="forbid")

    portal: Id
    media_ids: list[Id] = Field(default_factory=list, max_length=200)
    published: bool = False
    version: int = Field(default=0, ge=0)
