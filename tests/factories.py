"""Typed factories for test data, written straight to the test's database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
import pgserver
from fastapi import FastAPI

from services.common.db import Database
from services.common.migrate import upgrade
from services.common.security import TokenIssuer
from services.content.accounts.passwords import hash_password
from services.content.models import AuthSession, Category, Membership, Portal, User

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
    """A user with roles, and the headers carrying a valid access token for them (of a
    sign-in session of theirs, as `/v1/auth/token` would open)."""
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
        auth = AuthSession(user_id=user.id, refresh_jti=uuid.uuid4().hex)
        session.add(auth)
        await session.flush()
        user_id, session_id = user.id, auth.id
    issuer: TokenIssuer = app.state.issuer
    token, _ = issuer.issue(
        subject=user_id,
        username=username,
        roles=roles or {},
        is_superadmin=superadmin,
        session_id=session_id,
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


@dataclass(frozen=True)
class Newsroom:
    """A provincial portal with a category and one member per role."""

    portal: str
    category_id: str
    people: dict[str, TestUser]

    def headers(self, role: str) -> dict[str, str]:
        return self.people[role].headers


async def make_newsroom(app: FastAPI, db: Database, portal: str = "phu-yen") -> Newsroom:
    await make_portal(db, portal)
    category = await make_category(db, portal)
    people = {
        role: await make_user(app, db, roles={portal: role})
        for role in ("contributor", "editor", "approver", "admin")
    }
    return Newsroom(portal, category.id, people)


async def article_in_last_stage(
    client: httpx.AsyncClient, newsroom: Newsroom, **overrides: Any
) -> dict[str, Any]:
    """A new article submitted and forwarded, waiting for the approver's decision."""
    base = f"/v1/portals/{newsroom.portal}/articles"
    r = await client.post(
        base,
        json=good_article(newsroom.category_id, **overrides),
        headers=newsroom.headers("contributor"),
    )
    assert r.status_code == 201, r.text
    article: dict[str, Any] = r.json()
    for action, who in (("submit", "contributor"), ("forward", "editor")):
        r = await client.post(
            f"{base}/{article['id']}/transitions",
            json={"action": action},
            headers=newsroom.headers(who),
        )
        assert r.status_code == 200, r.text
        article = r.json()
    return article


@contextmanager
def fresh_database(server: pgserver.PgServer, label: str) -> Iterator[str]:
    """A new PostgreSQL database migrated to head (its own, so tests may commit)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"portal_{label}_{worker}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    pgserver.create_database(server, name)
    url = server.url(name)
    try:
        upgrade("content", url)
        yield url
    finally:
        pgserver.drop_database(server, name)


async def deactivate_user(db: Database, user_id: str) -> None:
    """Mark an account inactive, as an operator would when someone leaves."""
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.is_active = False


def good_document(**overrides: Any) -> dict[str, Any]:
    """A legal document (công văn) with everything a submit needs."""
    document: dict[str, Any] = {
        "number": "3216/BHXH-TT",
        "doc_type": "Công văn",
        "issuer": "Bảo hiểm xã hội Việt Nam",
        "signer": "Trần Đình Liệu",
        "issued_on": "2024-08-05",
        "effective_on": "2024-08-05",
        "summary": "Về việc hướng dẫn thực hiện chính sách bảo hiểm thất nghiệp",
        "body": "<p>Nội dung công văn.</p>",
        "field": "BHTN",
    }
    document.update(overrides)
    return document


def good_page(**overrides: Any) -> dict[str, Any]:
    """A static page (giới thiệu) with a title and a body."""
    page: dict[str, Any] = {
        "title": "Giới thiệu Bảo hiểm xã hội tỉnh",
        "body": "<p>Chức năng, nhiệm vụ và cơ cấu tổ chức.</p>",
    }
    page.update(overrides)
    return page


PROBLEM = "application/problem+json"


def assert_problem(r: Any, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and type); return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = r.json()
    assert problem["status"] == status
    if type_suffix is not None:
        assert problem["type"].endswith("/" + type_suffix), problem["type"]
    return problem


def error_fields(problem: dict[str, Any]) -> set[str]:
    """The fields named in a problem's `errors`."""
    return {e["field"] for e in problem.get("errors", [])}
