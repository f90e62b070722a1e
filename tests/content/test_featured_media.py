"""Submit checks the featured image against the media service (issue 4: alt text required).

A real media app (its own migrated PostgreSQL database, local storage) runs in-process next
to a real content app; content asks media with the acting user's token. Media down is a
client whose transport fails, and it must leave the article a draft.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pgserver
import pytest
from databases import migrated_database, rolled_back
from factories import (
    Newsroom,
    article_in_last_stage,
    assert_problem,
    good_article,
    good_document,
    make_newsroom,
    make_portal,
    make_user,
)
from fastapi import FastAPI
from PIL import Image
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from typer.testing import CliRunner

from gateway.cli import cli
from gateway.embedded import embedded_gateway
from services.common.db import Database
from services.common.outbox import HttpSubscriber, OutboxRelay
from services.content.app import create_app as create_content_app
from services.content.demo.seed import seed_demo
from services.content.media import media_links
from services.content.models import OUTBOX
from services.content.settings import ContentSettings
from services.media.app import create_app as create_media_app
from services.media.av import AvTools
from services.media.models import UsageItem
from services.media.settings import MediaSettings
from services.media.storage import LocalStorage

pytestmark = pytest.mark.postgres

EN = {"Accept-Language": "en"}


def jpeg() -> bytes:
    # A fresh colour each time: media returns the existing asset for the same bytes.
    out = io.BytesIO()
    Image.new("RGB", (320, 240), tuple(uuid.uuid4().bytes[:3])).save(out, format="JPEG")
    return out.getvalue()


def pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(out, format="PDF")
    return out.getvalue()


@pytest.fixture(scope="session")
def featured_media_pg_url(pg_server: pgserver.PgServer) -> Iterator[str]:
    """A migrated media database of this xdist worker."""
    with migrated_database(pg_server, "media", "featured_media") as url:
        yield url


@pytest.fixture(scope="session")
async def featured_media_engine(featured_media_pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(featured_media_pg_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def media_connection(featured_media_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with rolled_back(featured_media_engine) as conn:
        yield conn


class LateApp:
    """Content and media call each other: media's client of content is bound once content
    is built (as gateway.embedded does)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture
def content_ref() -> LateApp:
    return LateApp()


@pytest.fixture
async def media_app(
    tmp_path: Path, signing_key_pem: str, media_connection: AsyncConnection, content_ref: LateApp
) -> AsyncIterator[FastAPI]:
    """Media verifies the tokens content issues (same key, issuer and audience) and reads
    the caller's current roles from it."""
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "signing.pem").write_text(signing_key_pem)
    transport = httpx.ASGITransport(app=content_ref)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as to_content:
        app = create_media_app(
            MediaSettings(data_dir=tmp_path),
            database=Database.bound_to(media_connection),
            storage=LocalStorage(tmp_path / "media"),
            tools=AvTools(None, None),
            content=to_content,
        )
        async with app.router.lifespan_context(app):
            yield app


@pytest.fixture
async def media(media_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=media_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://media") as http:
        yield http


@pytest.fixture
async def checking_app(
    content_settings: ContentSettings, db: Database, media: httpx.AsyncClient, content_ref: LateApp
) -> AsyncIterator[FastAPI]:
    """The content service, asking the media service about featured images."""
    app = create_content_app(content_settings, database=db, media=media)
    content_ref.app = app
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def content(checking_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=checking_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        yield http


@pytest.fixture
async def newsroom(checking_app: FastAPI, db: Database) -> Newsroom:
    return await make_newsroom(checking_app, db)


async def upload(
    media: httpx.AsyncClient, user: Any, portal: str, name: str, data: bytes, **fields: str
) -> dict[str, Any]:
    r = await media.post(
        "/v1/media",
        data={"portal": portal, **fields},
        files={"file": (name, data, "application/octet-stream")},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def draft(content: httpx.AsyncClient, newsroom: Newsroom, media_id: str) -> str:
    r = await content.post(
        f"/v1/portals/{newsroom.portal}/articles",
        json=good_article(newsroom.category_id, featured_media_id=media_id),
        headers=newsroom.headers("contributor"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def submit(
    content: httpx.AsyncClient, newsroom: Newsroom, item_id: str, **headers: str
) -> httpx.Response:
    return await content.post(
        f"/v1/portals/{newsroom.portal}/articles/{item_id}/transitions",
        json={"action": "submit"},
        headers={**newsroom.headers("contributor"), **headers},
    )


async def status_of(content: httpx.AsyncClient, newsroom: Newsroom, item_id: str) -> str:
    r = await content.get(
        f"/v1/portals/{newsroom.portal}/articles/{item_id}", headers=newsroom.headers("editor")
    )
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def featured_errors(problem: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in problem["errors"] if e["field"] == "featured_media_id"]


async def test_an_image_without_alt_is_refused_until_alt_is_added(content, media, newsroom):
    editor = newsroom.people["editor"]
    asset = await upload(media, editor, newsroom.portal, "Hội nghị.jpg", jpeg())
    assert asset["usable_as_featured"] is False
    item = await draft(content, newsroom, asset["id"])

    problem = assert_problem(await submit(content, newsroom, item), 422, "standards-not-met")
    [error] = featured_errors(problem)
    assert error["code"] == "alt_required"
    assert "mô tả thay thế (alt)" in error["message"]
    english = assert_problem(await submit(content, newsroom, item, **EN), 422)
    assert "has no alt text" in featured_errors(english)[0]["message"]
    assert await status_of(content, newsroom, item) == "draft"

    r = await media.patch(
        f"/v1/media/{asset['id']}",
        json={"alt": "Quang cảnh hội nghị tập huấn tại BHXH Phú Yên"},
        headers=editor.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["usable_as_featured"] is True
    r = await submit(content, newsroom, item)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_review"


async def transition(
    content: httpx.AsyncClient, newsroom: Newsroom, item_id: str, action: str, who: str
) -> httpx.Response:
    return await content.post(
        f"/v1/portals/{newsroom.portal}/articles/{item_id}/transitions",
        json={"action": action},
        headers=newsroom.headers(who),
    )


async def test_alt_text_removed_in_review_stops_forward_and_publish(content, media, newsroom):
    """Every step towards publication asks media again, not only submit."""
    editor = newsroom.people["editor"]
    asset = await upload(
        media, editor, newsroom.portal, "a.jpg", jpeg(), alt="Trụ sở BHXH tỉnh Phú Yên"
    )
    item = await draft(content, newsroom, asset["id"])
    assert (await submit(content, newsroom, item)).status_code == 200

    async def set_alt(alt: str) -> None:
        url = f"/v1/media/{asset['id']}"
        r = await media.patch(url, json={"alt": alt}, headers=editor.headers)
        assert r.status_code == 200, r.text

    await set_alt("")
    r = await transition(content, newsroom, item, "forward", "editor")
    assert featured_errors(assert_problem(r, 422, "standards-not-met"))[0]["code"] == (
        "alt_required"
    )
    await set_alt("Trụ sở BHXH tỉnh Phú Yên")
    r = await transition(content, newsroom, item, "forward", "editor")
    assert r.status_code == 200, r.text
    await set_alt("")
    r = await transition(content, newsroom, item, "publish", "approver")
    assert_problem(r, 422, "standards-not-met")
    assert await status_of(content, newsroom, item) == "in_review"
    await set_alt("Trụ sở BHXH tỉnh Phú Yên")
    r = await transition(content, newsroom, item, "publish", "approver")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"


async def test_another_portals_image_is_not_found_even_when_media_shows_it(
    content, media, newsroom, checking_app, db
):
    await make_portal(db, "ha-noi")
    outsider = await make_user(checking_app, db, roles={"ha-noi": "editor"})
    asset = await upload(media, outsider, "ha-noi", "Hà Nội.jpg", jpeg(), alt="Trụ sở BHXH Hà Nội")
    item = await draft(content, newsroom, asset["id"])
    problem = assert_problem(await submit(content, newsroom, item), 422, "standards-not-met")
    assert [e["code"] for e in featured_errors(problem)] == ["media_not_found"]

    # Published content of Hà Nội uses it: media now shows it to anyone, still not ours.
    r = await media.put(
        "/internal/usage/ha-noi-article",
        json={"portal": "ha-noi", "media_ids": [asset["id"]], "published": True, "version": 1},
    )
    assert r.status_code == 204, r.text
    shown = await media.get(f"/v1/media/{asset['id']}", headers=newsroom.headers("contributor"))
    assert shown.status_code == 200
    assert shown.json()["portal"] == "ha-noi"
    problem = assert_problem(await submit(content, newsroom, item), 422, "standards-not-met")
    assert [e["code"] for e in featured_errors(problem)] == ["media_not_found"]
    assert await status_of(content, newsroom, item) == "draft"


async def test_a_pdf_cannot_be_the_featured_image(content, media, newsroom):
    asset = await upload(
        media,
        newsroom.people["editor"],
        newsroom.portal,
        "Quyết định.pdf",
        pdf(),
        alt="Quyết định số 1",
    )
    assert asset["kind"] == "document"
    item = await draft(content, newsroom, asset["id"])
    problem = assert_problem(await submit(content, newsroom, item), 422, "standards-not-met")
    [error] = featured_errors(problem)
    assert error["code"] == "not_an_image"
    assert "tài liệu" in error["message"]


async def test_an_unknown_id_is_listed_with_every_other_problem(content, newsroom):
    r = await content.post(
        f"/v1/portals/{newsroom.portal}/articles",
        json=good_article(newsroom.category_id, featured_media_id="khong-co-anh", author=None),
        headers=newsroom.headers("contributor"),
    )
    assert r.status_code == 201, r.text
    problem = assert_problem(await submit(content, newsroom, r.json()["id"]), 422)
    assert {(e["field"], e["code"]) for e in problem["errors"]} == {
        ("author", "required"),
        ("featured_media_id", "media_not_found"),
    }


def failing(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://media")


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def answer_500(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"title": "boom"})


@pytest.mark.parametrize("handler", [refuse_connection, answer_500], ids=["down", "5xx"])
async def test_media_down_is_503_and_the_article_stays_a_draft(
    content_settings, db, handler, media, media_app, content_ref
):
    async with failing(handler) as broken:
        app = create_content_app(content_settings, database=db, media=broken)
        content_ref.app = app  # media reads the uploader's roles from it
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
                newsroom = await make_newsroom(app, db)
                editor = newsroom.people["editor"]
                asset = await upload(
                    media, editor, newsroom.portal, "Ảnh.jpg", jpeg(), alt="Ảnh hội nghị"
                )
                item = await draft(http, newsroom, asset["id"])
                problem = assert_problem(
                    await submit(http, newsroom, item), 503, "media-unavailable"
                )
                assert "thử lại sau" in problem["detail"]
                refused = await submit(http, newsroom, item)
                assert refused.headers["retry-after"] == "10"
                english = assert_problem(await submit(http, newsroom, item, **EN), 503)
                assert "try again later" in english["detail"]
                assert await status_of(http, newsroom, item) == "draft"
                history = await http.get(
                    f"/v1/portals/{newsroom.portal}/articles/{item}/history",
                    headers=editor.headers,
                )
                assert history.status_code == 200, history.text
                assert history.json()["items"] == []


async def test_without_a_media_client_only_presence_is_checked(client, content_app, db):
    newsroom = await make_newsroom(content_app, db)
    item = await draft(client, newsroom, "khong-co-anh")
    r = await submit(client, newsroom, item)
    assert r.status_code == 200, r.text


ADMIN_PASSWORD = "quan-tri-featured-2026"


async def test_embedded_platform_checks_the_featured_image(tmp_path):
    result = CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    db = Database.from_url(ContentSettings(data_dir=tmp_path).resolved_database_url())
    try:
        await seed_demo(
            db, console=Console(quiet=True), admin_password=ADMIN_PASSWORD, demo_password="x" * 12
        )
    finally:
        await db.dispose()
    app = embedded_gateway(tmp_path)
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as gw:
            login = {"username": "admin", "password": ADMIN_PASSWORD}
            token = (await gw.post("/v1/auth/token", json=login)).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            r = await gw.post(
                "/v1/media",
                data={"portal": "phu-yen"},
                files={"file": ("Trụ sở.jpg", jpeg(), "image/jpeg")},
                headers=auth,
            )
            assert r.status_code == 201, r.text
            media_id = r.json()["id"]
            categories = (await gw.get("/v1/portals/phu-yen/categories")).json()["items"]
            article = good_article(categories[0]["id"], featured_media_id=media_id)
            created = await gw.post("/v1/portals/phu-yen/articles", json=article, headers=auth)
            assert created.status_code == 201, created.text
            url = f"/v1/portals/phu-yen/articles/{created.json()['id']}/transitions"

            refused = await gw.post(url, json={"action": "submit"}, headers=auth)
            problem = assert_problem(refused, 422, "standards-not-met")
            assert [e["code"] for e in featured_errors(problem)] == ["alt_required"]
            r = await gw.patch(
                f"/v1/media/{media_id}", json={"alt": "Trụ sở BHXH Phú Yên"}, headers=auth
            )
            assert r.status_code == 200, r.text
            moved = await gw.post(url, json={"action": "submit"}, headers=auth)
            assert moved.status_code == 200, moved.text
            assert moved.json()["status"] == "in_review"


async def test_a_documents_attachments_must_be_in_the_portals_library(content, media, newsroom):
    editor = newsroom.people["editor"]
    letter = await upload(media, editor, newsroom.portal, "cong-van-3216.pdf", pdf())
    base = f"/v1/portals/{newsroom.portal}/documents"
    body = good_document(category_id=newsroom.category_id, attachments=[letter["id"], "0" * 32])
    r = await content.post(base, json=body, headers=newsroom.headers("contributor"))
    assert r.status_code == 201, r.text
    url = f"{base}/{r.json()['id']}"
    r = await content.post(
        f"{url}/transitions", json={"action": "submit"}, headers=newsroom.headers("contributor")
    )
    problem = assert_problem(r, 422, "standards-not-met")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("attachments.1", "media_not_found")
    ]
    r = await content.patch(
        url, json={"attachments": [letter["id"]]}, headers=newsroom.headers("contributor")
    )
    assert r.status_code == 200, r.text
    r = await content.post(
        f"{url}/transitions", json={"action": "submit"}, headers=newsroom.headers("contributor")
    )
    assert r.status_code == 200, r.text


# --- media linked in a body (issue 10, finding 3) ----------------------------------------


def body_errors(problem: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in problem["errors"] if e["field"] == "body"]


async def test_media_of_another_portal_linked_in_the_body_is_refused(
    content, media, checking_app, db
):
    """A ha-noi article may not link phu-yen's media, draft or public, by any spelling."""
    hanoi = await make_newsroom(checking_app, db, "ha-noi")
    await make_portal(db, "phu-yen")
    phuyen = await make_user(checking_app, db, roles={"phu-yen": "editor"})
    draft_asset = await upload(media, phuyen, "phu-yen", "Nháp.jpg", jpeg())
    public_asset = await upload(media, phuyen, "phu-yen", "Đã đăng.jpg", jpeg())
    r = await media.put(
        "/internal/usage/phu-yen-article",
        json={"portal": "phu-yen", "media_ids": [public_asset["id"]], "published": True},
    )
    assert r.status_code == 204, r.text
    own = await upload(media, hanoi.people["editor"], "ha-noi", "Hà Nội.jpg", jpeg(), alt="Ảnh")
    body = (
        "<p>Nội dung bài viết về chính sách bảo hiểm thất nghiệp.</p>"
        f'<p><img src="/v1/media/{draft_asset["id"]}/file"></p>'
        f'<p><a href="https://cong.baohiemxahoi.gov.vn/v1/%6dedia/{public_asset["id"]}'
        '/renditions/large?v=1">ảnh lớn</a></p>'
        f'<p><img src="/v1/media/{own["id"]}/renditions/medium"></p>'
        f'<p><img src="/v1/media/{draft_asset["id"]}/renditions/thumb"></p>'
        '<p><img src="/v1/media/khong-co/file"></p>'
    )
    r = await content.post(
        "/v1/portals/ha-noi/articles",
        json=good_article(hanoi.category_id, featured_media_id=own["id"], body=body),
        headers=hanoi.headers("contributor"),
    )
    assert r.status_code == 201, r.text
    item = r.json()["id"]
    url = f"/v1/portals/ha-noi/articles/{item}"
    submit_ha_noi = {"action": "submit"}
    r = await content.post(
        f"{url}/transitions", json=submit_ha_noi, headers=hanoi.headers("contributor")
    )
    problem = assert_problem(r, 422, "standards-not-met")
    errors = body_errors(problem)
    assert [e["code"] for e in errors] == ["media_not_found"] * 3  # each medium once
    messages = " ".join(e["message"] for e in errors)
    for media_id in (draft_asset["id"], public_asset["id"], "khong-co"):
        assert media_id in messages
    assert own["id"] not in messages
    assert "không có trong thư viện tệp của cổng này" in messages
    english = await content.post(
        f"{url}/transitions", json=submit_ha_noi, headers={**hanoi.headers("contributor"), **EN}
    )
    assert "is not in this portal's media library" in body_errors(english.json())[0]["message"]

    fixed = f'<p>Nội dung bài viết.</p><p><img src="/v1/media/{own["id"]}/file"></p>'
    r = await content.patch(url, json={"body": fixed}, headers=hanoi.headers("contributor"))
    assert r.status_code == 200, r.text
    r = await content.post(
        f"{url}/transitions", json=submit_ha_noi, headers=hanoi.headers("contributor")
    )
    assert r.status_code == 200, r.text


async def test_a_body_linking_too_many_media_is_refused(content, newsroom):
    links = "".join(f'<img src="/v1/media/{i:032x}/file">' for i in range(101))
    r = await content.post(
        f"/v1/portals/{newsroom.portal}/articles",
        json=good_article(newsroom.category_id, body=f"<p>Nội dung.</p>{links}"),
        headers=newsroom.headers("contributor"),
    )
    assert r.status_code == 201, r.text
    problem = assert_problem(await submit(content, newsroom, r.json()["id"]), 422)
    assert [e["code"] for e in body_errors(problem)] == ["too_many_media_links"]


async def test_the_reported_attack_end_to_end_the_asset_stays_private_and_deletable(
    content_settings, db, media, media_connection, content_ref
):
    """Finding 3 as it was found: a ha-noi article, published by a content service that
    does not check media (or before the body check), links a phu-yen draft asset in its
    body; content's outbox delivers the event to media for real. The asset must stay a
    draft: 404 to anyone else, `private` for its members, and deletable by its admin."""
    app = create_content_app(content_settings, database=db)  # no media check
    content_ref.app = app  # media reads the callers' roles from it
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            hanoi = await make_newsroom(app, db, "ha-noi")
            await make_portal(db, "phu-yen")
            phuyen_admin = await make_user(app, db, roles={"phu-yen": "admin"})
            asset = await upload(media, phuyen_admin, "phu-yen", "Nháp.jpg", jpeg(), alt="Ảnh")
            assert_problem(await media.get(asset["url"]), 404)

            body = f'<p>Tin Hà Nội.</p><p><img src="/v1/media/{asset["id"]}/file"></p>'
            article = await article_in_last_stage(http, hanoi, body=body)
            r = await http.post(
                f"/v1/portals/ha-noi/articles/{article['id']}/transitions",
                json={"action": "publish"},
                headers=hanoi.headers("approver"),
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "published"

    subscriber = HttpSubscriber("media", "http://media/internal/events", client=media)
    delivered = await OutboxRelay(db, OUTBOX, [subscriber]).run_once()
    assert delivered >= 1
    async with Database.bound_to(media_connection).transaction() as session:
        usage = await session.get(UsageItem, article["id"])
    assert usage is not None  # the event reached media, naming ha-noi and the link
    assert usage.portal_id == "ha-noi"
    assert usage.published is True

    for url in (f"/v1/media/{asset['id']}", asset["url"], asset["renditions"]["large"]):
        assert_problem(await media.get(url), 404)
    own = await media.get(asset["url"], headers=phuyen_admin.headers)
    assert own.headers["cache-control"] == "private, no-cache"
    r = await media.delete(f"/v1/media/{asset['id']}", headers=phuyen_admin.headers)
    assert r.status_code == 204, r.text


@pytest.mark.parametrize(
    ("html", "ids"),
    [
        ('<img src="/v1/media/a1/file">', ["a1"]),
        ('<a href="https://cong.gov.vn/v1/media/a1/renditions/large?v=2">x</a>', ["a1"]),
        ('<video poster="//cdn.example/v1/media/a1/poster" src="/v1/media/a2/file">', ["a1", "a2"]),
        ('<img src="/v1/%6Dedia/a1/file">', ["a1"]),
        ('<img src="/tin-tuc/../v1/media/a1/file">', ["a1"]),
        ('<img src="/v1\\media\\a1\\file">', ["a1"]),
        ('<img src="&#x2F;v1&#x2F;media&#x2F;a1">', ["a1"]),
        ('<a href="/v1/media/a1">1</a><a href="/v1/media/a1/file">2</a>', ["a1"]),
        ('<a href="/v1/media?portal=phu-yen">thư viện</a> /v1/media/a1 in text', []),
        ('<a href="mailto:a@b.vn">thư</a><img src="/v1/mediax/a1">', []),
    ],
)
def test_media_links_are_found_however_they_are_spelled(html, ids):
    assert media_links(html) == ids
