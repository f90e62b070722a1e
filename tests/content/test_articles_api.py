"""The articles API on PostgreSQL: drafts, the workflow by role, public reads, revisions."""

from __future__ import annotations

import httpx
import pytest
from factories import good_article, make_category, make_portal, make_user

pytestmark = pytest.mark.postgres


@pytest.fixture
async def newsroom(content_app, db):
    """Phú Yên with a category and one member per role."""
    await make_portal(db, "phu-yen")
    category = await make_category(db, "phu-yen")
    people = {}
    for role in ("contributor", "editor", "approver", "admin"):
        people[role] = await make_user(content_app, db, roles={"phu-yen": role})
    return category, people


async def publish(client: httpx.AsyncClient, people, category_id: str, **overrides) -> dict:
    base = "/v1/portals/phu-yen/articles"
    r = await client.post(
        base, json=good_article(category_id, **overrides), headers=people["contributor"].headers
    )
    assert r.status_code == 201, r.text
    article = r.json()
    for action, who in (("submit", "contributor"), ("forward", "editor"), ("publish", "approver")):
        r = await client.post(
            f"{base}/{article['id']}/transitions",
            json={"action": action},
            headers=people[who].headers,
        )
        assert r.status_code == 200, r.text
    return r.json()


class TestCreateArticle:
    async def test_member_creates_a_draft(self, client, newsroom):
        category, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, title="Bảo hiểm xã hội: đổi mới"),
            headers=people["contributor"].headers,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "draft"
        assert body["slug"] == "bao-hiem-xa-hoi-doi-moi"
        assert body["revision"] == 1
        assert body["is_live"] is False
        assert body["category"]["id"] == category.id
        assert "submit" in body["allowed_actions"]

    async def test_slugs_are_unique_per_portal(self, client, newsroom):
        category, people = newsroom
        slugs = []
        for _ in range(3):
            r = await client.post(
                "/v1/portals/phu-yen/articles",
                json=good_article(category.id, title="Cùng một tiêu đề"),
                headers=people["contributor"].headers,
            )
            slugs.append(r.json()["slug"])
        assert slugs == ["cung-mot-tieu-de", "cung-mot-tieu-de-2", "cung-mot-tieu-de-3"]

    async def test_body_is_sanitised(self, client, newsroom):
        category, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, body='<p onclick="x()">Hi<script>alert(1)</script></p>'),
            headers=people["contributor"].headers,
        )
        assert r.status_code == 201
        assert "script" not in r.json()["body"]
        assert "onclick" not in r.json()["body"]

    async def test_anonymous_is_401(self, client, newsroom):
        category, _ = newsroom
        r = await client.post("/v1/portals/phu-yen/articles", json=good_article(category.id))
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"

    async def test_bad_input_is_422_with_every_field(self, client, newsroom):
        _, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json={"title": "", "tags": "x"},
            headers=people["contributor"].headers,
        )
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"title", "tags"} <= fields

    async def test_category_of_another_portal_is_422(self, client, db, newsroom):
        _, people = newsroom
        await make_portal(db, "ha-noi")
        foreign = await make_category(db, "ha-noi")
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(foreign.id),
            headers=people["contributor"].headers,
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "category_id"


class TestWorkflow:
    async def test_full_provincial_path_publishes(self, client, newsroom):
        category, people = newsroom
        article = await publish(client, people, category.id)
        assert article["status"] == "published"
        assert article["is_live"] is True
        r = await client.get(f"/v1/portals/phu-yen/articles/{article['id']}")
        assert r.status_code == 200
        assert r.json()["title"] == article["title"]

    async def test_submit_checks_posting_standards_all_at_once(self, client, newsroom):
        category, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json={"title": "Ngắn", "category_id": category.id},
            headers=people["contributor"].headers,
        )
        article_id = r.json()["id"]
        r = await client.post(
            f"/v1/portals/phu-yen/articles/{article_id}/transitions",
            json={"action": "submit"},
            headers={**people["contributor"].headers, "Accept-Language": "en"},
        )
        assert r.status_code == 422
        problem = r.json()
        assert problem["type"].endswith("/standards-not-met")
        fields = {e["field"] for e in problem["errors"]}
        assert fields == {
            "title",
            "lead",
            "body",
            "featured_media_id",
            "featured_caption",
            "author",
            "source",
        }
        assert any("10" in e["message"] for e in problem["errors"] if e["field"] == "title")
        r = await client.get(
            f"/v1/portals/phu-yen/articles/{article_id}", headers=people["contributor"].headers
        )
        assert r.json()["status"] == "draft", "a refused submit must leave nothing changed"

    async def test_an_edit_in_review_that_breaks_the_standard_stops_forward(self, client, newsroom):
        category, people = newsroom
        base = "/v1/portals/phu-yen/articles"
        r = await client.post(
            base, json=good_article(category.id), headers=people["contributor"].headers
        )
        url = f"{base}/{r.json()['id']}"
        r = await client.post(
            f"{url}/transitions", json={"action": "submit"}, headers=people["contributor"].headers
        )
        assert r.status_code == 200, r.text
        editor = people["editor"].headers
        r = await client.patch(url, json={"source": None, "lead": "Ngắn"}, headers=editor)
        assert r.status_code == 200, r.text
        r = await client.post(f"{url}/transitions", json={"action": "forward"}, headers=editor)
        assert r.status_code == 422
        assert r.json()["type"].endswith("/standards-not-met")
        assert {e["field"] for e in r.json()["errors"]} == {"lead", "source"}
        r = await client.get(url, headers=editor)
        assert (r.json()["status"], r.json()["stage"]) == ("in_review", "editor_review")
        r = await client.patch(
            url, json={"source": "BHXH Phú Yên", "lead": good_article("")["lead"]}, headers=editor
        )
        assert r.status_code == 200, r.text
        r = await client.post(f"{url}/transitions", json={"action": "forward"}, headers=editor)
        assert r.status_code == 200, r.text

    async def test_wrong_role_is_403_and_wrong_state_is_409(self, client, newsroom):
        category, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["contributor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}/transitions"
        r = await client.post(url, json={"action": "publish"}, headers=people["approver"].headers)
        assert r.status_code == 409
        await client.post(url, json={"action": "submit"}, headers=people["contributor"].headers)
        r = await client.post(
            url, json={"action": "forward"}, headers=people["contributor"].headers
        )
        assert r.status_code == 403

    async def test_return_needs_a_comment(self, client, newsroom):
        category, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["contributor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}/transitions"
        await client.post(url, json={"action": "submit"}, headers=people["contributor"].headers)
        r = await client.post(url, json={"action": "return"}, headers=people["editor"].headers)
        assert r.status_code == 422
        r = await client.post(
            url, json={"action": "return", "comment": "Thiếu ảnh"}, headers=people["editor"].headers
        )
        assert r.status_code == 200
        assert r.json()["status"] == "returned"

    async def test_unpublish_takes_it_offline_with_reason_in_history(self, client, newsroom):
        category, people = newsroom
        article = await publish(client, people, category.id)
        url = f"/v1/portals/phu-yen/articles/{article['id']}"
        r = await client.post(
            url + "/transitions",
            json={"action": "unpublish", "comment": "Sai số liệu"},
            headers=people["approver"].headers,
        )
        assert r.status_code == 200
        assert r.json()["status"] == "unpublished"
        assert (await client.get(url)).status_code == 404
        history = (await client.get(url + "/history", headers=people["editor"].headers)).json()[
            "items"
        ]
        assert [h["action"] for h in history] == ["submit", "forward", "publish", "unpublish"]
        assert history[-1]["comment"] == "Sai số liệu"


class TestStaffQueues:
    async def test_queue_filters_read_the_working_revision(self, client, db, newsroom):
        category, people = newsroom
        other = await make_category(db, "phu-yen", name="Chính sách BHYT")
        await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, title="Bảo hiểm thất nghiệp cho lao động"),
            headers=people["contributor"].headers,
        )
        editor = people["editor"].headers
        base = "/v1/portals/phu-yen/articles?status=draft"
        by_category = await client.get(f"{base}&category={category.slug}", headers=editor)
        assert [a["title"] for a in by_category.json()["items"]] == [
            "Bảo hiểm thất nghiệp cho lao động"
        ]
        other_category = await client.get(f"{base}&category={other.slug}", headers=editor)
        assert other_category.json()["items"] == []
        by_words = await client.get(f"{base}&q=that nghiep", headers=editor)
        assert len(by_words.json()["items"]) == 1
        public = await client.get(f"/v1/portals/phu-yen/articles?category={category.slug}")
        assert public.json()["items"] == []

    async def test_queue_tag_reads_the_working_revision(self, client, newsroom):
        """A published article edited with new tags: the queue finds its draft by the new
        tags, the public list by the live ones; a tag is matched whole."""
        category, people = newsroom
        article = await publish(client, people, category.id)
        url = f"/v1/portals/phu-yen/articles/{article['id']}"
        editor = people["editor"].headers
        r = await client.patch(url, json={"tags": ["lương hưu", "chi trả"]}, headers=editor)
        assert r.status_code == 200, r.text
        queue = "/v1/portals/phu-yen/articles?status=draft"

        async def ids(path: str, headers: dict[str, str] | None = None) -> list[str]:
            r = await client.get(path, headers=headers)
            assert r.status_code == 200, r.text
            return [a["id"] for a in r.json()["items"]]

        assert await ids(f"{queue}&tag=lương hưu", editor) == [article["id"]]
        assert await ids(f"{queue}&tag=chi trả", editor) == [article["id"]]
        assert await ids(f"{queue}&tag=lương", editor) == []  # whole tags only
        assert await ids(f"{queue}&tag=truyền thông", editor) == []  # the live tag
        public = "/v1/portals/phu-yen/articles"
        assert await ids(f"{public}?tag=truyền thông") == [article["id"]]
        assert await ids(f"{public}?tag=lương hưu") == []


class TestRepublish:
    async def test_a_takedown_can_be_reviewed_and_republished_unchanged(self, client, newsroom):
        category, people = newsroom
        article = await publish(client, people, category.id)
        url = f"/v1/portals/phu-yen/articles/{article['id']}"
        r = await client.post(
            url + "/transitions",
            json={"action": "unpublish", "comment": "Gỡ nhầm"},
            headers=people["approver"].headers,
        )
        assert r.json()["status"] == "unpublished"
        for action, who in (("submit", "editor"), ("forward", "editor"), ("publish", "approver")):
            r = await client.post(
                url + "/transitions", json={"action": action}, headers=people[who].headers
            )
            assert r.status_code == 200, r.text
        public = await client.get(url)
        assert public.status_code == 200
        assert public.json()["revision"] == 1
        assert public.json()["published_at"] == article["published_at"]


class TestEditPublished:
    async def test_live_revision_stays_online_until_republished(self, client, newsroom):
        category, people = newsroom
        article = await publish(client, people, category.id)
        url = f"/v1/portals/phu-yen/articles/{article['id']}"
        r = await client.patch(
            url, json={"title": "Tiêu đề đã sửa cho bài viết"}, headers=people["editor"].headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "draft"
        assert r.json()["revision"] == 2
        assert r.json()["is_live"]
        public = (await client.get(url)).json()
        assert public["status"] == "published", "the public never sees the newsroom's draft"
        assert public["stage"] is None
        assert public["title"] == article["title"]
        assert public["revision"] == 1
        for action, who in (("submit", "editor"), ("forward", "editor"), ("publish", "approver")):
            r = await client.post(
                url + "/transitions", json={"action": action}, headers=people[who].headers
            )
            assert r.status_code == 200, r.text
        public = (await client.get(url)).json()
        assert public["title"] == "Tiêu đề đã sửa cho bài viết"
        assert public["revision"] == 2
        assert public["published_at"] == article["published_at"]

    async def test_revisions_compare_and_restore(self, client, newsroom):
        category, people = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["contributor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}"
        await client.patch(
            url,
            json={"title": "Một tiêu đề khác hẳn ban đầu"},
            headers=people["contributor"].headers,
        )
        revisions = (await client.get(url + "/revisions", headers=people["editor"].headers)).json()[
            "items"
        ]
        assert [r["number"] for r in revisions] == [2, 1]
        diff = (
            await client.get(
                url + "/revisions/compare?from=1&to=2", headers=people["editor"].headers
            )
        ).json()
        assert [c["field"] for c in diff["changes"]] == ["title"]
        r = await client.post(url + "/revisions/1/restore", headers=people["contributor"].headers)
        assert r.status_code == 200
        assert r.json()["revision"] == 3
        assert r.json()["title"] == good_article(category.id)["title"]


class TestPublicReads:
    async def test_etag_revalidates_with_304(self, client, newsroom):
        category, people = newsroom
        article = await publish(client, people, category.id)
        r = await client.get("/v1/portals/phu-yen/articles")
        assert r.status_code == 200
        assert r.headers["etag"]
        assert "public" in r.headers["cache-control"]
        again = await client.get(
            "/v1/portals/phu-yen/articles", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304
        assert again.content == b""
        one = await client.get(f"/v1/portals/phu-yen/articles/{article['id']}")
        again = await client.get(
            f"/v1/portals/phu-yen/articles/{article['id']}",
            headers={"If-None-Match": one.headers["etag"]},
        )
        assert again.status_code == 304

    async def test_list_shows_published_only_and_paginates(self, client, newsroom):
        category, people = newsroom
        for i in range(3):
            await publish(client, people, category.id, title=f"Bài viết đã đăng số {i + 1}")
        await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, title="Bản nháp chưa đăng"),
            headers=people["contributor"].headers,
        )
        page = (await client.get("/v1/portals/phu-yen/articles?limit=2")).json()
        assert [a["title"] for a in page["items"]] == [
            "Bài viết đã đăng số 3",
            "Bài viết đã đăng số 2",
        ]
        assert "body" not in page["items"][0]
        page2 = (
            await client.get(f"/v1/portals/phu-yen/articles?limit=2&cursor={page['next_cursor']}")
        ).json()
        assert [a["title"] for a in page2["items"]] == ["Bài viết đã đăng số 1"]
        assert page2["next_cursor"] is None

    async def test_bad_cursor_is_400(self, client, newsroom):
        r = await client.get("/v1/portals/phu-yen/articles?cursor=garbage!")
        assert r.status_code == 400


class TestUpdateArticle:
    @pytest.mark.parametrize("field", ["title", "tags", "body"])
    async def test_null_for_a_field_that_cannot_be_empty_is_422(self, client, newsroom, field):
        category, people = newsroom
        created = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["editor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{created.json()['id']}"
        r = await client.patch(url, json={field: None}, headers=people["editor"].headers)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == field
        unchanged = await client.get(url, headers=people["editor"].headers)
        assert unchanged.json()["revision"] == 1

    async def test_null_for_an_optional_field_clears_it(self, client, newsroom):
        category, people = newsroom
        created = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["editor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{created.json()['id']}"
        r = await client.patch(url, json={"lead": None}, headers=people["editor"].headers)
        assert r.status_code == 200
        assert r.json()["lead"] is None
        assert r.json()["revision"] == 2
