"""Reindex and reconcile: the index rebuilt from content's published set, drift repaired."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from factories import (
    assert_problem,
    good_article,
    good_document,
    make_category,
    make_portal,
    make_user,
)

from services.common.roles import RoleLookup
from services.common.security import TokenVerifier
from services.search.app import create_app as create_search
from services.search.backends.embedded import EmbeddedBackend
from services.search.model import DocType, SearchDocument, SearchQuery
from services.search.settings import SearchSettings

pytestmark = pytest.mark.postgres


@pytest.fixture
async def platform(content_app, db, tmp_path):
    """Content on PostgreSQL with published items, and a search service reading from it."""
    await make_portal(db, "phu-yen")
    category = await make_category(db, "phu-yen")
    people = {
        r: await make_user(content_app, db, roles={"phu-yen": r})
        for r in ("contributor", "editor", "approver")
    }
    root = await make_user(content_app, db, superadmin=True)
    to_content = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=content_app), base_url="http://content"
    )
    backend = EmbeddedBackend(tmp_path / "search")
    search = create_search(SearchSettings(data_dir=tmp_path), backend=backend, content=to_content)
    issuer = content_app.state.issuer
    search.state.verifier = TokenVerifier(
        issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks()
    )
    async with search.router.lifespan_context(search):
        # Content runs on the test's one connection, which two requests at once cannot
        # share: the caller's roles, read once, are kept for the whole test (a clock that
        # stands still), so polling a job never queries content while the job reads it.
        search.state.roles = RoleLookup(to_content, setting="SEARCH_CONTENT_URL", clock=lambda: 0.0)
        search_client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=search), base_url="http://search"
        )
        yield {
            "content": to_content,
            "search": search_client,
            "backend": backend,
            "people": people,
            "root": root,
            "category": category,
        }
        await search_client.aclose()
    await to_content.aclose()


async def publish(p, path: str, body: dict) -> dict:
    people = p["people"]
    r = await p["content"].post(path, json=body, headers=people["contributor"].headers)
    assert r.status_code == 201, r.text
    url = f"{path}/{r.json()['id']}/transitions"
    for action, who in (("submit", "contributor"), ("forward", "editor"), ("publish", "approver")):
        r = await p["content"].post(url, json={"action": action}, headers=people[who].headers)
        assert r.status_code == 200, r.text
    return r.json()


async def run_job(p, kind: str) -> dict:
    headers = p["root"].headers
    r = await p["search"].post(f"/v1/search/admin/{kind}", headers=headers)
    assert r.status_code == 202, r.text
    for _ in range(200):
        job = (await p["search"].get("/v1/search/admin/jobs", headers=headers)).json()
        if job["state"] != "running":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


class TestReindex:
    async def test_builds_the_index_from_the_published_set(self, platform):
        p = platform
        await publish(p, "/v1/portals/phu-yen/articles", good_article(p["category"].id))
        await publish(p, "/v1/portals/phu-yen/documents", good_document())
        draft = good_article(p["category"].id, title="Bản nháp chưa đăng không được tìm thấy")
        await p["content"].post(
            "/v1/portals/phu-yen/articles", json=draft, headers=p["people"]["editor"].headers
        )
        job = await run_job(p, "reindex")
        assert job["state"] == "done", job
        assert job["done"] == 2
        assert job["total"] == 2
        results = await p["backend"].search(SearchQuery())
        assert sorted(h.type for h in results.hits) == ["article", "document"]

    async def test_only_a_superadmin_may_start_it(self, platform):
        p = platform
        editor = p["people"]["editor"].headers
        assert_problem(await p["search"].post("/v1/search/admin/reindex", headers=editor), 403)
        assert_problem(await p["search"].post("/v1/search/admin/reindex"), 401)
        assert_problem(await p["search"].get("/v1/search/admin/jobs", headers=editor), 403)


class TestReconcile:
    async def test_repairs_missing_stale_and_extra_documents(self, platform):
        p = platform
        await publish(p, "/v1/portals/phu-yen/articles", good_article(p["category"].id))
        job = await run_job(p, "reconcile")
        assert (job["added"], job["updated"], job["removed"]) == (1, 0, 0)
        # drift: a document the index has but content does not, and a stale version
        hit = (await p["backend"].search(SearchQuery())).hits[0]
        stale = ghost_of(hit, key=hit.key, id=hit.id)  # version 1, content is further on
        await p["backend"].upsert([ghost_of(hit, key="article:ghost", id="ghost"), stale])
        job = await run_job(p, "reconcile")
        assert (job["added"], job["updated"], job["removed"]) == (0, 1, 1)
        assert (await p["backend"].versions([hit.key]))[hit.key] > 1
        assert "article:ghost" not in await p["backend"].all_keys()


def ghost_of(hit, *, key: str, id: str) -> SearchDocument:
    return SearchDocument(
        key=key,
        id=id,
        type=DocType(hit.type),
        portal=hit.portal,
        title=hit.title,
        url=hit.url,
        published_at=hit.published_at,
        version=1,
    )


class TestOlderIndexFormat:
    """An index written by an older release is replaced, and refilled from content."""

    @staticmethod
    def plant_old_index(path) -> None:
        import tantivy

        path.mkdir(parents=True)
        schema = tantivy.SchemaBuilder()
        schema.add_text_field("key", stored=True)
        old = path / "index-0123456789abcdef"
        old.mkdir()
        index = tantivy.Index(schema.build(), path=str(old))
        writer = index.writer()
        writer.add_document(tantivy.Document(key="article:old"))
        writer.commit()
        writer.wait_merging_threads()
        (path / "CURRENT").write_text(old.name)

    async def test_the_backend_starts_empty_and_says_so(self, tmp_path):
        self.plant_old_index(tmp_path / "search")
        backend = EmbeddedBackend(tmp_path / "search")
        await backend.open()
        try:
            assert backend.rebuild_needed
            assert (await backend.search(SearchQuery())).total == 0
            assert [p.name for p in (tmp_path / "search").glob("index-*")] == [
                (tmp_path / "search" / "CURRENT").read_text()
            ]
        finally:
            await backend.close()
        reopened = EmbeddedBackend(tmp_path / "search")
        await reopened.open()
        assert not reopened.rebuild_needed
        await reopened.close()

    async def test_the_service_refills_it_from_content(self, content_app, db, tmp_path):
        await make_portal(db, "phu-yen")
        category = await make_category(db, "phu-yen")
        people = {
            r: await make_user(content_app, db, roles={"phu-yen": r})
            for r in ("contributor", "editor", "approver")
        }
        to_content = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=content_app), base_url="http://content"
        )
        p = {"content": to_content, "people": people}
        await publish(p, "/v1/portals/phu-yen/articles", good_article(category.id))
        self.plant_old_index(tmp_path / "search")
        search = create_search(SearchSettings(data_dir=tmp_path), content=to_content)
        async with search.router.lifespan_context(search):
            job = search.state.job
            assert job.kind == "reindex"
            await asyncio.wait_for(job.task, 30)
            assert job.state == "done", job.error
            found = await search.state.backend.search(SearchQuery())
            assert found.total == 1
        await to_content.aclose()
