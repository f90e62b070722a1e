"""Fields a page may render as a link take http(s) only: an article's source, a portal's
site_url and its department links. A `javascript:` source was accepted."""

from __future__ import annotations

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

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " \tjava\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "javascript: alert(1)",
    "ftp://files.example/x",
    "mailto:toasoan@example.vn",
]


@pytest.fixture
async def newsroom(content_app, db):
    await make_portal(db, "phu-yen")
    category = await make_category(db, "phu-yen")
    editor = await make_user(content_app, db, roles={"phu-yen": "editor"})
    root = await make_user(content_app, db, superadmin=True)
    return category, editor, root


class TestArticleSource:
    @pytest.mark.parametrize("source", HOSTILE)
    async def test_a_foreign_scheme_is_422(self, client, newsroom, source):
        category, editor, _ = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, source=source),
            headers={**editor.headers, "accept-language": "en"},
        )
        problem = assert_problem(r, 422, "validation-error")
        assert error_fields(problem) == {"source"}
        assert "http://" in problem["errors"][0]["message"]

    async def test_an_edit_is_checked_too(self, client, newsroom):
        category, editor, _ = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles", json=good_article(category.id), headers=editor.headers
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}"
        r = await client.patch(url, json={"source": "javascript:alert(1)"}, headers=editor.headers)
        assert error_fields(assert_problem(r, 422)) == {"source"}

    @pytest.mark.parametrize(
        "source",
        [
            "BHXH tỉnh Phú Yên",
            "Nguồn: BHXH Việt Nam",
            "Theo: Báo Nhân Dân",
            "Source: Reuters",
            "https://baophuyen.vn/bai-viet",
            "HTTP://x.vn",
        ],
    )
    async def test_a_name_or_a_web_link_is_kept(self, client, newsroom, source):
        category, editor, _ = newsroom
        r = await client.post(
            "/v1/portals/phu-yen/articles",
            json=good_article(category.id, source=source),
            headers=editor.headers,
        )
        assert r.status_code == 201, r.text
        assert r.json()["source"] == source


class TestPortalLinks:
    @pytest.mark.parametrize("url", [*HOSTILE, "/relative/path", "//evil.example/x", "syt.gov.vn"])
    async def test_site_url_and_links_take_absolute_http_only(self, client, newsroom, url):
        *_, root = newsroom
        r = await client.patch("/v1/portals/phu-yen", json={"site_url": url}, headers=root.headers)
        assert error_fields(assert_problem(r, 422)) == {"site_url"}
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"links": [{"name": "Sở Y tế", "url": url}]},
            headers=root.headers,
        )
        assert error_fields(assert_problem(r, 422)) == {"links.0.url"}

    async def test_https_is_kept(self, client, newsroom):
        *_, root = newsroom
        r = await client.patch(
            "/v1/portals/phu-yen",
            json={"site_url": "HTTPS://PhuYen.BaoHiemXaHoi.gov.vn/"},
            headers=root.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["site_url"] == "https://phuyen.baohiemxahoi.gov.vn/"
