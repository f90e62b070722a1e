"""A portal id in an analytics path is checked before any use (it goes into the URL of a
request to content): what cannot be a portal id is a 404, never a 500 or a forged query."""

from __future__ import annotations

import pytest
from factories import make_user
from raw_http import asgi_request

# As the attacker sent them (`curl --path-as-is`); the first three are the reported ones.
ATTACKS = [
    "%19x",  # a control character: httpx refused the internal URL, 500
    ".",  # a dot segment: /v1/portals/. is not a portal, 500
    "phu-yen%3Fx=1",  # ?x=1 reached content as a query string: 200 with phu-yen's figures
    "..",
    "phu-yen%3F",
    "phu-yen%23x",
    "phu-yen%20",
    "phu-yen%0A",
    "PHU-YEN",
    "phu--yen",
    "p",
    "x" * 65,
    "ph%C3%BA-y%C3%AAn",
]
ROUTES = ["stats", "top?dimension=page", "realtime", "bots"]


class TestPortalIdInThePath:
    @pytest.mark.parametrize("portal", ATTACKS)
    async def test_public_counter_is_404(self, analytics, portal):
        r = await asgi_request(analytics.app, f"/v1/analytics/portals/{portal}/counter")
        assert r.status == 404, r.body
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"].endswith("/not-found")
        assert "2-64" in problem["detail"]

    @pytest.mark.parametrize("portal", ATTACKS[:3])
    @pytest.mark.parametrize("route", ROUTES)
    async def test_reports_are_404(self, analytics, content_app, db, portal, route):
        superadmin = await make_user(content_app, db, superadmin=True)
        r = await asgi_request(
            analytics.app, f"/v1/analytics/portals/{portal}/{route}", headers=superadmin.headers
        )
        assert r.status == 404, r.body
        assert r.json()["type"].endswith("/not-found")

    async def test_nul_is_still_400(self, analytics):
        r = await asgi_request(analytics.app, "/v1/analytics/portals/phu%00yen/counter")
        assert r.status == 400

    async def test_a_real_portal_still_answers(self, analytics):
        r = await asgi_request(analytics.app, "/v1/analytics/portals/phu-yen/counter")
        assert r.status == 200, r.body
        assert r.json()["portal"] == "phu-yen"

    async def test_a_valid_but_unknown_portal_is_still_asked_and_404(self, analytics):
        r = await asgi_request(analytics.app, "/v1/analytics/portals/khong-co/counter")
        assert r.status == 404
        assert r.json()["type"].endswith("/portal-not-found")
