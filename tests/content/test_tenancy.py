"""Tenancy: a member of one portal can neither read another portal's drafts nor change its
content, whatever their role there.

Every route under `/v1/portals/{portal}` is listed in a matrix below with what a caller
from another portal gets (reads of live content: 200; drafts: 404 whose body does not
echo the draft; changes to live content: 403). `test_every_portal_route_is_in_the_matrix`
fails when a route is added without being listed, so a new endpoint cannot skip the check.
Each case also runs for phu-yen's own admin, which proves the URL and body are right and
that the 404s and 403s come from the tenancy check, not from a typo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from factories import good_article, good_document, good_page, make_category, make_portal, make_user

from services.content.workflow import Status

pytestmark = pytest.mark.postgres

# Upper case, so it never hides in a slug; every draft and unpublished revision carries it.
MARKER = "SECRETPY"
PUBLIC_MARK = "CONGKHAI"
HA_NOI_ROLES = ["contributor", "editor", "head", "approver", "admin"]
CALLERS = [f"ha-noi:{role}" for role in HA_NOI_ROLES] + ["anonymous", "phu-yen:admin"]
KINDS = {"article": "articles", "document": "documents", "page": "pages"}


@dataclass
class World:
    category_id: str
    spare_category_id: str
    staff: dict[str, Any]  # phu-yen's own newsroom
    callers: dict[str, Any]  # name → TestUser (None for anonymous)

    def headers(self, caller: str) -> dict[str, str]:
        user = self.callers[caller]
        return {} if user is None else user.headers


@pytest.fixture
async def world(content_app, db) -> World:
    await make_portal(db, "phu-yen")
    await make_portal(db, "ha-noi")
    category = await make_category(db, "phu-yen", name="Tin tức")
    spare = await make_category(db, "phu-yen", name="Chuyên mục trống", slug="trong")
    await make_category(db, "ha-noi", name="Tin Hà Nội")
    staff = {
        role: await make_user(content_app, db, roles={"phu-yen": role})
        for role in ("contributor", "editor", "approver", "admin")
    }
    callers: dict[str, Any] = {
        f"ha-noi:{role}": await make_user(content_app, db, roles={"ha-noi": role})
        for role in HA_NOI_ROLES
    }
    callers["anonymous"] = None
    callers["phu-yen:admin"] = staff["admin"]
    return World(category.id, spare.id, staff, callers)


def draft_body(kind: str, world: World, marker: str = MARKER) -> dict[str, Any]:
    if kind == "article":
        return good_article(world.category_id, title=f"Bài nháp {marker} chưa được đăng")
    if kind == "document":
        return good_document(number="77/BHXH-NHAP", summary=f"Trích yếu {marker} chưa ban hành")
    return good_page(title=f"Trang nháp {marker} chưa công bố")


def edit_body(kind: str, marker: str = MARKER) -> dict[str, Any]:
    if kind == "document":
        return {"summary": f"Trích yếu sửa {marker} chưa duyệt"}
    return {"title": f"Tiêu đề sửa {marker} chưa duyệt"}


def public_body(kind: str, world: World) -> dict[str, Any]:
    if kind == "article":
        return good_article(world.category_id, title=f"Bài {PUBLIC_MARK} đã đăng trên cổng")
    if kind == "document":
        return good_document(summary=f"Trích yếu {PUBLIC_MARK} đã ban hành")
    return good_page(title=f"Trang {PUBLIC_MARK} đã công bố")


async def make_item(client, world: World, kind: str, state: str) -> dict[str, Any]:
    """A draft with the marker, or a live item whose pending revision 2 has the marker."""
    base = f"/v1/portals/phu-yen/{KINDS[kind]}"
    staff = world.staff
    body = draft_body(kind, world) if state == "draft" else public_body(kind, world)
    r = await client.post(base, json=body, headers=staff["contributor"].headers)
    assert r.status_code == 201, r.text
    item = r.json()
    if state == "draft":
        return item
    url = f"{base}/{item['id']}"
    for action, who in (("submit", "contributor"), ("forward", "editor"), ("publish", "approver")):
        r = await client.post(
            f"{url}/transitions", json={"action": action}, headers=staff[who].headers
        )
        assert r.status_code == 200, r.text
    r = await client.patch(url, json=edit_body(kind), headers=staff["editor"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 2
    assert r.json()["is_live"] is True
    return r.json()


@dataclass(frozen=True)
class Route:
    """One route of the matrix: how to call it and what kind of access it is."""

    method: str
    template: str  # relative to /v1/portals/{portal}/<plural> for item routes
    access: str  # "read" (public for live), "staff" (members only) or "write"
    query: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}{self.query}"


ITEM_ROUTES = [
    Route("GET", "/{item_id}", "read"),
    Route("GET", "/by-slug/{slug}", "read"),
    Route("PATCH", "/{item_id}", "write"),
    Route("POST", "/{item_id}/transitions", "write"),
    Route("GET", "/{item_id}/revisions", "staff"),
    Route("GET", "/{item_id}/revisions/compare", "staff", "?from=1&to=1"),
    Route("POST", "/{item_id}/revisions/{number}/restore", "write"),
    Route("GET", "/{item_id}/history", "staff"),
]
COLLECTION_ROUTES = [
    Route("GET", "", "list"),
    Route("GET", "", "queue", "?status=draft"),
    Route("POST", "", "create"),
]
PORTAL_ROUTES = [
    Route("GET", "/v1/portals/{portal}", "public"),
    Route("PATCH", "/v1/portals/{portal}", "admin"),
    Route("GET", "/v1/portals/{portal}/categories", "public"),
    Route("POST", "/v1/portals/{portal}/categories", "admin"),
    Route("PATCH", "/v1/portals/{portal}/categories/{category_id}", "admin"),
    Route("DELETE", "/v1/portals/{portal}/categories/{category_id}", "admin"),
    Route("GET", "/v1/portals/{portal}/members", "members"),
    Route("PUT", "/v1/portals/{portal}/members/{user_id}", "admin"),
    Route("DELETE", "/v1/portals/{portal}/members/{user_id}", "admin"),
]


def test_every_portal_route_is_in_the_matrix(content_app):
    """A route under /v1/portals/{portal} that the matrix below does not list fails here."""
    # The OpenAPI document lists every route, however deeply its router was included.
    served = {
        (method.upper(), path)
        for path, operations in content_app.openapi()["paths"].items()
        if path.startswith("/v1/portals/{portal}")
        for method in operations
    }
    assert len(served) > 20, "the route listing is broken, not the tenancy"
    covered = {(r.method, r.template) for r in PORTAL_ROUTES}
    for plural in KINDS.values():
        prefix = f"/v1/portals/{{portal}}/{plural}"
        covered |= {(r.method, prefix + r.template) for r in ITEM_ROUTES + COLLECTION_ROUTES}
    assert served - covered == set(), "add these routes to the tenancy matrix"
    assert covered - served == set(), "the matrix lists routes that no longer exist"


def expected_status(route: Route, state: str, caller: str) -> int:
    if caller == "phu-yen:admin":  # the control: phu-yen's own admin may do all of it
        return 200
    if route.access == "read":
        return 200 if state == "live" else 404
    if route.access == "staff":
        return 404
    if caller == "anonymous":
        return 401
    return 403 if state == "live" else 404


def request_body(route: Route, kind: str, state: str) -> dict[str, Any] | None:
    if route.method == "PATCH":
        return edit_body(kind, marker="TAMPERED")
    if route.template.endswith("/transitions"):
        if state == "live":
            return {"action": "unpublish", "comment": "Gỡ bởi cổng khác"}
        return {"action": "submit"}
    return None


async def staff_view(client, world: World, url: str) -> dict[str, Any]:
    r = await client.get(url, headers=world.staff["editor"].headers)
    assert r.status_code == 200, r.text
    item = r.json()
    return {k: item[k] for k in ("revision", "status", "is_live", "live_revision", "updated_at")}


@pytest.mark.parametrize("state", ["draft", "live"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("route", ITEM_ROUTES, ids=lambda r: r.id)
async def test_item_routes(client, world, route, kind, state):
    item = await make_item(client, world, kind, state)
    base = f"/v1/portals/phu-yen/{KINDS[kind]}"
    item_url = f"{base}/{item['id']}"
    path = route.template.format(item_id=item["id"], slug=item["slug"], number=1)
    url = base + path + route.query
    before = await staff_view(client, world, item_url)
    for caller in CALLERS:  # the control, phu-yen's admin, comes last: it changes things
        r = await client.request(
            route.method, url, json=request_body(route, kind, state), headers=world.headers(caller)
        )
        expected = expected_status(route, state, caller)
        assert r.status_code == expected, f"{caller}: {r.text}"
        if caller == "phu-yen:admin":
            continue
        assert r.headers["content-type"] == (
            "application/json" if expected == 200 else "application/problem+json"
        ), caller
        assert MARKER not in r.text, f"{caller}: a draft revision leaked to another portal"
        assert "TAMPERED" not in r.text, caller
        if expected == 200:
            assert PUBLIC_MARK in r.text, f"{caller}: the public sees the live revision"
            assert r.json()["revision"] == 1, caller
            assert r.json().get("allowed_actions") is None, caller
        assert await staff_view(client, world, item_url) == before, f"{caller} changed it"


@pytest.mark.parametrize("kind", list(KINDS))
async def test_create_in_another_portal_is_refused(client, world, kind):
    base = f"/v1/portals/phu-yen/{KINDS[kind]}"
    for caller in CALLERS:
        r = await client.post(base, json=draft_body(kind, world), headers=world.headers(caller))
        expected = {"phu-yen:admin": 201, "anonymous": 401}.get(caller, 403)
        assert r.status_code == expected, f"{caller}: {r.text}"
        if caller == "phu-yen:admin":
            continue
        assert r.headers["content-type"] == "application/problem+json", caller
        queue = await client.get(f"{base}?status=draft", headers=world.staff["editor"].headers)
        assert queue.json()["items"] == [], f"{caller} created a draft"


@pytest.mark.parametrize("kind", list(KINDS))
async def test_lists_show_no_drafts_and_queues_are_members_only(client, world, kind):
    draft = await make_item(client, world, kind, "draft")
    await make_item(client, world, kind, "live")
    base = f"/v1/portals/phu-yen/{KINDS[kind]}"
    for caller in CALLERS:
        headers = world.headers(caller)
        r = await client.get(base, headers=headers)
        assert r.status_code == 200, caller
        assert [i["revision"] for i in r.json()["items"]] == [1], caller
        assert MARKER not in r.text, f"{caller}: public lists show live revisions only"
        for status in Status:
            r = await client.get(f"{base}?status={status.value}", headers=headers)
            if caller == "phu-yen:admin":
                assert r.status_code == 200, r.text
                continue
            assert r.status_code == 404, f"{caller} {status}: {r.text}"
            assert r.headers["content-type"] == "application/problem+json"
            assert MARKER not in r.text
            assert draft["id"] not in r.text


async def test_public_lists_never_show_drafts_of_any_portal(client, world):
    hanoi_contributor = world.callers["ha-noi:contributor"]
    hanoi_category = (await client.get("/v1/portals/ha-noi/categories")).json()["items"][0]["id"]
    r = await client.post(
        "/v1/portals/ha-noi/articles",
        json=good_article(hanoi_category, title="Bài nháp HANOIDRAFT của Hà Nội"),
        headers=hanoi_contributor.headers,
    )
    assert r.status_code == 201, r.text
    for kind in KINDS:
        await make_item(client, world, kind, "draft")
        await make_item(client, world, kind, "live")
    viewers = [world.callers[c] for c in CALLERS if c != "phu-yen:admin"]
    viewers += [world.staff["editor"]]
    for viewer in viewers:
        headers = {} if viewer is None else viewer.headers
        for portal in ("phu-yen", "ha-noi"):
            for plural in KINDS.values():
                r = await client.get(f"/v1/portals/{portal}/{plural}", headers=headers)
                assert r.status_code == 200
                assert MARKER not in r.text
                assert "HANOIDRAFT" not in r.text, "even a portal's own members see no drafts"


async def portal_snapshot(client, world: World) -> dict[str, Any]:
    """Everything the portal routes could change, as phu-yen's admin sees it."""
    headers = world.staff["admin"].headers
    portal = (await client.get("/v1/portals/phu-yen", headers=headers)).json()
    categories = (await client.get("/v1/portals/phu-yen/categories", headers=headers)).json()
    members = (await client.get("/v1/portals/phu-yen/members", headers=headers)).json()
    return {"portal": portal, "categories": categories, "members": members}


PORTAL_EXPECTED = {
    "public": {"anonymous": 200, "other": 200, "phu-yen:admin": 200},
    "members": {"anonymous": 401, "other": 403, "phu-yen:admin": 200},
    "admin": {"anonymous": 401, "other": 403, "phu-yen:admin": 200},
}


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=lambda r: r.id)
async def test_portal_routes(client, world, route):
    bodies = {
        ("PATCH", "/v1/portals/{portal}"): {"name": "TAMPERED"},
        ("POST", "/v1/portals/{portal}/categories"): {"name": "TAMPERED"},
        ("PATCH", "/v1/portals/{portal}/categories/{category_id}"): {"name": "TAMPERED"},
        ("PUT", "/v1/portals/{portal}/members/{user_id}"): {"role": "admin"},
    }
    before = await portal_snapshot(client, world)
    for caller in CALLERS:  # the control, phu-yen's admin, comes last: it changes things
        caller_user = world.callers[caller]
        target = world.staff["editor"].id
        if route.method == "PUT" and caller_user is not None:
            target = caller_user.id  # another portal's member tries to make itself admin
        url = route.template.format(
            portal="phu-yen", category_id=world.spare_category_id, user_id=target
        )
        r = await client.request(
            route.method,
            url,
            json=bodies.get((route.method, route.template)),
            headers=world.headers(caller),
        )
        who = caller if caller in {"anonymous", "phu-yen:admin"} else "other"
        expected = PORTAL_EXPECTED[route.access][who]
        if expected == 200 and route.method in {"POST", "DELETE"}:
            expected = {"POST": 201, "DELETE": 204}[route.method]
        assert r.status_code == expected, f"{caller}: {r.text}"
        if caller == "phu-yen:admin":
            continue
        if expected >= 400:
            assert r.headers["content-type"] == "application/problem+json", caller
            assert world.staff["contributor"].username not in r.text, "members must not leak"
        assert await portal_snapshot(client, world) == before, f"{caller} changed it"
