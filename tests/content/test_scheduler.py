"""Scheduled publish and unpublish: through the API, across restarts, and on its own.

Most tests drive `run_due(db, now=…)` with a chosen clock on the rolled-back test database.
The restart and background-loop tests use real time on a database of their own, because
the loop runs concurrently with the test and must commit like production does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from factories import (
    Newsroom,
    article_in_last_stage,
    fresh_database,
    make_newsroom,
    now,
)
from fastapi import FastAPI
from sqlalchemy import select

from services.common.db import Database
from services.content.app import create_app
from services.content.models import OUTBOX, Item
from services.content.scheduler import SYSTEM_NAME, run_due
from services.content.settings import ContentSettings

pytestmark = pytest.mark.postgres


@pytest.fixture
def content_settings(tmp_path, signing_key_pem) -> ContentSettings:
    # No micro-cache: these tests call `run_due` directly, outside the app, and then read.
    return ContentSettings(
        data_dir=tmp_path,
        jwt_private_key_pem=signing_key_pem,
        run_background=False,
        public_cache_ttl=0,
    )


@pytest.fixture
async def newsroom(content_app, db) -> Newsroom:
    return await make_newsroom(content_app, db)


def url_of(article: dict[str, Any]) -> str:
    return f"/v1/portals/{article['portal']}/articles/{article['id']}"


async def schedule(
    client: httpx.AsyncClient,
    newsroom: Newsroom,
    article: dict[str, Any],
    publish_at: datetime,
    unpublish_at: datetime | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"action": "schedule", "publish_at": publish_at.isoformat()}
    if unpublish_at is not None:
        body["unpublish_at"] = unpublish_at.isoformat()
    r = await client.post(
        url_of(article) + "/transitions", json=body, headers=newsroom.headers("approver")
    )
    assert r.status_code == 200, r.text
    return r.json()


async def history(client: httpx.AsyncClient, newsroom: Newsroom, article: dict[str, Any]):
    r = await client.get(url_of(article) + "/history", headers=newsroom.headers("editor"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def events_of(db: Database, item_id: str) -> list[Any]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(OUTBOX.events).where(OUTBOX.events.c.key == item_id).order_by(OUTBOX.events.c.id)
        )
        return list(rows.all())


async def public_status(client: httpx.AsyncClient, article: dict[str, Any]) -> int:
    return (await client.get(url_of(article))).status_code


async def public_ids(client: httpx.AsyncClient, portal: str) -> set[str]:
    r = await client.get(f"/v1/portals/{portal}/articles")
    assert r.status_code == 200, r.text
    return {a["id"] for a in r.json()["items"]}


class TestScheduleArticle:
    async def test_scheduled_article_waits_for_its_time(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=1)
        scheduled = await schedule(
            client, newsroom, article, publish_at, publish_at + timedelta(days=1)
        )
        assert scheduled["status"] == "scheduled"
        assert scheduled["is_live"] is False
        assert datetime.fromisoformat(scheduled["publish_at"]) == publish_at
        assert await public_status(client, article) == 404
        assert article["id"] not in await public_ids(client, newsroom.portal)
        assert await run_due(db, now=publish_at - timedelta(seconds=1)) == 0
        assert await public_status(client, article) == 404
        assert await events_of(db, article["id"]) == []

    @pytest.mark.parametrize(
        ("times", "field"),
        [
            ({}, "publish_at"),
            ({"publish_at": "2001-01-01T00:00:00+00:00"}, "publish_at"),
            ({"publish_at": "2099-01-01T08:00:00"}, "publish_at"),  # naive: which zone?
            ({"publish_at": "ngày mai"}, "publish_at"),
            ({"publish_at": "9999-12-31T23:00:00-05:00"}, "publish_at"),  # past year 9999 in UTC
            (
                {
                    "publish_at": "2099-01-02T00:00:00+07:00",
                    "unpublish_at": "2099-01-01T00:00:00+07:00",
                },
                "unpublish_at",
            ),
        ],
    )
    async def test_bad_times_are_422_and_change_nothing(self, client, db, newsroom, times, field):
        article = await article_in_last_stage(client, newsroom)
        r = await client.post(
            url_of(article) + "/transitions",
            json={"action": "schedule", **times},
            headers=newsroom.headers("approver"),
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in r.json()["errors"]}
        r = await client.get(url_of(article), headers=newsroom.headers("editor"))
        assert r.json()["status"] == "in_review"
        assert r.json()["publish_at"] is None
        assert [h["action"] for h in await history(client, newsroom, article)] == [
            "submit",
            "forward",
        ]

    @pytest.mark.parametrize(
        "body",
        [
            {"action": "fly"},
            {"action": "schedule", "publish_at": "2099-02-30T08:00:00+07:00"},
            {"action": "schedule", "publish_at": 1e20},
            {"action": "schedule", "publish_at": 12345},
            {"action": "schedule", "publish_at": ["2099-01-01T00:00:00Z"]},
            {"action": "schedule", "publish_at": "2099-01-01T00:00:00Z", "when": "soon"},
            {"action": "schedule", "publish_at": "0001-01-01T00:00:00+07:00"},
            {"action": "publish", "unpublish_at": "9999-12-31T23:59:59-23:59"},
            [],
            "schedule",
        ],
    )
    async def test_garbage_is_a_4xx_problem(self, client, newsroom, body):
        article = await article_in_last_stage(client, newsroom)
        r = await client.post(
            url_of(article) + "/transitions", json=body, headers=newsroom.headers("approver")
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        r = await client.get(url_of(article), headers=newsroom.headers("editor"))
        assert r.json()["status"] == "in_review"

    async def test_a_body_that_is_not_json_is_a_4xx_problem(self, client, newsroom):
        article = await article_in_last_stage(client, newsroom)
        r = await client.post(
            url_of(article) + "/transitions",
            content=b"{action: schedule",
            headers={**newsroom.headers("approver"), "content-type": "application/json"},
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"

    async def test_only_the_last_stage_may_schedule(self, client, newsroom):
        article = await article_in_last_stage(client, newsroom)
        r = await client.post(
            url_of(article) + "/transitions",
            json={"action": "schedule", "publish_at": (now() + timedelta(hours=1)).isoformat()},
            headers=newsroom.headers("editor"),
        )
        assert r.status_code == 403


class TestRunDue:
    async def test_publishes_when_due(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=1)
        await schedule(client, newsroom, article, publish_at, publish_at + timedelta(days=1))
        when = publish_at + timedelta(minutes=1)

        assert await run_due(db, now=when) == 1

        r = await client.get(url_of(article))
        assert r.status_code == 200
        public = r.json()
        assert public["status"] == "published"
        assert public["title"] == article["title"]
        assert datetime.fromisoformat(public["published_at"]) == when
        assert public["publish_at"] is None
        assert datetime.fromisoformat(public["unpublish_at"]) == publish_at + timedelta(days=1)
        assert article["id"] in await public_ids(client, newsroom.portal)
        last = (await history(client, newsroom, article))[-1]
        assert last["action"] == "publish"
        assert last["actor_id"] is None
        assert last["actor_name"] == SYSTEM_NAME
        assert (last["from_status"], last["to_status"]) == ("scheduled", "published")
        assert datetime.fromisoformat(last["at"]) == when
        assert [e.topic for e in await events_of(db, article["id"])] == ["article.published"]

    async def test_unpublishes_when_due(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=1)
        unpublish_at = publish_at + timedelta(days=1)
        await schedule(client, newsroom, article, publish_at, unpublish_at)
        assert await run_due(db, now=publish_at) == 1
        assert await run_due(db, now=unpublish_at - timedelta(seconds=1)) == 0
        assert await public_status(client, article) == 200

        assert await run_due(db, now=unpublish_at) == 1

        assert await public_status(client, article) == 404
        assert article["id"] not in await public_ids(client, newsroom.portal)
        staff = (await client.get(url_of(article), headers=newsroom.headers("editor"))).json()
        assert staff["status"] == "unpublished"
        assert staff["is_live"] is False
        assert staff["unpublish_at"] is None
        entries = await history(client, newsroom, article)
        assert [e["action"] for e in entries[-2:]] == ["publish", "unpublish"]
        assert entries[-1]["actor_name"] == SYSTEM_NAME
        assert entries[-1]["comment"], "a takedown always records its reason"
        assert [e.topic for e in await events_of(db, article["id"])] == [
            "article.published",
            "article.unpublished",
        ]

    async def test_a_second_pass_does_nothing(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=1)
        await schedule(client, newsroom, article, publish_at, publish_at + timedelta(hours=1))
        later = publish_at + timedelta(minutes=5)
        assert await run_due(db, now=later) == 1
        before = await history(client, newsroom, article)

        assert await run_due(db, now=later) == 0
        assert await run_due(db, now=later + timedelta(seconds=1)) == 0

        assert await history(client, newsroom, article) == before
        assert len(await events_of(db, article["id"])) == 1

    async def test_an_item_edited_after_scheduling_is_not_published(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=1)
        await schedule(client, newsroom, article, publish_at, publish_at + timedelta(hours=1))
        r = await client.patch(
            url_of(article),
            json={"title": "Tiêu đề sửa lại sau khi đã hẹn giờ"},
            headers=newsroom.headers("approver"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "draft"
        assert r.json()["publish_at"] is None

        assert await run_due(db, now=publish_at + timedelta(days=2)) == 0

        assert await public_status(client, article) == 404
        staff = (await client.get(url_of(article), headers=newsroom.headers("editor"))).json()
        assert staff["status"] == "draft"
        assert staff["is_live"] is False
        assert await events_of(db, article["id"]) == []

    async def test_a_new_revision_of_a_live_article_goes_live_on_time(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        r = await client.post(
            url_of(article) + "/transitions",
            json={"action": "publish"},
            headers=newsroom.headers("approver"),
        )
        assert r.status_code == 200, r.text
        first_published = r.json()["published_at"]
        edited = "Bản cập nhật có hẹn giờ của bài viết"
        r = await client.patch(
            url_of(article), json={"title": edited}, headers=newsroom.headers("editor")
        )
        assert r.status_code == 200, r.text
        for action, who in (("submit", "editor"), ("forward", "editor")):
            r = await client.post(
                url_of(article) + "/transitions",
                json={"action": action},
                headers=newsroom.headers(who),
            )
            assert r.status_code == 200, r.text
        publish_at = now() + timedelta(hours=1)
        await schedule(client, newsroom, article, publish_at)
        assert (await client.get(url_of(article))).json()["title"] == article["title"]

        assert await run_due(db, now=publish_at) == 1

        public = (await client.get(url_of(article))).json()
        assert public["title"] == edited
        assert public["revision"] == 2
        assert public["published_at"] == first_published
        events = await events_of(db, article["id"])
        assert [e.topic for e in events] == ["article.published", "article.updated"]
        assert events[1].version > events[0].version
        assert events[1].payload["title"] == edited

    async def test_a_broken_item_does_not_hold_up_the_others(self, client, db, newsroom):
        article = await article_in_last_stage(client, newsroom)
        publish_at = now() + timedelta(hours=1)
        await schedule(client, newsroom, article, publish_at)
        async with db.transaction() as session:
            # A scheduled item whose revision is missing: it sorts first among the due items.
            session.add(
                Item(
                    id="0" * 32,
                    portal_id=newsroom.portal,
                    kind="article",
                    slug="hong",
                    status="scheduled",
                    author_id=newsroom.people["contributor"].id,
                    current_revision=7,
                    publish_at=publish_at,
                )
            )

        assert await run_due(db, now=publish_at) == 1

        assert await public_status(client, article) == 200
        async with db.transaction() as session:
            broken = await session.get(Item, "0" * 32)
            assert broken is not None
            assert broken.status == "scheduled"


class TestRestart:
    """The schedule lives in the database: a new instance catches up on what fell due."""

    async def _schedule_then_stop(
        self, content_settings, db, publish_at: datetime, unpublish_at: datetime
    ) -> tuple[Newsroom, dict[str, Any]]:
        first = create_app(content_settings, database=db)
        async with first.router.lifespan_context(first), _client(first) as client:
            newsroom = await make_newsroom(first, db)
            article = await article_in_last_stage(client, newsroom)
            await schedule(client, newsroom, article, publish_at, unpublish_at)
        return newsroom, article

    async def test_publish_time_passed_while_down(self, content_settings, db):
        publish_at = now() + timedelta(hours=1)
        unpublish_at = publish_at + timedelta(days=1)
        newsroom, article = await self._schedule_then_stop(
            content_settings, db, publish_at, unpublish_at
        )

        second = create_app(content_settings, database=db)
        async with second.router.lifespan_context(second), _client(second) as client:
            assert await run_due(second.state.db, now=publish_at + timedelta(hours=3)) == 1
            assert await public_status(client, article) == 200
            entries = await history(client, newsroom, article)
            assert [e["action"] for e in entries] == ["submit", "forward", "schedule", "publish"]
            assert entries[-1]["actor_name"] == SYSTEM_NAME
            staff = (await client.get(url_of(article), headers=newsroom.headers("editor"))).json()
            assert datetime.fromisoformat(staff["unpublish_at"]) == unpublish_at
        assert [e.topic for e in await events_of(db, article["id"])] == ["article.published"]

    async def test_publish_and_unpublish_times_both_passed_while_down(self, content_settings, db):
        publish_at = now() + timedelta(hours=1)
        unpublish_at = publish_at + timedelta(hours=2)
        newsroom, article = await self._schedule_then_stop(
            content_settings, db, publish_at, unpublish_at
        )

        second = create_app(content_settings, database=db)
        async with second.router.lifespan_context(second), _client(second) as client:
            assert await run_due(second.state.db, now=unpublish_at + timedelta(days=1)) == 2
            assert await public_status(client, article) == 404
            entries = await history(client, newsroom, article)
            assert [(e["action"], e["from_status"], e["to_status"]) for e in entries[-2:]] == [
                ("publish", "scheduled", "published"),
                ("unpublish", "published", "unpublished"),
            ]
            assert {e["actor_name"] for e in entries[-2:]} == {SYSTEM_NAME}
            assert entries[-2]["id"] < entries[-1]["id"]
            staff = (await client.get(url_of(article), headers=newsroom.headers("editor"))).json()
            assert staff["status"] == "unpublished"
            assert staff["is_live"] is False
            assert await run_due(second.state.db, now=unpublish_at + timedelta(days=2)) == 0
        assert [e.topic for e in await events_of(db, article["id"])] == [
            "article.published",
            "article.unpublished",
        ]


# ---------------------------------------------------------------------------- real time


@pytest.fixture
def own_database_url(pg_server) -> Iterator[str]:
    with fresh_database(pg_server, "sched") as url:
        yield url


def _settings(tmp_path, signing_key_pem, url: str, *, background: bool) -> ContentSettings:
    return ContentSettings(
        data_dir=tmp_path,
        database_url=url,
        jwt_private_key_pem=signing_key_pem,
        run_background=background,
        scheduler_interval=0.2,
    )


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://content")


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout} s")
        await asyncio.sleep(0.1)


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


@pytest.fixture
async def running(tmp_path, signing_key_pem, own_database_url) -> AsyncIterator[FastAPI]:
    app = create_app(_settings(tmp_path, signing_key_pem, own_database_url, background=True))
    async with app.router.lifespan_context(app):
        yield app


class TestBackgroundLoop:
    async def test_publishes_and_takes_down_on_its_own(self, running):
        db = running.state.db
        async with _client(running) as client:
            newsroom = await make_newsroom(running, db)
            article = await article_in_last_stage(client, newsroom)
            start = now()
            await schedule(
                client,
                newsroom,
                article,
                start + timedelta(seconds=1),
                start + timedelta(seconds=2),
            )
            assert await public_status(client, article) == 404

            async def is_public() -> bool:
                return await public_status(client, article) == 200

            async def is_gone() -> bool:
                return await public_status(client, article) == 404

            await _until(is_public)
            assert now() >= start + timedelta(seconds=1), "published before its time"
            await _until(is_gone)
            entries = await history(client, newsroom, article)
            assert [e["action"] for e in entries[-2:]] == ["publish", "unpublish"]
            assert {e["actor_name"] for e in entries[-2:]} == {SYSTEM_NAME}
        assert [e.topic for e in await events_of(db, article["id"])] == [
            "article.published",
            "article.unpublished",
        ]


class TestRealRestart:
    async def _schedule_with_a_first_instance(
        self, settings: ContentSettings, publish_in: float, unpublish_in: float
    ) -> tuple[Newsroom, dict[str, Any], datetime]:
        first = create_app(settings)
        async with first.router.lifespan_context(first), _client(first) as client:
            newsroom = await make_newsroom(first, first.state.db)
            article = await article_in_last_stage(client, newsroom)
            start = now()
            await schedule(
                client,
                newsroom,
                article,
                start + timedelta(seconds=publish_in),
                start + timedelta(seconds=unpublish_in),
            )
        return newsroom, article, start

    async def test_catches_up_on_a_publish_missed_while_down(
        self, tmp_path, signing_key_pem, own_database_url
    ):
        quiet = _settings(tmp_path, signing_key_pem, own_database_url, background=False)
        newsroom, article, start = await self._schedule_with_a_first_instance(quiet, 1, 3600)
        await _sleep_until(start + timedelta(seconds=1.2))  # down while it falls due

        loud = _settings(tmp_path, signing_key_pem, own_database_url, background=True)
        second = create_app(loud)
        async with second.router.lifespan_context(second), _client(second) as client:

            async def is_public() -> bool:
                return await public_status(client, article) == 200

            await _until(is_public)
            entries = await history(client, newsroom, article)
            assert [e["action"] for e in entries] == ["submit", "forward", "schedule", "publish"]
            assert entries[-1]["actor_name"] == SYSTEM_NAME

    async def test_catches_up_on_publish_and_unpublish_missed_while_down(
        self, tmp_path, signing_key_pem, own_database_url
    ):
        quiet = _settings(tmp_path, signing_key_pem, own_database_url, background=False)
        newsroom, article, start = await self._schedule_with_a_first_instance(quiet, 1, 2)
        await _sleep_until(start + timedelta(seconds=2.2))

        loud = _settings(tmp_path, signing_key_pem, own_database_url, background=True)
        second = create_app(loud)
        async with second.router.lifespan_context(second), _client(second) as client:

            async def both_ran() -> bool:
                return len(await history(client, newsroom, article)) == 5

            await _until(both_ran)
            entries = await history(client, newsroom, article)
            assert [e["action"] for e in entries] == [
                "submit",
                "forward",
                "schedule",
                "publish",
                "unpublish",
            ]
            assert await public_status(client, article) == 404
            staff = (await client.get(url_of(article), headers=newsroom.headers("editor"))).json()
            assert staff["status"] == "unpublished"
            topics = [e.topic for e in await events_of(second.state.db, article["id"])]
        assert topics == ["article.published", "article.unpublished"]
