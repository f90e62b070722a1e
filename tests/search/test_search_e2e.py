"""End to end: publish through the content API, find it through /v1/search, unpublish it.

Content (on PostgreSQL) and search (embedded index) run in one embedded gateway; content's
outbox relay delivers to the search service over the same HTTP contract as in production.
"""

from __future__ import annotations

import httpx
import pytest
from factories import good_article, make_category, make_portal, make_user

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.common.outbox import HttpSubscriber, OutboxRelay
from services.content.app import create_app as create_content
from services.content.models import OUTBOX
from services.search.app import create_app as create_search
from services.search.backends.embedded import EmbeddedBackend
from services.search.settings import SearchSettings

pytestmark = pytest.mark.postgres


async def test_publish_find_unpublish(content_settings, db, tmp_path):
    search = create_search(
        SearchSettings(data_dir=tmp_path), backend=EmbeddedBackend(tmp_path / "search")
    )
    to_search = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=search), base_url="http://search.internal"
    )
    subscriber = HttpSubscriber(
        "search", "http://search.internal/internal/events", client=to_search
    )
    content = create_content(content_settings, database=db, subscribers=[subscriber])
    relay = OutboxRelay(db, OUTBOX, [subscriber])
    gateway = create_gateway(GatewaySettings(), services={"content": content, "search": search})
    async with (
        gateway.router.lifespan_context(gateway.own),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://gw"
        ) as client,
    ):
        await make_portal(db, "phu-yen")
        category = await make_category(db, "phu-yen")
        people = {
            role: await make_user(content, db, roles={"phu-yen": role})
            for role in ("contributor", "editor", "approver")
        }
        article = good_article(
            category.id, title="Bảo hiểm thất nghiệp: hỗ trợ người lao động mất việc"
        )
        r = await client.post(
            "/v1/portals/phu-yen/articles", json=article, headers=people["contributor"].headers
        )
        url = f"/v1/portals/phu-yen/articles/{r.json()['id']}/transitions"
        for action, who in (
            ("submit", "contributor"),
            ("forward", "editor"),
            ("publish", "approver"),
        ):
            r = await client.post(url, json={"action": action}, headers=people[who].headers)
            assert r.status_code == 200, r.text
        assert await relay.run_once() >= 1

        found = (await client.get("/v1/search", params={"q": "bao hiem that nghiep"})).json()
        assert [h["title"] for h in found["hits"]] == [article["title"]]
        assert found["hits"][0]["portal"] == "phu-yen"

        r = await client.post(
            url,
            json={"action": "unpublish", "comment": "Sai số liệu"},
            headers=people["approver"].headers,
        )
        assert r.status_code == 200
        assert await relay.run_once() == 1
        gone = (await client.get("/v1/search", params={"q": "bao hiem that nghiep"})).json()
        assert gone["total"] == 0
    await to_search.aclose()
