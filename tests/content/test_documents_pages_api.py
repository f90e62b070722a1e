"""Legal documents (văn bản) and static pages on PostgreSQL: drafts, checks, publication,
public lists and filters, and English translations."""

from __future__ import annotations

import base64
import json
import unicodedata

import pytest
from factories import (
    PROBLEM,
    assert_problem,
    error_fields,
    good_article,
    good_document,
    good_page,
    make_category,
    make_portal,
    make_user,
)

pytestmark = pytest.mark.postgres

DOCS = "/v1/portals/phu-yen/documents"
PAGES = "/v1/portals/phu-yen/pages"


@pytest.fixture
async def newsroom(content_app, db):
    """Phú Yên (Vietnamese and English) with a category and one member per role."""
    await make_portal(db, "phu-yen", locales=["vi", "en"])
    category = await make_category(db, "phu-yen", name="Văn bản BHXH")
    people = {
        role: await make_user(content_app, db, roles={"phu-yen": role})
        for role in ("contributor", "editor", "approver", "admin")
    }
    return category, people


async def create(client, people, base: str, body: dict, who: str = "contributor") -> dict:
    r = await client.post(base, json=body, headers=people[who].headers)
    assert r.status_code == 201, r.text
    return r.json()


async def act(client, people, url: str, action: str, who: str) -> dict:
    r = await client.post(
        f"{url}/transitions", json={"action": action}, headers=people[who].headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def publish(client, people, base: str, body: dict) -> dict:
    """Create and publish through the provincial pipeline: submit, forward, publish."""
    item = await create(client, people, base, body)
    url = f"{base}/{item['id']}"
    assert (await act(client, people, url, "submit", "contributor"))["stage"] == "editor_review"
    assert (await act(client, people, url, "forward", "editor"))["stage"] == "approver_decision"
    published = await act(client, people, url, "publish", "approver")
    assert published["status"] == "published"
    return published


class TestCreateDocument:
    async def test_member_creates_a_draft_document(self, client, newsroom):
        category, people = newsroom
        doc = await create(client, people, DOCS, good_document(category_id=category.id))
        assert doc["status"] == "draft"
        assert doc["number"] == "3216/BHXH-TT"
        assert doc["doc_type"] == "Công văn"
        assert doc["issued_on"] == "2024-08-05"
        assert doc["effective_on"] == "2024-08-05"
        assert doc["expires_on"] is None
        assert doc["in_force"] is True
        assert doc["field"] == "BHTN"
        assert doc["category"]["id"] == category.id
        assert doc["slug"].startswith("3216-bhxh-tt-ve-viec-huong-dan")
        assert "submit" in doc["allowed_actions"]
        assert_problem(await client.get(f"{DOCS}/{doc['id']}"), 404)

    async def test_missing_identity_fields_are_422_listing_each(self, client, newsroom):
        _, people = newsroom
        r = await client.post(
            DOCS, json={"summary": "Thiếu số hiệu"}, headers=people["editor"].headers
        )
        problem = assert_problem(r, 422, "validation-error")
        assert error_fields(problem) == {"number", "doc_type", "issuer"}

    async def test_malformed_values_are_422_listing_each(self, client, newsroom):
        _, people = newsroom
        r = await client.post(
            DOCS,
            json=good_document(
                issued_on="05/08/2024",
                effective_on="2024-02-30",
                field="BHXN",
                in_force="maybe",
                relations=[{"type": "cancels", "document_id": "x"}],
            ),
            headers=people["editor"].headers,
        )
        problem = assert_problem(r, 422, "validation-error")
        assert error_fields(problem) == {
            "issued_on",
            "effective_on",
            "field",
            "in_force",
            "relations.0.type",
        }

    async def test_category_of_another_portal_is_422(self, client, db, newsroom):
        _, people = newsroom
        await make_portal(db, "ha-noi")
        foreign = await make_category(db, "ha-noi")
        r = await client.post(
            DOCS, json=good_document(category_id=foreign.id), headers=people["editor"].headers
        )
        assert error_fields(assert_problem(r, 422)) == {"category_id"}


class TestSubmitDocument:
    async def test_missing_issue_date_and_summary_are_all_reported(self, client, newsroom):
        _, people = newsroom
        doc = await create(
            client, people, DOCS, good_document(issued_on=None, effective_on=None, summary="")
        )
        url = f"{DOCS}/{doc['id']}"
        r = await client.post(
            f"{url}/transitions",
            json={"action": "submit"},
            headers={**people["contributor"].headers, "Accept-Language": "en"},
        )
        problem = assert_problem(r, 422, "standards-not-met")
        assert error_fields(problem) == {"issued_on", "summary"}
        assert all(e["code"] == "required" for e in problem["errors"])
        r = await client.get(url, headers=people["contributor"].headers)
        assert r.json()["status"] == "draft", "a refused submit changes nothing"

    async def test_dates_out_of_order_are_all_reported(self, client, newsroom):
        _, people = newsroom
        doc = await create(
            client,
            people,
            DOCS,
            good_document(
                issued_on="2024-08-05", effective_on="2024-08-01", expires_on="2024-07-01"
            ),
        )
        r = await client.post(
            f"{DOCS}/{doc['id']}/transitions",
            json={"action": "submit"},
            headers=people["contributor"].headers,
        )
        problem = assert_problem(r, 422, "standards-not-met")
        assert {(e["field"], e["code"]) for e in problem["errors"]} == {
            ("effective_on", "before_issued"),
            ("expires_on", "before_effective"),
        }

    async def test_fixing_the_dates_lets_it_through(self, client, newsroom):
        _, people = newsroom
        doc = await create(client, people, DOCS, good_document(effective_on="2024-08-01"))
        url = f"{DOCS}/{doc['id']}"
        r = await client.patch(
            url, json={"effective_on": "2024-09-01"}, headers=people["contributor"].headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["revision"] == 2
        assert (await act(client, people, url, "submit", "contributor"))["status"] == "in_review"


class TestPublishedDocuments:
    async def test_provincial_pipeline_publishes_and_the_public_reads_it(self, client, newsroom):
        category, people = newsroom
        doc = await publish(client, people, DOCS, good_document(category_id=category.id))
        assert doc["is_live"] is True
        assert doc["published_at"] is not None
        r = await client.get(f"{DOCS}/{doc['id']}")
        assert r.status_code == 200
        public = r.json()
        assert public["number"] == "3216/BHXH-TT"
        assert public["body"] == "<p>Nội dung công văn.</p>"
        assert public["allowed_actions"] is None
        assert "public" in r.headers["cache-control"]
        r = await client.get(f"{DOCS}/by-slug/{doc['slug']}")
        assert r.json()["id"] == doc["id"]
        history = (
            await client.get(f"{DOCS}/{doc['id']}/history", headers=people["editor"].headers)
        ).json()
        assert [h["action"] for h in history["items"]] == ["submit", "forward", "publish"]

    async def test_public_list_filters_by_type_and_number(self, client, newsroom):
        _, people = newsroom
        await publish(client, people, DOCS, good_document())
        await publish(
            client,
            people,
            DOCS,
            good_document(
                number="166/QĐ-BHXH", doc_type="Quyết định", summary="Ban hành quy trình"
            ),
        )
        await publish(
            client, people, DOCS, good_document(number="1234/BHXH-CSYT", summary="Về BHYT học sinh")
        )
        await create(client, people, DOCS, good_document(number="9999/BHXH-NHAP", summary="Nháp"))

        async def numbers(query: str) -> list[str]:
            r = await client.get(f"{DOCS}{query}")
            assert r.status_code == 200, r.text
            return sorted(d["number"] for d in r.json()["items"])

        assert await numbers("") == ["1234/BHXH-CSYT", "166/QĐ-BHXH", "3216/BHXH-TT"]
        assert await numbers("?doc_type=Công văn") == ["1234/BHXH-CSYT", "3216/BHXH-TT"]
        assert await numbers("?doc_type=Quyết định") == ["166/QĐ-BHXH"]
        nfd = unicodedata.normalize("NFD", "Quyết định")
        assert await numbers(f"?doc_type={nfd}") == ["166/QĐ-BHXH"], "queries are NFC too"
        assert await numbers("?number=3216/BHXH-TT") == ["3216/BHXH-TT"]
        assert await numbers("?number=3216%2FBHXH-TT") == ["3216/BHXH-TT"]
        assert await numbers("?number=9999/BHXH-NHAP") == [], "drafts never reach public lists"
        assert await numbers("?doc_type=Thông tư") == []
        assert await numbers("?doc_type=Công văn&number=1234/BHXH-CSYT") == ["1234/BHXH-CSYT"]

    async def test_summary_items_have_no_body(self, client, newsroom):
        _, people = newsroom
        await publish(client, people, DOCS, good_document())
        item = (await client.get(DOCS)).json()["items"][0]
        assert "body" not in item
        assert item["issuer"] == "Bảo hiểm xã hội Việt Nam"

    async def test_edit_of_a_published_document_stays_offline_until_published(
        self, client, newsroom
    ):
        _, people = newsroom
        doc = await publish(client, people, DOCS, good_document())
        url = f"{DOCS}/{doc['id']}"
        r = await client.patch(url, json={"in_force": False}, headers=people["editor"].headers)
        assert r.status_code == 200, r.text
        assert r.json()["in_force"] is False
        assert (await client.get(url)).json()["in_force"] is True
        assert [d["in_force"] for d in (await client.get(DOCS)).json()["items"]] == [True]

    @pytest.mark.parametrize(
        "query",
        [
            "?limit=0",
            "?limit=101",
            "?cursor=!!",
            "?status=bogus",
            "?locale=fr",
            "?from=yesterday",
            "?doc_type=" + "x" * 101,
        ],
    )
    async def test_bad_query_is_4xx(self, client, newsroom, query):
        r = await client.get(DOCS + query)
        assert r.status_code in {400, 422}, r.text
        assert r.headers["content-type"] == PROBLEM


class TestPages:
    async def test_page_with_its_own_slug_is_published_and_read_by_slug(self, client, newsroom):
        _, people = newsroom
        page = await publish(client, people, PAGES, good_page(slug="gioi-thieu", position=1))
        assert page["slug"] == "gioi-thieu"
        assert page["url"] == "/v1/portals/phu-yen/pages/by-slug/gioi-thieu"
        r = await client.get(f"{PAGES}/by-slug/gioi-thieu")
        assert r.status_code == 200
        assert r.json()["title"] == "Giới thiệu Bảo hiểm xã hội tỉnh"
        assert r.json()["body"] == "<p>Chức năng, nhiệm vụ và cơ cấu tổ chức.</p>"
        assert "category" not in r.json()
        listed = (await client.get(PAGES)).json()["items"]
        assert [(p["slug"], p["position"]) for p in listed] == [("gioi-thieu", 1)]

    async def test_slug_is_derived_from_the_title(self, client, newsroom):
        _, people = newsroom
        page = await create(client, people, PAGES, good_page(title="Liên hệ \u2013 Đường dây nóng"))
        assert page["slug"] == "lien-he-duong-day-nong"

    async def test_a_taken_slug_gets_a_suffix(self, client, newsroom):
        _, people = newsroom
        first = await create(client, people, PAGES, good_page(slug="lien-he"))
        second = await create(client, people, PAGES, good_page(slug="lien-he"))
        assert (first["slug"], second["slug"]) == ("lien-he", "lien-he-2")

    async def test_draft_page_is_hidden_from_the_public(self, client, newsroom):
        _, people = newsroom
        page = await create(client, people, PAGES, good_page(slug="so-do-to-chuc"))
        assert_problem(await client.get(f"{PAGES}/by-slug/so-do-to-chuc"), 404)
        assert_problem(await client.get(f"{PAGES}/{page['id']}"), 404)
        assert (await client.get(PAGES)).json()["items"] == []
        r = await client.get(f"{PAGES}/by-slug/so-do-to-chuc", headers=people["editor"].headers)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "private, no-cache"

    async def test_empty_page_cannot_be_submitted(self, client, newsroom):
        _, people = newsroom
        page = await create(client, people, PAGES, good_page(body="<p>   </p><script>x</script>"))
        r = await client.post(
            f"{PAGES}/{page['id']}/transitions",
            json={"action": "submit"},
            headers=people["contributor"].headers,
        )
        assert error_fields(assert_problem(r, 422, "standards-not-met")) == {"body"}

    async def test_bad_input_is_422_listing_fields(self, client, newsroom):
        _, people = newsroom
        r = await client.post(
            PAGES,
            json={"title": "", "slug": "Giới Thiệu", "position": -1, "category_id": "x"},
            headers=people["editor"].headers,
        )
        problem = assert_problem(r, 422, "validation-error")
        assert error_fields(problem) == {"title", "slug", "position", "category_id"}


class TestTranslations:
    async def test_english_page_links_to_its_vietnamese_original(self, client, newsroom):
        _, people = newsroom
        original = await publish(client, people, PAGES, good_page(slug="gioi-thieu"))
        english = await publish(
            client,
            people,
            PAGES,
            good_page(
                title="About Vietnam Social Security of Phu Yen",
                body="<p>Functions and organisation.</p>",
                locale="en",
                translation_of=original["id"],
            ),
        )
        assert english["locale"] == "en"
        assert english["translation_of"] == original["id"]
        listed = (await client.get(f"{PAGES}?locale=en")).json()["items"]
        assert [(p["id"], p["translation_of"]) for p in listed] == [(english["id"], original["id"])]
        listed = (await client.get(f"{PAGES}?locale=vi")).json()["items"]
        assert [p["id"] for p in listed] == [original["id"]]

    async def test_english_document_and_article(self, client, newsroom):
        category, people = newsroom
        doc = await create(client, people, DOCS, good_document())
        english = await create(
            client,
            people,
            DOCS,
            good_document(
                summary="On unemployment insurance", locale="en", translation_of=doc["id"]
            ),
        )
        assert english["translation_of"] == doc["id"]
        article = await create(
            client, people, "/v1/portals/phu-yen/articles", good_article(category.id)
        )
        english = await create(
            client,
            people,
            "/v1/portals/phu-yen/articles",
            good_article(
                category.id,
                title="Phu Yen steps up outreach",
                locale="en",
                translation_of=article["id"],
            ),
        )
        assert english["translation_of"] == article["id"]

    async def test_portal_without_english_refuses_it(self, client, content_app, db):
        await make_portal(db, "ha-noi", locales=["vi"])
        editor = await make_user(content_app, db, roles={"ha-noi": "editor"})
        r = await client.post(
            "/v1/portals/ha-noi/pages", json=good_page(locale="en"), headers=editor.headers
        )
        assert error_fields(assert_problem(r, 422)) == {"locale"}

    async def test_wrong_originals_are_422(self, client, db, content_app, newsroom):
        category, people = newsroom
        await make_portal(db, "ha-noi", locales=["vi", "en"])
        hanoi = await make_user(content_app, db, roles={"ha-noi": "editor"})
        r = await client.post("/v1/portals/ha-noi/pages", json=good_page(), headers=hanoi.headers)
        foreign_page = r.json()["id"]
        vi_page = await create(client, people, PAGES, good_page())
        en_page = await create(
            client,
            people,
            PAGES,
            good_page(title="About us", locale="en", translation_of=vi_page["id"]),
        )
        lone_en = await create(client, people, PAGES, good_page(title="Contact", locale="en"))
        article = await create(
            client, people, "/v1/portals/phu-yen/articles", good_article(category.id)
        )
        wrong = {
            "missing": ("0" * 32, "en"),
            "another portal": (foreign_page, "en"),
            "another kind": (article["id"], "en"),
            "a translation itself": (en_page["id"], "en"),
            "same locale": (vi_page["id"], "vi"),
            "english original": (lone_en["id"], "vi"),
        }
        for case, (original, locale) in wrong.items():
            r = await client.post(
                PAGES,
                json=good_page(
                    title=f"Bản dịch sai {case}", locale=locale, translation_of=original
                ),
                headers=people["editor"].headers,
            )
            problem = assert_problem(r, 422)
            assert error_fields(problem) == {"translation_of"}, case
        staff = (await client.get(f"{PAGES}?status=draft", headers=people["editor"].headers)).json()
        assert not any(p["title"].startswith("Bản dịch sai") for p in staff["items"])


def cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


class TestBadInputIsNever500:
    """Input PostgreSQL would refuse (NUL, numbers past its integer types) is a 4xx."""

    @pytest.mark.parametrize("base", [DOCS, PAGES])
    @pytest.mark.parametrize(
        ("path", "status"),
        [
            ("/{id}x%00", 400),
            ("/by-slug/gioi%00thieu", 400),
            ("?q=b%00o", 400),
            ("?doc_type=C%00V&number=1", 400),
            ("?status=draft&cursor=" + cursor("2024-08-05T00:00:00+00:00", "a\x00"), 400),
            ("?cursor=" + cursor("2024-08-05T00:00:00+00:00", "a\x00"), 400),
            ("?cursor=" + cursor("2024-08-05T00:00:00", "a"), 400),
            ("/{id}/revisions/99999999999/restore", 422),
            ("/{id}/revisions/0/restore", 422),
            ("/{id}/revisions/7/restore", 404),
            ("/{id}/revisions/compare?from=1&to=99999999999", 422),
            ("/{id}/revisions/compare?from=1&to=7", 404),
            ("/{id}/revisions?cursor=" + cursor(2**40), 200),
            ("/{id}/history?cursor=" + cursor(2**70), 200),
        ],
    )
    async def test_path_and_query(self, client, newsroom, base, path, status):
        _, people = newsroom
        body = good_document() if base == DOCS else good_page()
        item = await create(client, people, base, body)
        method = "POST" if path.endswith("/restore") else "GET"
        r = await client.request(
            method, base + path.format(id=item["id"]), headers=people["editor"].headers
        )
        assert r.status_code == status, r.text
        if status >= 400:
            assert r.headers["content-type"] == PROBLEM

    @pytest.mark.parametrize(
        "overrides",
        [
            {"summary": "Trích yếu\x00"},
            {"number": "3216\x00"},
            {"category_id": "abc\x00"},
            {"translation_of": "abc\x00", "locale": "en"},
            {"attachments": ["media\x00"]},
            {"relations": [{"type": "replaces", "document_id": "x\x00"}]},
        ],
    )
    async def test_nul_in_a_document_field_is_422(self, client, newsroom, overrides):
        _, people = newsroom
        r = await client.post(
            DOCS, json=good_document(**overrides), headers=people["editor"].headers
        )
        problem = assert_problem(r, 422)
        assert len(problem["errors"]) == 1
        assert problem["errors"][0]["field"].split(".")[0] in overrides


class TestRelations:
    """A document relates to its own portal's documents, or to ones published anywhere."""

    async def test_each_relation_is_checked_at_submit(self, client, content_app, db, newsroom):
        category, people = newsroom
        await make_portal(db, "ha-noi")
        hanoi_category = await make_category(db, "ha-noi")
        hanoi = {
            role: await make_user(content_app, db, roles={"ha-noi": role})
            for role in ("contributor", "editor", "approver")
        }
        hanoi_docs = "/v1/portals/ha-noi/documents"
        central = await publish(
            client, hanoi, hanoi_docs, good_document(category_id=hanoi_category.id)
        )
        secret = await create(
            client, hanoi, hanoi_docs, good_document(category_id=hanoi_category.id)
        )
        own_draft = await create(client, people, DOCS, good_document(category_id=category.id))
        doc = await create(client, people, DOCS, good_document(category_id=category.id))
        url = f"{DOCS}/{doc['id']}"
        relations = [
            {"type": "guides", "document_id": central["id"]},
            {"type": "amends", "document_id": own_draft["id"]},
            {"type": "replaces", "document_id": secret["id"]},
            {"type": "replaces", "document_id": doc["id"]},
            {"type": "amends", "document_id": "0" * 32},
        ]
        r = await client.patch(url, json={"relations": relations}, headers=people["editor"].headers)
        assert r.status_code == 200, r.text
        r = await client.post(
            f"{url}/transitions", json={"action": "submit"}, headers=people["contributor"].headers
        )
        problem = assert_problem(r, 422, "standards-not-met")
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [
            ("relations.2.document_id", "relation_not_found"),
            ("relations.3.document_id", "relation_to_itself"),
            ("relations.4.document_id", "relation_not_found"),
        ]
        assert secret["id"] in problem["errors"][0]["message"]
        assert "ha-noi" not in r.text  # nothing of the other portal's draft is shown
        r = await client.patch(
            url, json={"relations": relations[:2]}, headers=people["editor"].headers
        )
        assert r.status_code == 200, r.text
        assert (await act(client, people, url, "submit", "contributor"))["status"] == "in_review"


class TestDocumentQueues:
    async def test_queue_doc_type_and_number_read_the_working_revision(self, client, newsroom):
        category, people = newsroom
        draft = await create(
            client,
            people,
            DOCS,
            good_document(category_id=category.id, number="123/QĐ-BHXH", doc_type="Quyết định"),
        )
        editor = people["editor"].headers
        queue = f"{DOCS}?status=draft"
        for query in ("number=123/QĐ-BHXH", "doc_type=Quyết định"):
            r = await client.get(f"{queue}&{query}", headers=editor)
            assert [d["id"] for d in r.json()["items"]] == [draft["id"]], query
        for query in ("number=3216/BHXH-TT", "doc_type=Công văn"):
            r = await client.get(f"{queue}&{query}", headers=editor)
            assert r.json()["items"] == [], query
        r = await client.get(f"{DOCS}?number=123/QĐ-BHXH")
        assert r.json()["items"] == []  # nothing is live yet
