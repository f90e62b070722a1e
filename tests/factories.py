"""Typed factories for test data, written straight to the test's database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastapi import FastAPI

from services.common.db import Database
from services.common.security import TokenIssuer
from services.content.accounts.passwords import hash_password
from services.content.models import Category, Membership, Portal, User

PASSWORD = "correct horse battery"


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class TestUser:
    id: str
    username: str
    headers: dict[str, str]


async def make_portal(db: Database, portal_id: str = "phu-yen", **overrides: Any) -> Portal:
    values: dict[str, Any] = {
        "id": portal_id,
        "name": f"BHXH {portal_id}",
        "kind": "central" if portal_id == "trung-uong" else "provincial",
        "locales": ["vi", "en"],
        "links": [],
    }
    values.update(overrides)
    async with db.transaction() as session:
        portal = Portal(**values)
        session.add(portal)
    return portal


async def make_category(
    db: Database, portal: str = "phu-yen", name: str = "Tin tức", **overrides: Any
) -> Category:
    async with db.transaction() as session:
        category = Category(
            portal_id=portal,
            name=name,
            slug=overrides.pop("slug", None) or uuid.uuid4().hex[:12],
            **overrides,
        )
        session.add(category)
        await session.flush()
    return category


async def make_user(
    app: FastAPI,
    db: Database,
    *,
    roles: dict[str, str] | None = None,
    superadmin: bool = False,
    username: str | None = None,
) -> TestUser:
    """A user with roles, and the headers carrying a valid access token for them."""
    username = username or f"user-{uuid.uuid4().hex[:10]}"
    async with db.transaction() as session:
        user = User(
            username=username,
            password_hash=_password_hash(),
            full_name=f"Người dùng {username}",
            is_superadmin=superadmin,
        )
        session.add(user)
        await session.flush()
        for portal, role in (roles or {}).items():
            session.add(Membership(user_id=user.id, portal_id=portal, role=role))
        user_id = user.id
    issuer: TokenIssuer = app.state.issuer
    token, _ = issuer.issue(
        subject=user_id, username=username, roles=roles or {}, is_superadmin=superadmin
    )
    return TestUser(user_id, username, {"Authorization": f"Bearer {token}"})


def good_article(category_id: str, **overrides: Any) -> dict[str, Any]:
    """An article that meets the default posting standard."""
    article = {
        "title": "Bảo hiểm xã hội tỉnh Phú Yên đẩy mạnh truyền thông",
        "lead": "Bảo hiểm xã hội tỉnh Phú Yên tổ chức hội nghị tập huấn nghiệp vụ truyền thông.",
        "body": "<p>Nội dung bài viết về chính sách bảo hiểm thất nghiệp.</p>",
        "category_id": category_id,
        "tags": ["truyền thông"],
        "featured_media_id": "media-1",
        "featured_caption": "Quang cảnh hội nghị",
        "author": "Lâm Thảo",
        "source": "BHXH Phú Yên",
    }
    article.update(overrides)
    return article


def now() -> datetime:
    return datetime.now(UTC)
