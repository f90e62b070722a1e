"""Media inside the embedded platform (`portal dev`): migrated by the CLI, reached through
the gateway, and told by content's outbox which assets a published article uses."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from factories import good_article
from media_samples import image
from rich.console import Console
from typer.testing import CliRunner

from gateway.cli import cli
from gateway.embedded import embedded_gateway
from services.common.db import Database
from services.content.demo.seed import seed_demo
from services.content.settings import ContentSettings

ADMIN_PASSWORD = "quan-tri-media-2026"


@pytest.fixture
async def gateway(tmp_path):
    result = CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "media.db").is_file()
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
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as http:
            yield http


async def test_published_article_makes_its_image_public_and_undeletable(gateway):
    token = (
        await gateway.post("/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = await gateway.post(
        "/v1/media",
        data={"portal": "phu-yen", "alt": "Trụ sở BHXH Phú Yên"},
        files={"file": ("Trụ sở.jpg", image("JPEG", (800, 600)), "image/jpeg")},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    media = r.json()
    assert (await gateway.get(f"/v1/media/{media['id']}")).status_code == 404  # a draft's

    categories = (await gateway.get("/v1/portals/phu-yen/categories")).json()["items"]
    article = good_article(categories[0]["id"], featured_media_id=media["id"])
    created = await gateway.post("/v1/portals/phu-yen/articles", json=article, headers=auth)
    assert created.status_code == 201, created.text
    url = f"/v1/portals/phu-yen/articles/{created.json()['id']}"
    for _ in range(6):
        current = (await gateway.get(url, headers=auth)).json()
        if current["status"] == "published":
            break
        actions = current["allowed_actions"]
        action = next(a for a in ("publish", "approve", "forward", "submit") if a in actions)
        moved = await gateway.post(f"{url}/transitions", json={"action": action}, headers=auth)
        assert moved.status_code == 200, moved.text
    assert current["status"] == "published"

    for _ in range(100):  # content's relay delivers within about a second
        meta = await gateway.get(f"/v1/media/{media['id']}")
        if meta.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert meta.json()["public"] is True
    rendition = await gateway.get(meta.json()["renditions"]["medium"])
    assert rendition.headers["cache-control"] == "public, max-age=31536000, immutable"
    refused = await gateway.delete(f"/v1/media/{media['id']}", headers=auth)
    assert refused.status_code == 409
