"""Analytics through the embedded gateway: the beacon, portals checked with content over
the in-process client, and the browser's address as the client address."""

from __future__ import annotations

import httpx
from factories import make_portal, make_user
from sqlalchemy import select

from gateway.embedded import _analytics_settings
from services.analytics.app import create_app as create_analytics_app
from services.analytics.models import daily


async def test_beacon_and_report_through_the_gateway(
    make_gateway, services, db, tmp_path, signing_key_pem
):
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "signing.pem").write_text(signing_key_pem)  # as content writes it
    to_content = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=services["content"]), base_url="http://content"
    )
    services["analytics"] = create_analytics_app(_analytics_settings(tmp_path), content=to_content)
    gateway = await make_gateway(services)
    await make_portal(db, "phu-yen")
    member = await make_user(services["content"], db, roles={"phu-yen": "editor"})
    page = {"portal": "phu-yen", "url": "https://bhxh.phuyen.gov.vn/"}
    ua = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36"}
    for ip in ("198.18.0.1", "198.18.0.2"):
        transport = httpx.ASGITransport(app=gateway, client=(ip, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            r = await http.post("/v1/analytics/events", json=page, headers=ua)
            assert r.status_code == 202, r.text
            r = await http.post(
                "/v1/analytics/events", json={**page, "portal": "khong-co"}, headers=ua
            )
            assert r.status_code == 422
    analytics = services["analytics"]
    await analytics.state.analytics.ingestor.drain()
    async with analytics.state.db.transaction() as session:
        row = (await session.execute(select(daily))).one()
    assert (row.pageviews, row.visitors) == (2, 2)  # two browsers, two addresses
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        r = await http.get("/v1/analytics/portals/phu-yen/stats", headers=member.headers)
    assert r.status_code == 200, r.text
    await to_content.aclose()


def test_portal_dev_trusts_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv("ANALYTICS_TRUSTED_PROXIES", raising=False)
    assert _analytics_settings(tmp_path).trusted_proxies == ["127.0.0.0/8", "::1/128"]
    monkeypatch.setenv("ANALYTICS_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    assert _analytics_settings(tmp_path).trusted_proxies == ["10.0.0.0/8"]
