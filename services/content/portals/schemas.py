"""API models of portals and categories."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from services.common.paths import PORTAL_ID_MAX, PORTAL_ID_MIN, SLUG_PATTERN
from services.common.types import HttpUrl, NfcLine

# The rule the path parameter `{portal}` is checked against: a created portal is addressable.
PortalId = Annotated[
    str,
    StringConstraints(min_length=PORTAL_ID_MIN, max_length=PORTAL_ID_MAX, pattern=SLUG_PATTERN),
]
Name = Annotated[NfcLine, StringConstraints(min_length=1, max_length=200)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Locales = Annotated[list[Literal["vi", "en"]], AfterValidator(_unique)]


class Spokesperson(BaseModel):
    """Người phát ngôn: the portal's spokesperson."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    title: Annotated[NfcLine, StringConstraints(max_length=200)] | None = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9 +().-]{3,40}$")
    email: EmailStr | None = None


class SpokespersonRead(BaseModel):
    name: str
    title: str | None = None
    phone: str | None = None
    email: str | None = None


class PortalLink(BaseModel):
    """A link to a department portal (sở, ban, ngành)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    url: HttpUrl


class PortalLinkRead(BaseModel):
    name: str
    url: str


class StageName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vi: Name
    en: Name


class StageConfig(BaseModel):
    """One review stage: the lowest role that may pass it, and its name in both languages."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name: StageName
    role: Literal["editor", "head", "approver", "admin"]


class PortalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PortalId
    name: Name
    kind: Literal["central", "provincial"] = "provincial"
    locales: Locales = Field(default=["vi"], min_length=1)
    site_url: HttpUrl | None = None
    spokesperson: Spokesperson | None = None
    links: list[PortalLink] = Field(default_factory=list, max_length=100)


class PortalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    locales: Locales | None = Field(default=None, min_length=1)
    site_url: HttpUrl | None = None
    spokesperson: Spokesperson | None = None
    links: list[PortalLink] | None = Field(default=None, max_length=100)
    review_stages: list[StageConfig] | None = Field(default=None, min_length=1, max_length=6)
    standards: dict[str, Any] | None = None

    @field_validator("name", "locales", "links", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # These may be left out, but a portal always has them: null cannot clear them.
        if value is None:
            raise ValueError("this field cannot be null; leave it out to keep its value")
        return value


class PortalRead(BaseModel):
    id: str
    name: str
    kind: str
    locales: list[str]
    site_url: str | None
    spokesperson: SpokespersonRead | None
    links: list[PortalLinkRead]
    review_stages: list[StageConfig]
    standards: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PortalList(BaseModel):
    items: list[PortalRead]
    next_cursor: str | None = None


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: str | None = Field(default=None, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    parent_id: str | None = Field(default=None, max_length=32)
    position: int = Field(default=0, ge=0, le=10_000)


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    slug: str | None = Field(default=None, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    parent_id: str | None = Field(default=None, max_length=32)
    position: int | None = Field(default=None, ge=0, le=10_000)


class CategoryRead(BaseModel):
    id: str
    portal: str
    name: str
    slug: str
    parent_id: str | None
    position: int


class CategoryList(BaseModel):
    items: list[CategoryRead]
    next_cursor: str | None = None
