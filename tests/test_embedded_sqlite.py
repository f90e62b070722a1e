"""The embedded path a newcomer takes: `portal migrate`, the demo seed, SQLite, no server.

The data directory is migrated by the real CLI command, seeded with `seed_demo`, and the
content service is built over it with nothing but `ContentSettings(data_dir=…)`.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import good_article
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cli import cli
from services.common.db import Database
from services.common.outbox import HttpSubscriber, OutboxRelay
from services.content.app import create_app
from services.content.demo.seed import ARTICLES, DOCUMENTS, seed_demo
from services.content.models import OUTBOX, AuditEntry, Category, Item, User
from services.content.scheduler import run_due
from services.content.settings import ContentSettings

ADMIN_PASSWORD = "quan-tri-thu-nghiem-2024"
DEMO_PASSWORD = "bien-tap-mau-2024"
PORTAL_IDS = {"trung-uong", "ha-noi", "tp-ho-chi-minh", "phu-yen", "da-nang", "can-tho"}
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("var")
    result = CliRunner().invoke(cli, ["migrate", "--data-dir", str(path)])
    assert result.exit_code == 0, result.output
    assert (path / "content.db").is_file()
    return path


def database(data_dir: Path) -> Database:
    return Database.from_url(ContentSettings(data_dir=data_dir).resolved_database_url())


@pytest.fixture(scope="module")
async def seed_output(data_dir) -> str:
    db = database(data_dir)
    out = io.StringIO()
    try:
        created = await seed_demo(
            db,
            console=Console(file=out, width=200),
            admin_password=ADMIN_PASSWORD,
            demo_password=DEMO_PASSWORD,
        )
    finally:
        await db.dispose()
    assert created is True
    return out.getvalue()


@pytest.fixture(scope="module")
async def app(data_dir, seed_output) -> AsyncIterator[FastAPI]:
    application = create_app(ContentSettings(data_dir=data_dir))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        yield http


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def times_in(value: Any) -> list[str]:
    """Every ISO 8601 date-time string anywhere in a JSON document."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in times_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in times_in(v)]
    return [value] if isinstance(value, str) and ISO_TIME.match(value) else []


async def count(data_dir: Path, model: Any) -> int:
    db = database(data_dir)
    try:
        async with db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await db.dispose()


class TestSeed:
    def test_reports_the_accounts(self, seed_output):
        assert f"admin / {ADMIN_PASSWORD} (from PORTAL_ADMIN_PASSWORD)" in seed_output
        assert DEMO_PASSWORD in seed_output

    async def test_a_second_run_creates_nothing(self, data_dir, seed_output):
        before = [await count(data_dir, m) for m in (User, Item, AuditEntry, OUTBOX.events)]
        db = database(data_dir)
        out = io.StringIO()
        try:
            created = await seed_demo(
                db, console=Console(file=out), admin_password="another-password-1"
            )
        finally:
            await db.dispose()
        assert created is False
        assert "already there" in out.getvalue()
        after = [await count(data_dir, m) for m in (User, Item, AuditEntry, OUTBOX.events)]
        assert after == before


class TestServesTheDemo:
    async def test_six_portals(self, client):
        r = await client.get("/v1/portals")
        assert r.status_code == 200
        portals = {p["id"]: p for p in r.json()["items"]}
        assert set(portals) == PORTAL_IDS
        assert portals["phu-yen"]["name"] == "Bảo hiểm xã hội tỉnh Phú Yên"
        assert portals["trung-uong"]["kind"] == "central"

    async def test_published_articles_with_vietnamese_titles(self, client):
        r = await client.get("/v1/portals/trung-uong/articles")
        assert r.status_code == 200
        items = r.json()["items"]
        assert {a["title"] for a in items} == {a.title for a in ARTICLES}
        assert all(a["status"] == "published" and a["is_live"] for a in items)
        assert [a["published_at"] for a in items] == sorted(
            (a["published_at"] for a in items), reverse=True
        )
        oldest = min(items, key=lambda a: a["published_at"])
        assert datetime.fromisoformat(oldest["published_at"]) == ARTICLES[0].published
        assert oldest["title"].startswith("Triển khai công tác thông tin, truyền thông")

        r = await client.get(f"/v1/portals/trung-uong/articles/by-slug/{oldest['slug']}")
        assert r.status_code == 200
        article = r.json()
        assert article["body"].startswith("<p>")
        assert article["category"]["slug"] == "truyen-thong"
        assert article["author"] == "Lâm Thảo"

    async def test_each_province_shows_its_own_articles(self, client):
        r = await client.get("/v1/portals/phu-yen/articles")
        assert [a["title"] for a in r.json()["items"]] == [ARTICLES[0].title]
        r = await client.get("/v1/portals/can-tho/articles")
        assert [a["title"] for a in r.json()["items"]] == [ARTICLES[3].title]

    async def test_legal_documents(self, client):
        r = await client.get("/v1/portals/trung-uong/documents")
        assert r.status_code == 200
        assert {d["number"] for d in r.json()["items"]} == {d["number"] for d in DOCUMENTS}
        r = await client.get("/v1/portals/trung-uong/documents", params={"number": "3216/BHXH-TT"})
        [document] = r.json()["items"]
        assert document["doc_type"] == "Công văn"
        assert document["signer"] == "Đào Việt Ánh"
        assert document["issued_on"] == "2023-10-05"
        full = (await client.get(f"/v1/portals/trung-uong/documents/{document['id']}")).json()
        assert "truyền thông" in full["body"]

    async def test_pages(self, client):
        r = await client.get("/v1/portals/phu-yen/pages")
        assert [p["title"] for p in r.json()["items"]] == ["Liên hệ"]

    async def test_admin_signs_in(self, client):
        headers = await sign_in(client, "admin", ADMIN_PASSWORD)
        me = (await client.get("/v1/me", headers=headers)).json()
        assert me["username"] == "admin"
        assert me["is_superadmin"] is True
        r = await client.post(
            "/v1/auth/token", json={"username": "admin", "password": "not-the-password"}
        )
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"

    async def test_demo_newsroom_has_drafts_waiting(self, client):
        headers = await sign_in(client, "tw.editor", DEMO_PASSWORD)
        r = await client.get(
            "/v1/portals/trung-uong/articles", params={"status": "draft"}, headers=headers
        )
        assert r.status_code == 200
        [draft] = r.json()["items"]
        assert draft["title"].startswith("[Bản nháp mẫu]")
        public = await client.get(f"/v1/portals/trung-uong/articles/{draft['id']}")
        assert public.status_code == 404

    async def test_times_are_utc_with_their_zone(self, client):
        headers = await sign_in(client, "admin", ADMIN_PASSWORD)
        docs = [
            (await client.get("/v1/portals/trung-uong/articles")).json(),
            (await client.get("/v1/portals/trung-uong/documents")).json(),
            (await client.get("/v1/me", headers=headers)).json(),
        ]
        article_id = docs[0]["items"][0]["id"]
        docs.append(
            (
                await client.get(
                    f"/v1/portals/trung-uong/articles/{article_id}/history", headers=headers
                )
            ).json()
        )
        times = [t for doc in docs for t in times_in(doc)]
        assert len(times) > 10
        for value in times:
            assert value.endswith(("Z", "+00:00")), value
            assert datetime.fromisoformat(value).utcoffset() == timedelta(0)

    async def test_bad_input_is_a_problem_not_a_crash(self, client):
        for url in (
            "/v1/portals/trung-uong/articles?cursor=%%%",
            "/v1/portals/trung-uong/articles?limit=100000",
            "/v1/portals/trung-uong/articles?from=hôm-qua",
            "/v1/portals/khong-ton-tai/articles/abc",
        ):
            r = await client.get(url)
            assert 400 <= r.status_code < 500, (url, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
        r = await client.get("/v1/portals/trung-uong/articles?from=2020-01-01")
        assert r.status_code == 200
        assert {a["title"] for a in r.json()["items"]} == {ARTICLES[2].title, ARTICLES[3].title}


class TestOutboxAndScheduleOnSqlite:
    """These write to the demo database, so they run after the reads above."""

    async def test_the_relay_delivers_the_demo_events(self, data_dir, seed_output):
        received: list[dict[str, Any]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            received.append(httpx.Response(200, content=request.content).json())
            return httpx.Response(204)

        db = database(data_dir)
        try:
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
                subscriber = HttpSubscriber("search", "http://search.test/events", client=http)
                relay = OutboxRelay(db, OUTBOX, [subscriber], batch_size=10)
                total = 0
                while delivered := await relay.run_once():
                    total += delivered
                assert await relay.run_once() == 0
        finally:
            await db.dispose()
        assert total == len(received) == await count(data_dir, OUTBOX.events)
        assert [e["id"] for e in received] == sorted(e["id"] for e in received)
        assert {e["topic"] for e in received} >= {
            "article.published",
            "document.published",
            "page.published",
        }
        titles = {e["payload"]["title"] for e in received if e["topic"] == "article.published"}
        assert titles >= {a.title for a in ARTICLES}
        by_number = [e for e in received if e["payload"].get("number") == "3216/BHXH-TT"]
        assert by_number[0]["payload"]["portal"] == "trung-uong"

    async def test_a_scheduled_article_goes_live_and_down(self, client, data_dir):
        headers = {
            role: await sign_in(client, f"phuyen.{role}", DEMO_PASSWORD)
            for role in ("contributor", "editor", "approver")
        }
        db = database(data_dir)
        try:
            async with db.transaction() as session:
                category_id = await session.scalar(
                    select(Category.id).where(
                        Category.portal_id == "phu-yen", Category.slug == "tin-dia-phuong"
                    )
                )
            base = "/v1/portals/phu-yen/articles"
            r = await client.post(
                base,
                json=good_article(category_id, title="Hẹn giờ đăng trên SQLite nhúng"),
                headers=headers["contributor"],
            )
            assert r.status_code == 201, r.text
            url = f"{base}/{r.json()['id']}"
            for action, who in (("submit", "contributor"), ("forward", "editor")):
                r = await client.post(
                    url + "/transitions", json={"action": action}, headers=headers[who]
                )
                assert r.status_code == 200, r.text
            publish_at = datetime.now(UTC) + timedelta(hours=1)
            r = await client.post(
                url + "/transitions",
                json={
                    "action": "schedule",
                    "publish_at": publish_at.isoformat(),
                    "unpublish_at": (publish_at + timedelta(hours=1)).isoformat(),
                },
                headers=headers["approver"],
            )
            assert r.status_code == 200, r.text
            assert (await client.get(url)).status_code == 404

            assert await run_due(db, now=publish_at + timedelta(seconds=1)) == 1
            r = await client.get(url)
            assert r.status_code == 200
            assert r.json()["published_at"].endswith("Z")

            assert await run_due(db, now=publish_at + timedelta(hours=2)) == 1
            assert await run_due(db, now=publish_at + timedelta(hours=3)) == 0
            r = await client.get(url, headers=headers["editor"])
            assert r.json()["status"] == "unpublished"
            r = await client.get(url + "/history", headers=headers["editor"])
            assert [h["action"] for h in r.json()["items"]][-2:] == ["publish", "unpublish"]
        finally:
            await db.dispose()


class TestCli:
    def test_portal_seed_in_a_fresh_data_dir(self, tmp_path):
        portal = Path(sys.executable).parent / "portal"
        env = {**os.environ, "PORTAL_ADMIN_PASSWORD": ADMIN_PASSWORD, "COLUMNS": "200"}
        env.pop("PORTAL_DEMO_PASSWORD", None)
        env.pop("CONTENT_DATABASE_URL", None)

        done = subprocess.run(
            [str(portal), "seed", "--data-dir", str(tmp_path / "var")],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

        assert done.returncode == 0, done.stderr
        output = done.stdout + done.stderr
        assert "Migrations are up to date" in output
        assert f"admin / {ADMIN_PASSWORD} (from PORTAL_ADMIN_PASSWORD)" in output
        assert "Traceback" not in output
        assert (tmp_path / "var" / "content.db").is_file()


def test_serve_search_refuses_several_workers_on_the_embedded_index(monkeypatch):
    monkeypatch.delenv("SEARCH_BACKEND", raising=False)
    result = CliRunner().invoke(cli, ["serve", "search", "--workers", "2"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # however the console wrapped it
    assert "served by one process" in said
    assert "SEARCH_BACKEND=meilisearch" in said
