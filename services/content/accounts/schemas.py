"""API models of accounts, tokens and memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.common.types import NfcLine
from services.content.workflow import Role

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$"
    ),
]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class SignOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(
        default=None,
        max_length=4096,
        description="Ends this token's session; without it, the session of the access token.",
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256, description="At least 10 characters.")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool = Field(
        description="false deactivates the account platform-wide and ends its sessions; "
        "true lets it sign in again."
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class MembershipRead(BaseModel):
    portal: str
    role: Role


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: str = Field(min_length=10, max_length=256, description="At least 10 characters.")
    full_name: Annotated[NfcLine, StringConstraints(min_length=1, max_length=200)]
    email: EmailStr | None = None


class UserRead(BaseModel):
    id: str
    username: str
    full_name: str
    email: str | None
    is_superadmin: bool
    is_active: bool
    created_at: datetime


class MeRead(UserRead):
    memberships: list[MembershipRead]


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberRead(BaseModel):
    user_id: str
    username: str
    full_name: str
    portal: str
    role: Role


class MemberList(BaseModel):
    """Every member of a portal (a portal has tens of members, so one page)."""

    items: list[MemberRead]
    next_cursor: str | None = None
