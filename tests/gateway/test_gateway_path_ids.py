"""Path parameters are checked before any use, in every service, through the gateway.

The reported attack: the portal id of an analytics path went unescaped into the URL of
analytics' request to content. `%19x` and `.` gave 500, `phu-yen%3Fx=1` gave 200 with a
query string of the attacker's making. Sent here as `curl --path-as-is` sends them: to a
real uvicorn over a socket, and as raw ASGI scopes to every route of every service, the
matrix generated from the route table (a new route with an id in its path is covered).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from factories import make_portal, make_user
from raw_http import asgi_request, socket_request

from gateway.embedded import _analytics_settings
from services.analytics.app import create_app as create_analytics_app

REPORTED = ["%19x", ".", "phu-yen%3Fx=1"]
MORE = ["..", "phu-yen%3F", "phu-yen%23", "phu-yen%20", "PHU-YEN", "x" * 65, "%E2%80%AE"]
# A value every id parameter accepts (the matrix puts the attack in one parameter at a time).
VALID = {
    "portal": "phu-yen",
    "item_id": "0" * 32,
    "category_id": "0" * 32,
    "user_id": "0" * 32,
    "media_id": "0" * 32,
    "slug": "khong-co",
    "number": "1",
    "name": "thumb",
}
NOT_CHECKED_AS_IDS = {"number", "name"}  # an integer (422 when not), a fixed list (404)


@pytest.fixture
async def wired(make_gateway, services, db, tmp_path, signing_key_pem) -> AsyncIterator:
    """The embedded gateway with analytics asking content over the in-process client."""
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "signing.pem").write_text(signing_key_pem)
    to_content = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=services["content"]), base_url="http://content"
    )
    services["analytics"] = create_analytics_app(_analytics_settings(tmp_path), content=to_content)
    gateway = await make_gateway(services)
    await make_portal(db, "phu-yen")
    yield gateway
    await to_content.aclose()


@pytest.fixture
async def served(wired) -> AsyncIterator[int]:
    """The gateway under a real uvicorn (in this event loop); yields its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        wired, lifespan="off", log_config=None, access_log=False, ws="none", loop="asyncio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await task
    sock.close()


async def test_the_reported_raw_paths_to_a_real_server_are_404(served):
    """One server for every case (starting the four services is the slow part)."""
    for portal in REPORTED + MORE:
        r = await socket_request(served, f"/v1/analytics/portals/{portal}/counter")
        assert r.status == 404, (portal, r.body)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/not-found")
        assert b"total_visits" not in r.body
    r = await socket_request(served, "/v1/analytics/portals/phu-yen/counter")
    assert r.status == 200, r.body
    assert r.json()["portal"] == "phu-yen"


def _routes(services) -> list[tuple[str, str, str]]:
    """(service, method, path template) of every routed operation with a path parameter."""
    found = []
    for name, app in services.items():
        for path, operations in app.openapi()["paths"].items():
            if "{" not in path:
                continue
            for method in operations:
                found.append((name, method.upper(), path))
    return found


async def test_every_id_in_every_path_is_checked(wired, services, content_app, db):
    superadmin = await make_user(services["content"], db, superadmin=True)
    routes = _routes(services)
    assert {service for service, _, _ in routes} >= {"content", "media", "analytics"}
    failures = []
    checked = 0
    for service, method, template in routes:
        params = [part[1:-1] for part in template.split("/") if part.startswith("{")]
        for param in params:
            if param in NOT_CHECKED_AS_IDS:
                continue
            assert param in VALID, f"{template}: give the matrix a valid {param}"
            for attack in REPORTED:
                path = template
                for other in params:
                    path = path.replace(f"{{{other}}}", attack if other == param else VALID[other])
                r = await asgi_request(
                    wired,
                    path,
                    method=method,
                    headers={**superadmin.headers, "content-type": "application/json"},
                    body=b"{}" if method in {"POST", "PUT", "PATCH"} else b"",
                )
                checked += 1
                is_problem = r.headers.get("content-type") == "application/problem+json"
                if r.status != 404 or not is_problem or not r.json()["type"].endswith("/not-found"):
                    failures.append((service, method, path, r.status, r.body[:200]))
    assert failures == []
    assert checked > 50
