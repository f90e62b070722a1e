"""The search API over the embedded backend: parameters, results, the event intake."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from factories import assert_problem

from services.search.app import create_app
from services.search.backends.embedded import EmbeddedBackend
from services.search.settings import SearchSettings


def event(topic: str, item_id: str, version: int, **payload) -> dict:
    body = {
        "id": item_id,
        "portal": "phu-yen",
        "title": "Bảo hiểm thất nghiệp hỗ trợ người lao động",
        "lead": "Chính sách bảo hiểm thất nghiệp năm 2024.",
        "body_text": "Người lao động được hưởng trợ cấp thất nghiệp theo quy định.",
        "url": f"/v1/portals/phu-yen/articles/by-slug/{item_id}",
        "published_at": datetime(2024, 5, 1, tzinfo=UTC).isoformat(),
        "category": {"id": "c1", "name": "Chính sách BHTN", "slug": "chinh-sach-bhtn"},
        "tags": [],
        "locale": "vi",
    }
    body.update(payload)
    return {"id": version, "topic": topic, "key": item_id, "version": version, "payload": body}


@pytest.fixture
async def search(tmp_path):
    settings = SearchSettings(data_dir=tmp_path, events_token="s3cret")
    app = create_app(settings, backend=EmbeddedBackend(tmp_path / "search"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://search") as client:
            yield client


AUTH = {"Authorization": "Bearer s3cret"}


async def deliver(client, body: dict) -> httpx.Response:
    return await client.post("/internal/events", json=body, headers=AUTH)


class TestEventIntake:
    async def test_published_event_is_searchable_without_diacritics(self, search):
        assert (await deliver(search, event("article.published", "a1", 1))).status_code == 204
        r = await search.get("/v1/search", params={"q": "bao hiem that nghiep"})
        assert r.status_code == 200
        body = r.json()
        assert body["total"] == 1
        hit = body["hits"][0]
        assert hit["id"] == "a1"
        assert hit["type"] == "article"
        assert "<mark>" in hit["title_highlighted"]
        assert body["facets"]["portal"] == {"phu-yen": 1}

    async def test_an_older_event_never_overwrites_a_newer_one(self, search):
        await deliver(search, event("article.updated", "a1", 5, title="Tiêu đề mới nhất"))
        await deliver(search, event("article.published", "a1", 2, title="Tiêu đề cũ"))
        hits = (await search.get("/v1/search", params={"q": "tieu de"})).json()["hits"]
        assert [h["title"] for h in hits] == ["Tiêu đề mới nhất"]

    async def test_redelivery_is_idempotent(self, search):
        for _ in range(3):
            await deliver(search, event("article.published", "a1", 1))
        assert (await search.get("/v1/search", params={"q": "bao hiem"})).json()["total"] == 1

    async def test_unpublish_removes_at_once(self, search):
        await deliver(search, event("article.published", "a1", 1))
        await deliver(search, event("article.unpublished", "a1", 2))
        body = (await search.get("/v1/search", params={"q": "bao hiem"})).json()
        assert body["total"] == 0
        assert body["facets"].get("portal", {}) == {}

    async def test_pages_are_acknowledged_and_not_indexed(self, search):
        r = await deliver(search, event("page.published", "p1", 1, title="Liên hệ"))
        assert r.status_code == 204
        assert (await search.get("/v1/search", params={"q": "lien he"})).json()["total"] == 0

    async def test_wrong_token_is_401(self, search):
        r = await search.post(
            "/internal/events", json=event("article.published", "a1", 1), headers={}
        )
        assert_problem(r, 401)

    async def test_malformed_event_is_400(self, search):
        assert_problem(await deliver(search, {"topic": "article.published"}), 400)
        bad = event("article.published", "a1", 1, published_at="not a date")
        assert_problem(await deliver(search, bad), 400)


class TestSearchParameters:
    async def test_unknown_filter_is_400_naming_it(self, search):
        problem = assert_problem(await search.get("/v1/search?q=x&colour=red"), 400)
        assert problem["errors"][0]["field"] == "colour"

    @pytest.mark.parametrize("per_page", [0, 101, -1])
    async def test_per_page_out_of_range_is_422(self, search, per_page):
        problem = assert_problem(await search.get(f"/v1/search?per_page={per_page}"), 422)
        assert problem["errors"][0]["field"] == "query.per_page"

    async def test_query_over_512_characters_is_422(self, search):
        problem = assert_problem(await search.get("/v1/search", params={"q": "a" * 513}), 422)
        assert problem["errors"][0]["field"] == "query.q"

    async def test_bad_type_sort_and_year_are_422(self, search):
        assert_problem(await search.get("/v1/search?type=video"), 422)
        assert_problem(await search.get("/v1/search?sort=popular"), 422)
        assert_problem(await search.get("/v1/search?year=abc"), 422)

    async def test_portal_filter_never_leaks_even_for_an_empty_query(self, search):
        await deliver(search, event("article.published", "a1", 1))
        await deliver(search, event("article.published", "b1", 1, portal="ha-noi"))
        body = (await search.get("/v1/search", params={"portal": "ha-noi"})).json()
        assert [h["id"] for h in body["hits"]] == ["b1"]
        both = (await search.get("/v1/search?portal=ha-noi&portal=phu-yen")).json()
        assert both["total"] == 2

    async def test_suggest_completes_titles(self, search):
        await deliver(search, event("article.published", "a1", 1))
        r = await search.get("/v1/search/suggest", params={"q": "bao hiem that ngh"})
        assert r.status_code == 200
        assert [s["title"] for s in r.json()["items"]] == [
            "Bảo hiểm thất nghiệp hỗ trợ người lao động"
        ]
        assert_problem(await search.get("/v1/search/suggest"), 422)
