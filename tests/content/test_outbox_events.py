"""Outbox events of the content service: one per change to live content, in its transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from factories import Newsroom, article_in_last_stage, good_article, make_newsroom, now
from sqlalchemy import func, select

from services.common.db import Database
from services.content.items.kinds import ARTICLE
from services.content.items.service import apply_transition
from services.content.models import OUTBOX, AuditEntry, Item, Portal, Revision
from services.content.scheduler import run_due
from services.content.workflow import Action, Actor, Role, TransitionRequest

pytestmark = pytest.mark.postgres

DOCUMENT = {
    "number": "3216/BHXH-TT",
    "doc_type": "Công văn",
    "issuer": "Bảo hiểm xã hội Việt Nam",
    "signer": "Đào Việt Ánh",
    "issued_on": "2023-10-05",
    "effective_on": "2023-10-05",
    "summary": "Về việc triển khai công tác truyền thông trên Cổng TTĐT BHXH địa phương",
    "body": "<p>Căn cứ <b>Quyết định</b> số 2474/QĐ-BHXH.</p>",
    "field": "BHXH",
}
PAGE = {"title": "Giới thiệu chung", "body": "<h2>Chức năng</h2><p>Nhiệm vụ, quyền hạn.</p>"}


@pytest.fixture
async def newsroom(content_app, db) -> Newsroom:
    return await make_newsroom(content_app, db)


async def events(db: Database, key: str | None = None) -> list[Any]:
    query = select(OUTBOX.events).order_by(OUTBOX.events.c.id)
    if key is not None:
        query = query.where(OUTBOX.events.c.key == key)
    async with db.transaction() as session:
        return list((await session.execute(query)).all())


async def item_version(db: Database, item_id: str) -> int:
    async with db.transaction() as session:
        item = await session.get(Item, item_id)
        assert item is not None
        return item.version


async def audit_count(db: Database, item_id: str) -> int:
    async with db.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.item_id == item_id)
            )
            or 0
        )


class Desk:
    """Drives one kind of item through the API as the newsroom's members."""

    def __init__(self, client: httpx.AsyncClient, newsroom: Newsroom, plural: str) -> None:
        self.client = client
        self.newsroom = newsroom
        self.base = f"/v1/portals/{newsroom.portal}/{plural}"

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.post(self.base, json=body, headers=self.newsroom.headers("editor"))
        assert r.status_code == 201, r.text
        return r.json()

    async def act(self, item_id: str, action: str, who: str, **extra: Any) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/{item_id}/transitions",
            json={"action": action, **extra},
            headers=self.newsroom.headers(who),
        )

    async def publish(self, item_id: str) -> dict[str, Any]:
        for action, who in (("submit", "editor"), ("forward", "editor"), ("publish", "approver")):
            r = await self.act(item_id, action, who)
            assert r.status_code == 200, r.text
        return r.json()

    async def edit(self, item_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.patch(
            f"{self.base}/{item_id}", json=changes, headers=self.newsroom.headers("editor")
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def articles(client, newsroom) -> Desk:
    return Desk(client, newsroom, "articles")


@pytest.fixture
def documents(client, newsroom) -> Desk:
    return Desk(client, newsroom, "documents")


@pytest.fixture
def pages(client, newsroom) -> Desk:
    return Desk(client, newsroom, "pages")


def article_body(newsroom: Newsroom, **overrides: Any) -> dict[str, Any]:
    return good_article(newsroom.category_id, **overrides)


class TestArticleEvents:
    async def test_publish_writes_one_published_event(self, db, newsroom, articles):
        article = await articles.create(article_body(newsroom))
        published = await articles.publish(article["id"])

        [event] = await events(db)
        assert event.topic == "article.published"
        assert event.key == article["id"]
        assert event.version == await item_version(db, article["id"])
        payload = event.payload
        assert payload["id"] == article["id"]
        assert payload["portal"] == "phu-yen"
        assert payload["type"] == "article"
        assert payload["title"] == article["title"]
        assert payload["body_text"] == "Nội dung bài viết về chính sách bảo hiểm thất nghiệp."
        assert payload["url"] == published["url"]
        assert payload["url"].endswith(f"/articles/by-slug/{article['slug']}")
        assert payload["version"] == event.version
        assert payload["is_live"] is True
        assert payload["published_at"].startswith(published["published_at"][:19])
        assert "allowed_actions" not in payload

    async def test_drafts_edits_and_review_write_nothing(self, db, newsroom, articles):
        article = await articles.create(article_body(newsroom))
        await articles.edit(article["id"], {"title": "Một tiêu đề khác cho bản nháp"})
        assert (await articles.act(article["id"], "submit", "editor")).status_code == 200
        r = await articles.act(article["id"], "return", "editor", comment="Bổ sung ảnh")
        assert r.status_code == 200
        assert (await articles.act(article["id"], "submit", "editor")).status_code == 200
        assert (await articles.act(article["id"], "forward", "editor")).status_code == 200
        r = await articles.act(
            article["id"],
            "schedule",
            "approver",
            publish_at=(now() + timedelta(days=1)).isoformat(),
        )
        assert r.status_code == 200, r.text

        assert await events(db) == []

    async def test_edit_and_republish_writes_updated_with_a_higher_version(
        self, db, newsroom, articles
    ):
        article = await articles.create(article_body(newsroom))
        await articles.publish(article["id"])
        await articles.edit(article["id"], {"title": "Tiêu đề mới sau khi đăng"})
        assert len(await events(db)) == 1, "an edit leaves the live revision as it was"
        await articles.publish(article["id"])

        first, second = await events(db)
        assert (first.topic, second.topic) == ("article.published", "article.updated")
        assert second.version > first.version
        assert second.payload["version"] == second.version
        assert second.payload["title"] == "Tiêu đề mới sau khi đăng"
        assert second.payload["revision"] == 2
        assert second.id > first.id

    async def test_unpublish_writes_unpublished(self, db, newsroom, articles):
        article = await articles.create(article_body(newsroom))
        await articles.publish(article["id"])
        r = await articles.act(article["id"], "unpublish", "approver", comment="Sai số liệu")
        assert r.status_code == 200, r.text

        topics = [e.topic for e in await events(db, article["id"])]
        assert topics == ["article.published", "article.unpublished"]
        last = (await events(db))[-1]
        assert last.payload["id"] == article["id"]
        assert last.payload["is_live"] is False
        assert last.version == await item_version(db, article["id"])

    async def test_scheduled_publication_writes_its_event_when_it_runs(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=2)
        r = await client.post(
            f"/v1/portals/phu-yen/articles/{article['id']}/transitions",
            json={"action": "schedule", "publish_at": publish_at.isoformat()},
            headers=newsroom.headers("approver"),
        )
        assert r.status_code == 200, r.text
        assert await events(db) == []
        assert await run_due(db, now=publish_at) == 1
        assert [e.topic for e in await events(db)] == ["article.published"]


class TestDocumentAndPageEvents:
    async def test_document_events(self, db, documents):
        document = await documents.create(DOCUMENT)
        await documents.publish(document["id"])
        await documents.edit(document["id"], {"in_force": False})
        await documents.publish(document["id"])
        r = await documents.act(document["id"], "unpublish", "approver", comment="Hết hiệu lực")
        assert r.status_code == 200, r.text

        published, updated, unpublished = await events(db)
        assert [published.topic, updated.topic, unpublished.topic] == [
            "document.published",
            "document.updated",
            "document.unpublished",
        ]
        assert published.version < updated.version < unpublished.version
        payload = published.payload
        assert payload["id"] == document["id"]
        assert payload["portal"] == "phu-yen"
        assert payload["type"] == "document"
        assert payload["number"] == "3216/BHXH-TT"
        assert payload["title"] == f"3216/BHXH-TT {DOCUMENT['summary']}"
        assert payload["body_text"] == "Căn cứ Quyết định số 2474/QĐ-BHXH."
        assert payload["url"].endswith(f"/documents/by-slug/{document['slug']}")
        assert payload["version"] == published.version
        assert updated.payload["in_force"] is False

    async def test_page_events(self, db, pages):
        page = await pages.create(PAGE)
        await pages.publish(page["id"])
        await pages.edit(page["id"], {"title": "Giới thiệu"})
        await pages.publish(page["id"])

        published, updated = await events(db)
        assert (published.topic, updated.topic) == ("page.published", "page.updated")
        assert published.payload["title"] == "Giới thiệu chung"
        assert published.payload["body_text"].split() == [
            "Chức",
            "năng",
            "Nhiệm",
            "vụ,",
            "quyền",
            "hạn.",
        ]
        assert updated.payload["title"] == "Giới thiệu"
        assert updated.version > published.version
        assert updated.payload["version"] == updated.version


class TestFailedRequestsWriteNothing:
    async def test_posting_standards_refusal(self, db, newsroom, articles):
        article = await articles.create({"title": "Ngắn", "category_id": newsroom.category_id})
        version = await item_version(db, article["id"])
        r = await articles.act(article["id"], "submit", "editor")
        assert r.status_code == 422
        assert r.json()["type"].endswith("/standards-not-met")
        assert await events(db) == []
        assert await audit_count(db, article["id"]) == 0
        assert await item_version(db, article["id"]) == version

    async def test_transition_from_the_wrong_state(self, db, newsroom, articles):
        article = await articles.create(article_body(newsroom))
        r = await articles.act(article["id"], "publish", "approver")
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        assert await events(db) == []
        assert await audit_count(db, article["id"]) == 0

    async def test_takedown_without_a_reason_leaves_it_online(self, client, db, newsroom, articles):
        article = await articles.create(article_body(newsroom))
        await articles.publish(article["id"])
        version = await item_version(db, article["id"])
        audits = await audit_count(db, article["id"])

        r = await articles.act(article["id"], "unpublish", "approver")
        assert r.status_code == 422
        r = await articles.act(article["id"], "unpublish", "editor", comment="Không có quyền")
        assert r.status_code == 403

        assert [e.topic for e in await events(db)] == ["article.published"]
        assert await item_version(db, article["id"]) == version
        assert await audit_count(db, article["id"]) == audits
        assert (
            await client.get(f"/v1/portals/phu-yen/articles/{article['id']}")
        ).status_code == 200

    async def test_bad_publication_times(self, db, newsroom, articles):
        article = await articles.create(article_body(newsroom))
        for action, who in (("submit", "editor"), ("forward", "editor")):
            assert (await articles.act(article["id"], action, who)).status_code == 200
        r = await articles.act(
            article["id"],
            "publish",
            "approver",
            unpublish_at=(now() - timedelta(minutes=1)).isoformat(),
        )
        assert r.status_code == 422
        assert await events(db) == []

    async def test_a_failure_after_the_event_rolls_the_event_back(self, db, newsroom, articles):
        """The event is written in the caller's transaction, not committed on its own."""
        article = await articles.create(article_body(newsroom))
        for action, who in (("submit", "editor"), ("forward", "editor")):
            assert (await articles.act(article["id"], action, who)).status_code == 200
        approver = newsroom.people["approver"]

        async def publish_then_fail() -> None:
            async with db.transaction() as session:
                item = await session.get(Item, article["id"])
                portal = await session.get(Portal, "phu-yen")
                assert item is not None
                assert portal is not None
                await apply_transition(
                    session,
                    ARTICLE,
                    item,
                    portal=portal,
                    actor=Actor(user_id=approver.id, role=Role.APPROVER),
                    actor_name=approver.username,
                    request=TransitionRequest(action=Action.PUBLISH, now=now()),
                )
                count = await session.scalar(select(func.count()).select_from(OUTBOX.events))
                assert count == 1
                raise RuntimeError("a failure after the event")

        with pytest.raises(RuntimeError, match="after the event"):
            await publish_then_fail()

        assert await events(db) == []
        async with db.transaction() as session:
            item = await session.get(Item, article["id"])
            assert item is not None
            assert (item.status, item.is_live, item.live_revision) == ("in_review", False, None)
            revisions = await session.scalar(
                select(func.count()).select_from(Revision).where(Revision.item_id == item.id)
            )
            assert revisions == 1
        assert await audit_count(db, article["id"]) == 2  # submit, forward; not the publish
