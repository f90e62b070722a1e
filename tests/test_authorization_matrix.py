"""The authorization matrix of the whole platform, generated from the route tables.

Every route of every service (content, media, analytics, search) has one row below with
what each kind of caller gets; `test_every_route_has_a_row` fails when a route is added
without one (or a row outlives its route), so no endpoint can skip the check. Routes that
are not the public API are listed in `NOT_IN_THE_MATRIX`, each with the reason.

The callers, one column each:
    anon      no token
    other     an editor of another portal (ha-noi)
    contr … admin   each role of the portal the request is about (phu-yen)
    super     a superadmin
    removed   an editor of phu-yen removed through content's API; their token still says
              "editor" (and every service had cached that), yet every service refuses them

The four services run in-process as `portal dev` wires them (tests/world.py), content on
PostgreSQL, one world for the module. A request that changes something either leaves the
world as it found it or acts on a target made for that one case, so the cases are
independent of their order.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from databases import rolled_back
from factories import (
    PASSWORD,
    good_article,
    good_document,
    good_page,
    make_category,
    make_portal,
    make_user,
)
from fastapi import FastAPI
from PIL import Image
from world import Platform, running_platform

from services.common.db import Database

pytestmark = pytest.mark.postgres

CALLERS = ("anon", "other", "contr", "editor", "head", "approver", "admin", "super", "removed")
ROLES = ("contributor", "editor", "head", "approver", "admin")
KINDS = {"articles": good_article, "documents": good_document, "pages": good_page}

# Not the public API: served by every service for operators and other services, checked by
# their own tests.
NOT_IN_THE_MATRIX = {
    "/healthz": "liveness, public by design (tests/gateway)",
    "/readyz": "readiness, public by design (tests/gateway)",
    "/metrics": "Prometheus scraping; its protection is the request-limits work (issue 10)",
    "/v1/openapi.json": "the API description, public",
    "/docs": "Swagger UI, public",
    "/docs/assets": "Swagger UI's static files, public",
    "/internal/events": "content's outbox deliveries, shared secret, not routed by the gateway",
    "/internal/usage/{item_id}": "content's usage calls to media, shared secret, not routed",
    "/internal/published": "search's reindex reads, shared secret, not routed",
}


# --- the world ---------------------------------------------------------------------------


@dataclass
class World:
    platform: Platform
    db: Database
    callers: dict[str, dict[str, str]]  # column → headers
    category_id: str
    drafts: dict[str, dict[str, Any]]  # kind → a draft by a contributor who is no column
    author: dict[str, str]
    draft_media: str
    counter: Iterator[int] = field(default_factory=itertools.count)

    def unique(self) -> int:
        return next(self.counter)


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed % 256, (seed // 256) % 256, 77)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
async def module_db(pg_engine) -> Any:
    async with rolled_back(pg_engine) as connection:
        yield Database.bound_to(connection)


@pytest.fixture(scope="module")
async def world(module_db, tmp_path_factory, signing_key_pem) -> Any:
    db = module_db
    data_dir = tmp_path_factory.mktemp("matrix")
    async with running_platform(db, data_dir, signing_key_pem) as platform:
        content = platform.apps["content"]
        await make_portal(db, "phu-yen")
        await make_portal(db, "ha-noi")
        category = await make_category(db, "phu-yen", name="Tin tức")
        callers: dict[str, dict[str, str]] = {"anon": {}}
        callers["other"] = (await make_user(content, db, roles={"ha-noi": "editor"})).headers
        for column, role in zip(CALLERS[2:7], ROLES, strict=True):
            callers[column] = (await make_user(content, db, roles={"phu-yen": role})).headers
        callers["super"] = (await make_user(content, db, superadmin=True)).headers
        removed = await make_user(content, db, roles={"phu-yen": "editor"})
        callers["removed"] = removed.headers
        author = (await make_user(content, db, roles={"phu-yen": "contributor"})).headers
        # The removed editor uses media and analytics first, so both have cached "editor".
        assert (
            await platform.media.get("/v1/media?portal=phu-yen", headers=removed.headers)
        ).is_success
        stats = "/v1/analytics/portals/phu-yen/stats"
        assert (await platform.analytics.get(stats, headers=removed.headers)).is_success
        r = await platform.content.delete(
            f"/v1/portals/phu-yen/members/{removed.id}", headers=callers["admin"]
        )
        assert r.status_code == 204, r.text
        platform.roles_expire()

        world = World(platform, db, callers, category.id, {}, author, "")
        for kind in KINDS:
            world.drafts[kind] = await new_draft(world, kind)
        world.draft_media = await new_media(world)
        yield world


async def new_draft(world: World, kind: str) -> dict[str, Any]:
    r = await world.platform.content.post(
        f"/v1/portals/phu-yen/{kind}", json=item_body(world, kind), headers=world.author
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def item_body(world: World, kind: str) -> dict[str, Any]:
    n = world.unique()
    if kind == "articles":
        return good_article(world.category_id, title=f"Bài nháp số {n} của ma trận quyền")
    if kind == "documents":
        return good_document(number=f"{n}/BHXH-MT")
    return good_page(title=f"Trang nháp số {n} của ma trận quyền")


async def new_media(world: World) -> str:
    r = await world.platform.media.post(
        "/v1/media",
        data={"portal": "phu-yen", "alt": "Ảnh"},
        files={"file": ("anh.png", png(world.unique()), "image/png")},
        headers=world.callers["editor"],
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# --- the rows ----------------------------------------------------------------------------

Call = dict[str, Any]  # the url and the keyword arguments of one request
Make = Callable[[World], Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str  # the route's template, as its app declares it
    expected: tuple[int, ...]  # one status per column of CALLERS
    make: Make | None = None  # the request of one case; default: the path filled in

    @property
    def id(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def fill(world: World, path: str, kind: str | None = None) -> str:
    draft = world.drafts[kind] if kind else {}
    return path.format(
        portal="phu-yen",
        item_id=draft.get("id", ""),
        slug=draft.get("slug", ""),
        number=1,
        category_id=world.category_id,
        media_id=world.draft_media,
        name="thumb",
    )


def plain(path: str, query: str = "", **kwargs: Any) -> Make:
    async def make(world: World) -> Call:
        return {"url": fill(world, path) + query, **kwargs}

    return make


def on_draft(kind: str, path: str, query: str = "", **kwargs: Any) -> Make:
    async def make(world: World) -> Call:
        return {"url": fill(world, f"/v1/portals/{{portal}}/{kind}{path}", kind) + query, **kwargs}

    return make


def on_fresh_draft(kind: str, path: str, body: dict[str, Any]) -> Make:
    """A request on a draft made for this one case (the request may change it)."""

    async def make(world: World) -> Call:
        draft = await new_draft(world, kind)
        url = f"/v1/portals/phu-yen/{kind}/{draft['id']}{path}".replace("{number}", "1")
        return {"url": url, "json": body}

    return make


def create_item(kind: str) -> Make:
    async def make(world: World) -> Call:
        return {"url": f"/v1/portals/phu-yen/{kind}", "json": item_body(world, kind)}

    return make


async def _new_user(world: World) -> Call:
    n = uuid.uuid4().hex[:10]
    body = {"username": f"moi-{n}", "password": "mat-khau-du-dai", "full_name": "Người mới"}
    return {"url": "/v1/users", "json": body}


async def _sign_out_another_session(world: World) -> Call:
    """Sign-out names the session by its refresh token (a throwaway user's) and is sent
    without the caller's access token: with one, it would end the caller's own session too,
    which later cases use. Whoever holds a refresh token may end its session."""
    user = await make_user(world.platform.apps["content"], world.db)
    r = await world.platform.clients["content"].post(
        "/v1/auth/token", json={"username": user.username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    refresh = r.json()["refresh_token"]
    return {"url": "/v1/auth/sign-out", "json": {"refresh_token": refresh}, "headers": {}}


async def _deactivate_user(world: World) -> Call:
    user = await make_user(world.platform.apps["content"], world.db, roles={"phu-yen": "editor"})
    return {"url": f"/v1/users/{user.id}", "json": {"is_active": False}}


async def _set_member(world: World) -> Call:
    user = await make_user(world.platform.apps["content"], world.db)
    return {"url": f"/v1/portals/phu-yen/members/{user.id}", "json": {"role": "contributor"}}


async def _remove_member(world: World) -> Call:
    user = await make_user(world.platform.apps["content"], world.db, roles={"phu-yen": "editor"})
    return {"url": f"/v1/portals/phu-yen/members/{user.id}"}


async def _new_portal(world: World) -> Call:
    portal = f"cong-{uuid.uuid4().hex[:8]}"
    return {"url": "/v1/portals", "json": {"id": portal, "name": f"Cổng {portal}"}}


async def _new_category(world: World) -> Call:
    return {"url": "/v1/portals/phu-yen/categories", "json": {"name": f"Mục {world.unique()}"}}


async def _delete_category(world: World) -> Call:
    category = await make_category(world.db, "phu-yen", name=f"Xoá {world.unique()}")
    return {"url": f"/v1/portals/phu-yen/categories/{category.id}"}


async def _upload(world: World) -> Call:
    files = {"file": ("anh.png", png(world.unique()), "image/png")}
    return {"url": "/v1/media", "data": {"portal": "phu-yen"}, "files": files}


async def _delete_media(world: World) -> Call:
    return {"url": f"/v1/media/{await new_media(world)}"}


EVERYONE_200 = (200,) * 9
#                 anon other contr editor head approver admin super removed
MEMBERS = (401, 403, 200, 200, 200, 200, 200, 200, 403)
ADMINS = (401, 403, 403, 403, 403, 403, 200, 200, 403)
DRAFT_READ = (404, 404, 200, 200, 200, 200, 200, 200, 404)

ROWS: list[Row] = [
    # content: accounts. Signing in takes no token; an empty body is refused for everyone.
    Row("content", "POST", "/v1/auth/token", (422,) * 9, plain("/v1/auth/token", json={})),
    Row("content", "POST", "/v1/auth/refresh", (422,) * 9, plain("/v1/auth/refresh", json={})),
    Row("content", "GET", "/v1/auth/jwks.json", EVERYONE_200),
    Row("content", "GET", "/v1/me", (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Whoever holds a refresh token may end its session.
    Row("content", "POST", "/v1/auth/sign-out", (204,) * 9, _sign_out_another_session),
    # Anyone signed in may change their own password; a too-short one changes nothing.
    Row(
        "content",
        "POST",
        "/v1/me/password",
        (401, 422, 422, 422, 422, 422, 422, 422, 422),
        plain("/v1/me/password", json={"current_password": PASSWORD, "new_password": "ngan"}),
    ),
    # Deactivating an account is the superadmin's alone (portal admins remove members).
    Row(
        "content",
        "PATCH",
        "/v1/users/{user_id}",
        (401, 403, 403, 403, 403, 403, 403, 200, 403),
        _deactivate_user,
    ),
    Row("content", "POST", "/v1/users", (401, 403, 403, 403, 403, 403, 201, 201, 403), _new_user),
    Row("content", "GET", "/v1/portals/{portal}/members", MEMBERS),
    Row("content", "PUT", "/v1/portals/{portal}/members/{user_id}", ADMINS, _set_member),
    Row(
        "content",
        "DELETE",
        "/v1/portals/{portal}/members/{user_id}",
        (401, 403, 403, 403, 403, 403, 204, 204, 403),
        _remove_member,
    ),
    # content: portals and categories
    Row("content", "GET", "/v1/portals", EVERYONE_200),
    Row(
        "content", "POST", "/v1/portals", (401, 403, 403, 403, 403, 403, 403, 201, 403), _new_portal
    ),
    Row("content", "GET", "/v1/portals/{portal}", EVERYONE_200),
    Row(
        "content",
        "PATCH",
        "/v1/portals/{portal}",
        ADMINS,
        plain("/v1/portals/{portal}", json={"name": "BHXH phu-yen"}),
    ),
    Row("content", "GET", "/v1/portals/{portal}/categories", EVERYONE_200),
    Row(
        "content",
        "POST",
        "/v1/portals/{portal}/categories",
        (401, 403, 403, 403, 403, 403, 201, 201, 403),
        _new_category,
    ),
    Row(
        "content",
        "PATCH",
        "/v1/portals/{portal}/categories/{category_id}",
        ADMINS,
        plain("/v1/portals/{portal}/categories/{category_id}", json={"name": "Tin tức"}),
    ),
    Row(
        "content",
        "DELETE",
        "/v1/portals/{portal}/categories/{category_id}",
        (401, 403, 403, 403, 403, 403, 204, 204, 403),
        _delete_category,
    ),
]
for _kind in KINDS:
    _base = f"/v1/portals/{{portal}}/{_kind}"
    ROWS += [
        Row("content", "GET", _base, EVERYONE_200),
        Row(
            "content",
            "POST",
            _base,
            (401, 403, 201, 201, 201, 201, 201, 201, 403),
            create_item(_kind),
        ),
        Row(
            "content",
            "GET",
            f"{_base}/by-slug/{{slug}}",
            DRAFT_READ,
            on_draft(_kind, "/by-slug/{slug}"),
        ),
        Row("content", "GET", f"{_base}/{{item_id}}", DRAFT_READ, on_draft(_kind, "/{item_id}")),
        # A draft by another contributor: an editor or higher may edit it.
        Row(
            "content",
            "PATCH",
            f"{_base}/{{item_id}}",
            (401, 404, 403, 200, 200, 200, 200, 200, 404),
            on_fresh_draft(
                _kind,
                "",
                {"title": "Sửa bởi ma trận"}
                if _kind != "documents"
                else {"summary": "Sửa bởi ma trận"},
            ),
        ),
        Row(
            "content",
            "POST",
            f"{_base}/{{item_id}}/transitions",
            (401, 404, 403, 200, 200, 200, 200, 200, 404),
            on_fresh_draft(_kind, "/transitions", {"action": "submit"}),
        ),
        Row(
            "content",
            "GET",
            f"{_base}/{{item_id}}/revisions",
            DRAFT_READ,
            on_draft(_kind, "/{item_id}/revisions"),
        ),
        Row(
            "content",
            "GET",
            f"{_base}/{{item_id}}/revisions/compare",
            DRAFT_READ,
            on_draft(_kind, "/{item_id}/revisions/compare", "?from=1&to=1"),
        ),
        Row(
            "content",
            "POST",
            f"{_base}/{{item_id}}/revisions/{{number}}/restore",
            (401, 404, 403, 200, 200, 200, 200, 200, 404),
            on_fresh_draft(_kind, "/revisions/{number}/restore", {}),
        ),
        Row(
            "content",
            "GET",
            f"{_base}/{{item_id}}/history",
            DRAFT_READ,
            on_draft(_kind, "/{item_id}/history"),
        ),
    ]
ROWS += [
    # media: a draft asset of phu-yen (no published item uses it)
    Row("media", "POST", "/v1/media", (401, 403, 201, 201, 201, 201, 201, 201, 403), _upload),
    Row("media", "GET", "/v1/media", MEMBERS, plain("/v1/media", "?portal=phu-yen")),
    Row("media", "GET", "/v1/media/{media_id}", DRAFT_READ),
    Row(
        "media",
        "PATCH",
        "/v1/media/{media_id}",
        (401, 404, 200, 200, 200, 200, 200, 200, 404),
        plain("/v1/media/{media_id}", json={"caption": "Chú thích"}),
    ),
    Row(
        "media",
        "DELETE",
        "/v1/media/{media_id}",
        (401, 404, 403, 403, 403, 403, 204, 204, 404),
        _delete_media,
    ),
    Row("media", "GET", "/v1/media/{media_id}/file", DRAFT_READ),
    Row("media", "GET", "/v1/media/{media_id}/renditions/{name}", DRAFT_READ),
    # An image has no poster: 404 for everyone, members included (the visibility check is
    # the one /file goes through).
    Row("media", "GET", "/v1/media/{media_id}/poster", (404,) * 9),
    # analytics
    Row(
        "analytics",
        "POST",
        "/v1/analytics/events",
        (202,) * 9,
        plain("/v1/analytics/events", json={"portal": "phu-yen", "url": "https://phuyen.gov.vn/"}),
    ),
    Row("analytics", "GET", "/v1/analytics/script.js", EVERYONE_200),
    Row("analytics", "GET", "/v1/analytics/portals/{portal}/stats", MEMBERS),
    Row(
        "analytics",
        "GET",
        "/v1/analytics/portals/{portal}/top",
        MEMBERS,
        plain("/v1/analytics/portals/{portal}/top", "?dimension=page"),
    ),
    Row("analytics", "GET", "/v1/analytics/portals/{portal}/realtime", MEMBERS),
    Row("analytics", "GET", "/v1/analytics/portals/{portal}/counter", EVERYONE_200),
    Row("analytics", "GET", "/v1/analytics/portals/{portal}/bots", MEMBERS),
    # Only the centre reads every portal's figures: phu-yen's members are provincial.
    Row("analytics", "GET", "/v1/analytics/summary", (401, 403, 403, 403, 403, 403, 403, 200, 403)),
    # search
    Row("search", "GET", "/v1/search", EVERYONE_200, plain("/v1/search", "?q=bao+hiem")),
    Row("search", "GET", "/v1/search/suggest", EVERYONE_200, plain("/v1/search/suggest", "?q=bao")),
    Row(
        "search",
        "POST",
        "/v1/search/admin/reindex",
        (401, 403, 403, 403, 403, 403, 403, 202, 403),
    ),
    Row(
        "search",
        "POST",
        "/v1/search/admin/reconcile",
        (401, 403, 403, 403, 403, 403, 403, 202, 403),
    ),
    Row("search", "GET", "/v1/search/admin/jobs", (401, 403, 403, 403, 403, 403, 403, 200, 403)),
]


# --- the tests ---------------------------------------------------------------------------


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, however deeply its routers nest."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "effective_route_contexts"):  # an included router
                walk(list(route.effective_route_contexts()))
                continue
            methods = getattr(route, "methods", None) or {"*"}
            found.update((m, route.path) for m in methods if m != "HEAD")

    walk(list(app.routes))
    return found


def test_every_route_has_a_row(world):
    """A route without a row (or a row without a route) fails here."""
    rows = {(r.service, r.method, r.path) for r in ROWS}
    assert len(rows) == len(ROWS), "two rows for one route"
    served = set()
    skipped = set()
    for service, app in world.platform.apps.items():
        routes = served_routes(app)
        assert len(routes) > 5, f"{service}: the route listing is broken"
        served |= {(service, m, p) for m, p in routes if p not in NOT_IN_THE_MATRIX}
        skipped |= {p for _, p in routes if p in NOT_IN_THE_MATRIX}
    assert skipped == set(NOT_IN_THE_MATRIX), "a route left out of the matrix is gone"
    assert served - rows == set(), "add a row to the authorization matrix for these routes"
    assert rows - served == set(), "these rows name routes that no longer exist"


CASES = [
    pytest.param(row, column, status, id=f"{row.id} [{column}]")
    for row in ROWS
    for column, status in zip(CALLERS, row.expected, strict=True)
]


@pytest.mark.parametrize(("row", "caller", "expected"), CASES)
async def test_matrix(world, row, caller, expected):
    make = row.make or plain(row.path)
    call = await make(world)
    client = world.platform.clients[row.service]
    headers = call.pop("headers", world.callers[caller])
    r = await client.request(row.method, headers=headers, **call)
    # A search job reads content in the background; content runs on the module's one
    # connection, which the next case's requests must not share with it.
    job = world.platform.apps["search"].state.job
    while job.state == "running":
        await asyncio.sleep(0.02)
    assert r.status_code == expected, f"{caller}: {r.text[:300]}"
    if expected >= 400 and row.method != "HEAD":
        assert r.headers["content-type"].startswith("application/problem+json"), caller
