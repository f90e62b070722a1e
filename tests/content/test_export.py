"""/internal/published: content's published set for search reindex and reconcile."""

from __future__ import annotations

import httpx
import pytest
from factories import assert_problem, good_article, make_category, make_portal, make_user
from pydantic import SecretStr

from services.content.app import create_app

pytestmark = pytest.mark.postgres


async def publish(client, people, category_id: str, title: str) -> str:
    base = "/v1/portals/phu-yen/articles"
    r = await client.post(
        base, json=good_article(category_id, title=title), headers=people["editor"].headers
    )
    item_id = r.json()["id"]
    for action, who in (("submit", "editor"), ("forward", "editor"), ("publish", "approver")):
        r = await client.post(
            f"{base}/{item_id}/transitions", json={"action": action}, headers=people[who].headers
        )
        assert r.status_code == 200, r.text
    return item_id


class TestPublishedExport:
    async def test_pages_through_live_items_only_with_a_total(self, client, content_app, db):
        await make_portal(db, "phu-yen")
        category = await make_category(db, "phu-yen")
        people = {
            r: await make_user(content_app, db, roles={"phu-yen": r})
            for r in ("editor", "approver")
        }
        ids = {await publish(client, people, category.id, f"Bài đã đăng số {i}") for i in range(3)}
        await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, title="Bản nháp không được xuất"),
            headers=people["editor"].headers,
        )
        first = (await client.get("/internal/published?limit=2")).json()
        assert first["total"] == 3
        assert len(first["items"]) == 2
        rest = (
            await client.get(f"/internal/published?limit=2&after={first['next_cursor']}")
        ).json()
        assert rest["next_cursor"] is None
        exported = first["items"] + rest["items"]
        assert {e["key"] for e in exported} == ids
        assert all(e["topic"] == "article.published" for e in exported)
        assert all(e["payload"]["status"] == "published" for e in exported)

    async def test_unknown_kind_is_400(self, client):
        assert_problem(await client.get("/internal/published?kind=video"), 400)

    async def test_the_shared_secret_is_required_when_set(self, content_settings, db):
        settings = content_settings.model_copy(update={"outbox_token": SecretStr("s3cret")})
        app = create_app(settings, database=db)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://c") as c:
                assert_problem(await c.get("/internal/published"), 401)
                bad = {"Authorization": "Bearer nope"}
                assert_problem(await c.get("/internal/published", headers=bad), 401)
                good = {"Authorization": "Bearer s3cret"}
                assert (await c.get("/internal/published", headers=good)).status_code == 200
