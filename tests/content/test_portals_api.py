"""The portals and categories API on PostgreSQL: profiles, configuration, the category tree."""

from __future__ import annotations

import unicodedata

import pytest
from factories import (
    assert_problem,
    error_fields,
    good_article,
    make_category,
    make_portal,
    make_user,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def federation(content_app, db):
    """The central portal, Phú Yên and Hà Nội, with Phú Yên's newsroom and Hà Nội's admin."""
    await make_portal(db, "trung-uong", name="BHXH Việt Nam")
    await make_portal(db, "phu-yen", name="BHXH tỉnh Phú Yên")
    await make_portal(db, "ha-noi", name="BHXH thành phố Hà Nội")
    people = {
        role: await make_user(content_app, db, roles={"phu-yen": role})
        for role in ("contributor", "editor", "approver", "admin")
    }
    people["other_admin"] = await make_user(content_app, db, roles={"ha-noi": "admin"})
    people["root"] = await make_user(content_app, db, superadmin=True)
    return people


async def act(client, people, url: str, action: str, who: str, **extra) -> dict:
    r = await client.post(
        f"{url}/transitions", json={"action": action, **extra}, headers=people[who].headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def published_article(client, people, category_id: str) -> str:
    """An article published through the default provincial pipeline; returns its URL."""
    r = await client.post(
        "/v1/portals/phu-yen/articles",
        json=good_article(category_id),
        headers=people["contributor"].headers,
    )
    assert r.status_code == 201, r.text
    url = f"/v1/portals/phu-yen/articles/{r.json()['id']}"
    await act(client, people, url, "submit", "contributor")
    await act(client, people, url, "forward", "editor")
    await act(client, people, url, "publish", "approver")
    return url


class TestListPortals:
    async def test_public_list_with_central_first(self, client, federation):
        r = await client.get("/v1/portals")
        assert r.status_code == 200
        assert "public" in r.headers["cache-control"]
        body = r.json()
        assert [p["id"] for p in body["items"]] == ["trung-uong", "ha-noi", "phu-yen"]
        assert body["next_cursor"] is None
        central = body["items"][0]
        assert central["kind"] == "central"
        assert central["name"] == "BHXH Việt Nam"
        assert [s["key"] for s in central["review_stages"]] == [
            "editor_review",
            "head_review",
            "board_approval",
        ]

    async def test_etag_revalidates_with_304(self, client, federation):
        r = await client.get("/v1/portals")
        etag = r.headers["etag"]
        again = await client.get("/v1/portals", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag

    async def test_etag_changes_when_a_portal_changes(self, client, federation):
        before = await client.get("/v1/portals")
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"name": "BHXH Phú Yên (mới)"},
            headers=federation["admin"].headers,
        )
        assert r.status_code == 200, r.text
        after = await client.get("/v1/portals", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        assert "BHXH Phú Yên (mới)" in after.text
        one = await client.get("/v1/portals/phu-yen")
        assert one.json()["name"] == "BHXH Phú Yên (mới)"


class TestGetPortal:
    async def test_profile_with_default_provincial_pipeline(self, client, federation):
        r = await client.get("/v1/portals/phu-yen")
        assert r.status_code == 200
        portal = r.json()
        assert portal["id"] == "phu-yen"
        assert portal["kind"] == "provincial"
        assert portal["locales"] == ["vi", "en"]
        assert portal["spokesperson"] is None
        assert portal["links"] == []
        assert [(s["key"], s["role"]) for s in portal["review_stages"]] == [
            ("editor_review", "editor"),
            ("approver_decision", "approver"),
        ]
        assert portal["standards"]["title_min"] == 10
        again = await client.get(
            "/v1/portals/phu-yen", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304

    async def test_unknown_portal_is_404(self, client, federation):
        problem = assert_problem(await client.get("/v1/portals/khong-co"), 404)
        assert "khong-co" in problem["detail"]

    async def test_nul_in_portal_id_is_400(self, client, federation):
        assert_problem(await client.get("/v1/portals/phu%00yen"), 400)


NEW_PORTAL = {
    "id": "quang-ninh",
    "name": "BHXH tỉnh Quảng Ninh",
    "locales": ["vi", "en"],
    "site_url": "https://quangninh.baohiemxahoi.gov.vn",
    "spokesperson": {"name": "Nguyễn Văn A", "title": "Phó Giám đốc", "phone": "0203 3835 555"},
}


class TestCreatePortal:
    async def test_superadmin_creates_a_portal(self, client, federation):
        r = await client.post("/v1/portals", json=NEW_PORTAL, headers=federation["root"].headers)
        assert r.status_code == 201, r.text
        portal = r.json()
        assert portal["id"] == "quang-ninh"
        assert portal["kind"] == "provincial"
        assert portal["spokesperson"]["title"] == "Phó Giám đốc"
        assert portal["site_url"] == "https://quangninh.baohiemxahoi.gov.vn/"
        r = await client.get("/v1/portals/quang-ninh")
        assert r.status_code == 200
        assert r.json()["name"] == "BHXH tỉnh Quảng Ninh"

    @pytest.mark.parametrize("who", ["admin", "approver", "other_admin"])
    async def test_portal_members_are_403(self, client, federation, who):
        r = await client.post("/v1/portals", json=NEW_PORTAL, headers=federation[who].headers)
        assert_problem(r, 403)
        assert (await client.get("/v1/portals/quang-ninh")).status_code == 404

    async def test_anonymous_is_401(self, client, federation):
        assert_problem(await client.post("/v1/portals", json=NEW_PORTAL), 401)

    async def test_duplicate_id_is_409(self, client, federation):
        r = await client.post(
            "/v1/portals", json={**NEW_PORTAL, "id": "phu-yen"}, headers=federation["root"].headers
        )
        assert_problem(r, 409)
        assert (await client.get("/v1/portals/phu-yen")).json()["name"] == "BHXH tỉnh Phú Yên"

    @pytest.mark.parametrize(
        "bad_id", ["Quang Ninh", "quảng-ninh", "-qn", "qn-", "q", "QN", "a--b"]
    )
    async def test_bad_slug_id_is_422(self, client, federation, bad_id):
        r = await client.post(
            "/v1/portals", json={**NEW_PORTAL, "id": bad_id}, headers=federation["root"].headers
        )
        problem = assert_problem(r, 422, "validation-error")
        assert error_fields(problem) == {"id"}

    async def test_every_bad_field_is_listed(self, client, federation):
        r = await client.post(
            "/v1/portals",
            json={
                "id": "ok-id",
                "name": "",
                "kind": "city",
                "locales": ["fr"],
                "site_url": "not a url",
                "spokesperson": {"name": "A", "email": "nope", "phone": "call me"},
            },
            headers=federation["root"].headers,
        )
        problem = assert_problem(r, 422)
        assert error_fields(problem) == {
            "name",
            "kind",
            "locales.0",
            "site_url",
            "spokesperson.email",
            "spokesperson.phone",
        }


class TestUpdatePortal:
    async def test_admin_sets_spokesperson_and_links(self, client, federation):
        spokesperson = {
            "name": "Lê Thị B",
            "title": "Giám đốc",
            "phone": "+84 257 3823 456",
            "email": "phatngon@phuyen.vss.gov.vn",
        }
        links = [{"name": "Sở Y tế Phú Yên", "url": "https://syt.phuyen.gov.vn/"}]
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"spokesperson": spokesperson, "links": links},
            headers=federation["admin"].headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["spokesperson"] == spokesperson
        public = (await client.get("/v1/portals/phu-yen")).json()
        assert public["spokesperson"] == spokesperson
        assert public["links"] == links
        assert public["name"] == "BHXH tỉnh Phú Yên", "fields left out must not change"

    async def test_name_is_nfc_normalised_and_locales_deduplicated(self, client, federation):
        name = "BHXH tỉnh Phú Yên mới"
        r = await client.patch(
            "/v1/portals/phu-yen",
            # As typed on a macOS keyboard: decomposed (NFD), with stray spaces.
            json={
                "name": f"  {unicodedata.normalize('NFD', name)} ",
                "locales": ["vi", "en", "vi"],
            },
            headers=federation["admin"].headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == name
        assert r.json()["locales"] == ["vi", "en"]

    async def test_spokesperson_null_clears_it(self, client, federation):
        headers = federation["admin"].headers
        await client.patch(
            "/v1/portals/phu-yen", json={"spokesperson": {"name": "Ai đó"}}, headers=headers
        )
        r = await client.patch("/v1/portals/phu-yen", json={"spokesperson": None}, headers=headers)
        assert r.status_code == 200
        assert r.json()["spokesperson"] is None

    @pytest.mark.parametrize("field", ["name", "locales", "links"])
    async def test_null_for_a_required_field_is_422(self, client, federation, field):
        r = await client.patch(
            "/v1/portals/phu-yen", json={field: None}, headers=federation["admin"].headers
        )
        problem = assert_problem(r, 422)
        assert error_fields(problem) == {field}
        assert (await client.get("/v1/portals/phu-yen")).status_code == 200

    @pytest.mark.parametrize("who", ["editor", "approver", "other_admin"])
    async def test_non_admins_are_403(self, client, federation, who):
        r = await client.patch(
            "/v1/portals/phu-yen", json={"name": "Chiếm quyền"}, headers=federation[who].headers
        )
        assert_problem(r, 403)
        assert (await client.get("/v1/portals/phu-yen")).json()["name"] == "BHXH tỉnh Phú Yên"

    async def test_anonymous_is_401_and_unknown_is_404(self, client, federation):
        assert_problem(await client.patch("/v1/portals/phu-yen", json={"name": "X"}), 401)
        r = await client.patch(
            "/v1/portals/khong-co", json={"name": "X"}, headers=federation["root"].headers
        )
        assert_problem(r, 404)

    @pytest.mark.parametrize(
        "stages",
        [
            [],
            [{"key": "a", "name": {"vi": "A", "en": "A"}, "role": "contributor"}],
            [{"key": "Bad Key", "name": {"vi": "A", "en": "A"}, "role": "editor"}],
            [{"key": "a", "name": {"vi": "A"}, "role": "editor"}],
            [{"key": "a", "name": {"vi": "A", "en": "A"}, "role": "editor", "extra": 1}],
            [
                {"key": "same", "name": {"vi": "A", "en": "A"}, "role": "editor"},
                {"key": "same", "name": {"vi": "B", "en": "B"}, "role": "approver"},
            ],
            [{"key": f"s{i}", "name": {"vi": "A", "en": "A"}, "role": "editor"} for i in range(7)],
            "editor",
        ],
        ids=[
            "empty",
            "contributor",
            "bad-key",
            "half-name",
            "extra",
            "dup-keys",
            "too-many",
            "str",
        ],
    )
    async def test_bad_review_stages_are_422(self, client, federation, stages):
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"review_stages": stages},
            headers=federation["admin"].headers,
        )
        problem = assert_problem(r, 422)
        assert all(f.startswith("review_stages") for f in error_fields(problem)), problem
        stages_now = (await client.get("/v1/portals/phu-yen")).json()["review_stages"]
        assert [s["key"] for s in stages_now] == ["editor_review", "approver_decision"]

    @pytest.mark.parametrize(
        "standards",
        [
            {"title_minimum": 5},
            {"title_min": "5"},
            {"title_min": 5.5},
            {"require_source": 1},
            {"title_min": 300},
            {"lead_min": -1},
        ],
    )
    async def test_bad_standards_are_422(self, client, federation, standards):
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"standards": standards},
            headers=federation["admin"].headers,
        )
        problem = assert_problem(r, 422)
        assert error_fields(problem) == {"standards"}

    async def test_unknown_field_is_422(self, client, federation):
        r = await client.patch(
            "/v1/portals/phu-yen", json={"kind": "central"}, headers=federation["admin"].headers
        )
        assert error_fields(assert_problem(r, 422)) == {"kind"}


SINGLE_STAGE = [
    {"key": "board_decision", "name": {"vi": "Ban biên tập", "en": "Board"}, "role": "approver"}
]


class TestPortalConfigurationDrivesTheWorkflow:
    async def test_single_stage_pipeline_publishes_right_after_submit(self, client, db, federation):
        people = federation
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"review_stages": SINGLE_STAGE},
            headers=people["admin"].headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["review_stages"] == SINGLE_STAGE
        category = await make_category(db, "phu-yen")
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["contributor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}"
        article = await act(client, people, url, "submit", "contributor")
        assert article["status"] == "in_review"
        assert article["stage"] == "board_decision"
        r = await client.post(
            f"{url}/transitions", json={"action": "forward"}, headers=people["editor"].headers
        )
        assert_problem(r, 409, "transition-not-allowed")
        r = await client.post(
            f"{url}/transitions", json={"action": "publish"}, headers=people["editor"].headers
        )
        assert_problem(r, 403, "action-forbidden")
        article = await act(client, people, url, "publish", "approver")
        assert article["status"] == "published"
        assert article["is_live"] is True
        history = (await client.get(f"{url}/history", headers=people["editor"].headers)).json()
        assert [(h["action"], h["to_stage"]) for h in history["items"]] == [
            ("submit", "board_decision"),
            ("publish", None),
        ]

    async def test_three_stage_pipeline_on_a_province_needs_every_stage(
        self, client, db, federation
    ):
        people = federation
        stages = [
            {"key": "bien_tap", "name": {"vi": "Biên tập", "en": "Editing"}, "role": "editor"},
            {"key": "truong_phong", "name": {"vi": "Trưởng phòng", "en": "Head"}, "role": "head"},
            {"key": "lanh_dao", "name": {"vi": "Lãnh đạo", "en": "Board"}, "role": "approver"},
        ]
        r = await client.patch(
            "/v1/portals/phu-yen", json={"review_stages": stages}, headers=people["admin"].headers
        )
        assert r.status_code == 200, r.text
        category = await make_category(db, "phu-yen")
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id),
            headers=people["contributor"].headers,
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}"
        await act(client, people, url, "submit", "contributor")
        assert (await act(client, people, url, "forward", "editor"))["stage"] == "truong_phong"
        r = await client.post(
            f"{url}/transitions", json={"action": "forward"}, headers=people["editor"].headers
        )
        assert_problem(r, 403)
        assert (await act(client, people, url, "forward", "approver"))["stage"] == "lanh_dao"

    async def test_relaxed_standard_lets_a_shorter_article_through(self, client, db, federation):
        people = federation
        category = await make_category(db, "phu-yen")
        article = good_article(category.id, source=None, author=None)
        r = await client.post(
            "/v1/portals/phu-yen/articles", json=article, headers=people["contributor"].headers
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}"
        r = await client.post(
            f"{url}/transitions", json={"action": "submit"}, headers=people["contributor"].headers
        )
        assert error_fields(assert_problem(r, 422, "standards-not-met")) == {"author", "source"}
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"standards": {"require_author": False, "require_source": False}},
            headers=people["admin"].headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["standards"]["require_source"] is False
        assert r.json()["standards"]["title_min"] == 10
        assert (await act(client, people, url, "submit", "contributor"))["status"] == "in_review"


def categories_url(portal: str = "phu-yen", category_id: str = "") -> str:
    return f"/v1/portals/{portal}/categories" + (f"/{category_id}" if category_id else "")


async def create_category(client, people, who="admin", portal="phu-yen", **body):
    r = await client.post(categories_url(portal), json=body, headers=people[who].headers)
    assert r.status_code == 201, r.text
    return r.json()


async def category_slugs(client, portal: str = "phu-yen") -> list[str]:
    r = await client.get(categories_url(portal))
    assert r.status_code == 200
    return [c["slug"] for c in r.json()["items"]]


class TestCreateCategory:
    @pytest.mark.parametrize(
        ("name", "slug"),
        [
            ("Chính sách BHXH", "chinh-sach-bhxh"),
            ("Đời sống \u2013 Xã hội", "doi-song-xa-hoi"),
            ("  Hỏi đáp chính sách  ", "hoi-dap-chinh-sach"),
        ],
    )
    async def test_slug_is_derived_from_the_vietnamese_name(self, client, federation, name, slug):
        category = await create_category(client, federation, name=name)
        assert category["slug"] == slug
        assert category["name"] == name.strip()
        assert category["portal"] == "phu-yen"
        assert category["parent_id"] is None
        assert slug in await category_slugs(client)

    async def test_explicit_slug_is_kept(self, client, federation):
        category = await create_category(client, federation, name="Tin tức", slug="tin-moi")
        assert category["slug"] == "tin-moi"

    async def test_duplicate_slug_is_409(self, client, federation):
        await create_category(client, federation, name="Chính sách BHXH")
        r = await client.post(
            categories_url(),
            json={"name": "Chinh sach bhxh"},
            headers=federation["admin"].headers,
        )
        problem = assert_problem(r, 409)
        assert error_fields(problem) == {"slug"}
        assert await category_slugs(client) == ["chinh-sach-bhxh"]

    async def test_same_slug_in_another_portal_is_fine(self, client, federation):
        await create_category(client, federation, name="Tin tức")
        other = await create_category(
            client, federation, who="other_admin", portal="ha-noi", name="Tin tức"
        )
        assert other["slug"] == "tin-tuc"

    async def test_parent_in_another_portal_is_404(self, client, federation):
        foreign = await create_category(
            client, federation, who="other_admin", portal="ha-noi", name="Tin Hà Nội"
        )
        r = await client.post(
            categories_url(),
            json={"name": "Con", "parent_id": foreign["id"]},
            headers=federation["admin"].headers,
        )
        assert_problem(r, 404, "category-not-found")
        assert await category_slugs(client) == []

    async def test_name_without_letters_needs_a_slug(self, client, federation):
        r = await client.post(
            categories_url(), json={"name": "!!! ???"}, headers=federation["admin"].headers
        )
        assert error_fields(assert_problem(r, 422)) == {"slug"}

    async def test_bad_input_is_422_listing_fields(self, client, federation):
        r = await client.post(
            categories_url(),
            json={"name": "", "slug": "Không Hợp Lệ", "position": -1, "parent_id": "x" * 40},
            headers=federation["admin"].headers,
        )
        problem = assert_problem(r, 422, "validation-error")
        assert error_fields(problem) == {"name", "slug", "position", "parent_id"}

    @pytest.mark.parametrize("who", ["contributor", "editor", "approver", "other_admin"])
    async def test_non_admins_are_403(self, client, federation, who):
        r = await client.post(
            categories_url(), json={"name": "Tin"}, headers=federation[who].headers
        )
        assert_problem(r, 403)
        assert await category_slugs(client) == []

    async def test_anonymous_is_401_and_unknown_portal_404(self, client, federation):
        assert_problem(await client.post(categories_url(), json={"name": "Tin"}), 401)
        r = await client.post(
            categories_url("khong-co"), json={"name": "Tin"}, headers=federation["root"].headers
        )
        assert_problem(r, 404)


class TestListCategories:
    async def test_tree_order_parents_first_siblings_by_position(self, client, federation):
        people = federation
        news = await create_category(client, people, name="Tin tức", position=1)
        policy = await create_category(client, people, name="Chính sách", position=0)
        await create_category(
            client, people, name="Tin địa phương", parent_id=news["id"], position=2
        )
        await create_category(
            client, people, name="Tin trung ương", parent_id=news["id"], position=1
        )
        await create_category(client, people, name="Bảo hiểm y tế", parent_id=policy["id"])
        r = await client.get(categories_url())
        assert r.status_code == 200
        assert "public" in r.headers["cache-control"]
        assert [c["slug"] for c in r.json()["items"]] == [
            "chinh-sach",
            "bao-hiem-y-te",
            "tin-tuc",
            "tin-trung-uong",
            "tin-dia-phuong",
        ]
        again = await client.get(categories_url(), headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304

    async def test_unknown_portal_is_404(self, client, federation):
        assert_problem(await client.get(categories_url("khong-co")), 404)

    async def test_portals_do_not_see_each_others_categories(self, client, federation):
        await create_category(client, federation, name="Tin Phú Yên")
        assert await category_slugs(client, "ha-noi") == []


class TestUpdateCategory:
    async def test_rename_and_reorder(self, client, federation):
        category = await create_category(client, federation, name="Tin tức")
        r = await client.patch(
            categories_url(category_id=category["id"]),
            json={"name": "Tin tức \u2013 Sự kiện", "position": 5},
            headers=federation["admin"].headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Tin tức \u2013 Sự kiện"
        assert r.json()["position"] == 5
        assert r.json()["slug"] == "tin-tuc", "a rename keeps the slug (links stay valid)"

    async def test_move_under_a_parent_and_back_to_the_root(self, client, federation):
        parent = await create_category(client, federation, name="Cha")
        child = await create_category(client, federation, name="Con")
        url = categories_url(category_id=child["id"])
        headers = federation["admin"].headers
        r = await client.patch(url, json={"parent_id": parent["id"]}, headers=headers)
        assert r.json()["parent_id"] == parent["id"]
        r = await client.patch(url, json={"parent_id": None}, headers=headers)
        assert r.json()["parent_id"] is None

    async def test_cycles_are_422(self, client, federation):
        headers = federation["admin"].headers
        a = await create_category(client, federation, name="A")
        b = await create_category(client, federation, name="B", parent_id=a["id"])
        c = await create_category(client, federation, name="C", parent_id=b["id"])
        for parent in (a["id"], c["id"]):
            r = await client.patch(
                categories_url(category_id=a["id"]), json={"parent_id": parent}, headers=headers
            )
            problem = assert_problem(r, 422)
            assert [e["code"] for e in problem["errors"]] == ["cycle"]
        assert await category_slugs(client) == ["a", "b", "c"]

    async def test_parent_in_another_portal_is_404(self, client, federation):
        mine = await create_category(client, federation, name="Của tôi")
        foreign = await create_category(
            client, federation, who="other_admin", portal="ha-noi", name="Của Hà Nội"
        )
        r = await client.patch(
            categories_url(category_id=mine["id"]),
            json={"parent_id": foreign["id"]},
            headers=federation["admin"].headers,
        )
        assert_problem(r, 404, "category-not-found")

    async def test_duplicate_slug_is_409(self, client, federation):
        await create_category(client, federation, name="Tin tức")
        other = await create_category(client, federation, name="Sự kiện")
        r = await client.patch(
            categories_url(category_id=other["id"]),
            json={"slug": "tin-tuc"},
            headers=federation["admin"].headers,
        )
        assert_problem(r, 409)

    async def test_category_of_another_portal_is_404(self, client, federation):
        foreign = await create_category(
            client, federation, who="other_admin", portal="ha-noi", name="Tin Hà Nội"
        )
        r = await client.patch(
            categories_url(category_id=foreign["id"]),
            json={"name": "Đổi tên qua cổng khác"},
            headers=federation["admin"].headers,
        )
        assert_problem(r, 404, "category-not-found")
        assert (await client.get(categories_url("ha-noi"))).json()["items"][0][
            "name"
        ] == "Tin Hà Nội"

    @pytest.mark.parametrize("who", ["editor", "approver", "other_admin"])
    async def test_non_admins_are_403(self, client, federation, who):
        category = await create_category(client, federation, name="Tin tức")
        r = await client.patch(
            categories_url(category_id=category["id"]),
            json={"name": "Đổi tên"},
            headers=federation[who].headers,
        )
        assert_problem(r, 403)


class TestDeleteCategory:
    async def test_empty_category_is_deleted(self, client, federation):
        category = await create_category(client, federation, name="Tạm")
        r = await client.delete(
            categories_url(category_id=category["id"]), headers=federation["admin"].headers
        )
        assert r.status_code == 204
        assert await category_slugs(client) == []

    async def test_refused_while_it_has_children(self, client, federation):
        parent = await create_category(client, federation, name="Cha")
        await create_category(client, federation, name="Con", parent_id=parent["id"])
        r = await client.delete(
            categories_url(category_id=parent["id"]), headers=federation["admin"].headers
        )
        assert_problem(r, 409, "category-in-use")
        assert await category_slugs(client) == ["cha", "con"]

    async def test_refused_while_it_has_live_items(self, client, federation):
        category = await create_category(client, federation, name="Tin tức")
        url = await published_article(client, federation, category["id"])
        r = await client.delete(
            categories_url(category_id=category["id"]), headers=federation["admin"].headers
        )
        problem = assert_problem(r, 409, "category-in-use")
        assert "1" in problem["detail"]
        await act(client, federation, url, "unpublish", "approver", comment="Gỡ để sắp xếp lại")
        r = await client.delete(
            categories_url(category_id=category["id"]), headers=federation["admin"].headers
        )
        assert r.status_code == 204, "an unpublished article no longer holds the category"

    async def test_unknown_category_is_404(self, client, federation):
        r = await client.delete(
            categories_url(category_id="0" * 32), headers=federation["admin"].headers
        )
        assert_problem(r, 404, "category-not-found")

    @pytest.mark.parametrize("who", ["editor", "approver", "other_admin"])
    async def test_non_admins_are_403(self, client, federation, who):
        category = await create_category(client, federation, name="Tin tức")
        r = await client.delete(
            categories_url(category_id=category["id"]), headers=federation[who].headers
        )
        assert_problem(r, 403)
        assert await category_slugs(client) == ["tin-tuc"]

    async def test_anonymous_is_401(self, client, federation):
        category = await create_category(client, federation, name="Tin tức")
        assert_problem(await client.delete(categories_url(category_id=category["id"])), 401)
