"""Roles are read fresh everywhere (issue 10, finding 2).

The attack: after an admin removed `phuyen.editor` from the portal, content refused them at
once, but with the same token media still listed, patched and uploaded the portal's draft
library and analytics still served its statistics; a user deactivated in the database kept
access the same way. The token's roles were believed until it expired (15 minutes).

Here the four services run in-process as `portal dev` wires them, content on PostgreSQL.
Their role caches run on a clock the tests move, so "within 5 seconds" is checked without
sleeping; one test runs on the real clock.
"""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import pytest
from factories import make_portal, make_user
from PIL import Image
from sqlalchemy import update
from world import Platform, running_platform

from services.common.security import TokenIssuer, private_key_from_pem
from services.content.models import User
from services.media.app import create_app as create_media_app
from services.media.av import AvTools
from services.media.settings import MediaSettings

pytestmark = pytest.mark.postgres


def png(colour: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def platform(db, tmp_path, signing_key_pem):
    async with running_platform(db, tmp_path, signing_key_pem) as running:
        yield running


@pytest.fixture
async def people(platform, db):
    await make_portal(db, "phu-yen")
    await make_portal(db, "trung-uong")  # central: its members read the all-portals summary
    content = platform.apps["content"]
    return {
        "admin": await make_user(content, db, roles={"phu-yen": "admin"}),
        "editor": await make_user(content, db, roles={"phu-yen": "editor", "trung-uong": "editor"}),
        "root": await make_user(content, db, superadmin=True),
    }


async def upload(platform: Platform, headers, portal: str = "phu-yen"):
    return await platform.media.post(
        "/v1/media",
        data={"portal": portal, "alt": "Ảnh thử"},
        files={"file": ("anh.png", png(), "image/png")},
        headers=headers,
    )


async def statuses(platform: Platform, headers, media_id: str) -> dict[str, int]:
    """What the caller gets from each protected operation of media and analytics."""
    media, analytics = platform.media, platform.analytics
    return {
        "media list": (await media.get("/v1/media?portal=phu-yen", headers=headers)).status_code,
        "media patch": (
            await media.patch(f"/v1/media/{media_id}", json={"caption": "x"}, headers=headers)
        ).status_code,
        "media upload": (await upload(platform, headers)).status_code,
        "media draft file": (
            await media.get(f"/v1/media/{media_id}/file", headers=headers)
        ).status_code,
        "analytics stats": (
            await analytics.get("/v1/analytics/portals/phu-yen/stats", headers=headers)
        ).status_code,
        "analytics summary": (
            await analytics.get("/v1/analytics/summary", headers=headers)
        ).status_code,
    }


ALLOWED = {
    "media list": 200,
    "media patch": 200,
    "media upload": 200,  # the same bytes again: the existing asset
    "media draft file": 200,
    "analytics stats": 200,
    "analytics summary": 200,
}


class TestRemovedMember:
    async def test_refused_by_every_service_within_five_seconds(self, platform, people):
        editor = people["editor"]
        first = await upload(platform, editor.headers)
        assert first.status_code == 201, first.text
        media_id = first.json()["id"]
        assert await statuses(platform, editor.headers, media_id) == ALLOWED  # roles cached

        for portal in ("phu-yen", "trung-uong"):
            removed = await platform.content.delete(
                f"/v1/portals/{portal}/members/{editor.id}",
                headers=(people["admin"] if portal == "phu-yen" else people["root"]).headers,
            )
            assert removed.status_code == 204, removed.text
        members = await platform.content.get("/v1/portals/phu-yen/members", headers=editor.headers)
        assert members.status_code == 403  # content: at once

        platform.roles_expire()  # 5 seconds later, every service agrees
        assert await statuses(platform, editor.headers, media_id) == {
            "media list": 403,
            "media patch": 404,  # a draft asset of a portal the caller is not in
            "media upload": 403,
            "media draft file": 404,
            "analytics stats": 403,
            "analytics summary": 403,
        }

    async def test_refused_within_five_seconds_on_the_real_clock(
        self, db, tmp_path, signing_key_pem
    ):
        async with running_platform(db, tmp_path, signing_key_pem, real_clock=True) as platform:
            await make_portal(db, "phu-yen")
            content = platform.apps["content"]
            admin = await make_user(content, db, roles={"phu-yen": "admin"})
            editor = await make_user(content, db, roles={"phu-yen": "editor"})
            listing = "/v1/media?portal=phu-yen"
            assert (await platform.media.get(listing, headers=editor.headers)).status_code == 200
            removed_at = time.monotonic()
            removed = await platform.content.delete(
                f"/v1/portals/phu-yen/members/{editor.id}", headers=admin.headers
            )
            assert removed.status_code == 204
            while (await platform.media.get(listing, headers=editor.headers)).status_code == 200:
                assert time.monotonic() - removed_at < 5.5, "still allowed after 5 seconds"
                await asyncio.sleep(0.2)
            r = await platform.media.get(listing, headers=editor.headers)
            assert r.status_code == 403, r.text


class TestDeactivatedUser:
    async def test_every_service_answers_401(self, platform, people, db):
        editor, root = people["editor"], people["root"]
        first = await upload(platform, editor.headers)
        media_id = first.json()["id"]
        assert await statuses(platform, editor.headers, media_id) == ALLOWED
        jobs = await platform.search.get("/v1/search/admin/jobs", headers=root.headers)
        assert jobs.status_code == 200, jobs.text
        async with db.transaction() as session:
            await session.execute(
                update(User).where(User.id.in_([editor.id, root.id])).values(is_active=False)
            )

        platform.roles_expire()
        refused = await statuses(platform, editor.headers, media_id)
        assert refused == dict.fromkeys(ALLOWED, 401)
        r = await platform.media.get("/v1/media?portal=phu-yen", headers=editor.headers)
        assert r.json()["type"].endswith("/token-refused")
        assert "sign in again" in r.json()["detail"] or "đăng nhập lại" in r.json()["detail"]
        jobs = await platform.search.get("/v1/search/admin/jobs", headers=root.headers)
        assert jobs.status_code == 401


class TestSuperadminRevoked:
    async def test_search_admin_and_media_follow_content(self, platform, people, db):
        root = people["root"]
        assert (await platform.search.get("/v1/search/admin/jobs", headers=root.headers)).is_success
        assert (await upload(platform, root.headers)).status_code == 201
        async with db.transaction() as session:
            await session.execute(
                update(User).where(User.id == root.id).values(is_superadmin=False)
            )
        platform.roles_expire()
        jobs = await platform.search.get("/v1/search/admin/jobs", headers=root.headers)
        assert jobs.status_code == 403
        reindex = await platform.search.post("/v1/search/admin/reindex", headers=root.headers)
        assert reindex.status_code == 403
        assert (await upload(platform, root.headers)).status_code == 403


class TestContentDown:
    async def test_protected_503_public_reads_unaffected(self, platform, people):
        editor = people["editor"]
        draft = (await upload(platform, editor.headers)).json()
        public = await platform.media.post(
            "/v1/media",
            data={"portal": "phu-yen"},
            files={"file": ("cong-khai.png", png((200, 10, 10)), "image/png")},
            headers=editor.headers,
        )
        assert public.status_code == 201, public.text
        public_id = public.json()["id"]
        usage = {"portal": "phu-yen", "media_ids": [public_id], "published": True, "version": 1}
        assert (await platform.media.put("/internal/usage/a1", json=usage)).status_code == 204
        counter = "/v1/analytics/portals/phu-yen/counter"
        assert (await platform.analytics.get(counter)).status_code == 200  # portal known

        platform.content_down()
        # Within the 5 seconds the cached answer still serves.
        still = await platform.media.get("/v1/media?portal=phu-yen", headers=editor.headers)
        assert still.status_code == 200

        platform.roles_expire()
        protected = {
            "media list": await platform.media.get(
                "/v1/media?portal=phu-yen", headers=editor.headers
            ),
            "media patch": await platform.media.patch(
                f"/v1/media/{draft['id']}", json={"caption": "x"}, headers=editor.headers
            ),
            "media upload": await upload(platform, editor.headers),
            "media draft read": await platform.media.get(
                f"/v1/media/{draft['id']}", headers=editor.headers
            ),
            "analytics stats": await platform.analytics.get(
                "/v1/analytics/portals/phu-yen/stats", headers=editor.headers
            ),
            "search admin": await platform.search.get(
                "/v1/search/admin/jobs", headers=people["root"].headers
            ),
        }
        for name, r in protected.items():
            assert r.status_code == 503, f"{name}: {r.text}"
            assert r.headers["retry-after"] == "5", name
            assert r.headers["content-type"] == "application/problem+json", name
            assert r.json()["type"].endswith("/roles-unavailable"), name

        public_reads = {
            "anonymous file": await platform.media.get(f"/v1/media/{public_id}/file"),
            "anonymous metadata": await platform.media.get(f"/v1/media/{public_id}"),
            "signed-in metadata": await platform.media.get(
                f"/v1/media/{public_id}", headers=editor.headers
            ),
            "signed-in rendition": await platform.media.get(
                f"/v1/media/{public_id}/renditions/thumb", headers=editor.headers
            ),
            "anonymous draft": await platform.media.get(f"/v1/media/{draft['id']}"),
            "counter": await platform.analytics.get(counter),
            "search": await platform.search.get("/v1/search?q=bao+hiem"),
        }
        statuses = {name: r.status_code for name, r in public_reads.items()}
        assert statuses == {
            "anonymous file": 200,
            "anonymous metadata": 200,
            "signed-in metadata": 200,
            "signed-in rendition": 200,
            "anonymous draft": 404,
            "counter": 200,
            "search": 200,
        }
        # A member's view of a public asset lists its users; with content down it is the
        # public view (no `used_by`), not an error.
        assert public_reads["signed-in metadata"].json()["used_by"] is None

        platform.content_down(False)
        back = await platform.media.get("/v1/media?portal=phu-yen", headers=editor.headers)
        assert back.status_code == 200


class TestUploadIntoUnknownPortal:
    async def test_a_superadmins_upload_into_a_portal_that_does_not_exist_is_404(
        self, platform, people, tmp_path
    ):
        root = people["root"]
        r = await upload(platform, root.headers, portal="khong-ton-tai")
        assert r.status_code == 404, r.text
        assert r.json()["type"].endswith("/portal-not-found")
        assert list((tmp_path / "media-uploads").glob("*.upload")) == []
        assert (await upload(platform, root.headers, portal="phu-yen")).status_code == 201
        # A member's own portal needs no lookup; a non-member is refused before any.
        assert (
            await upload(platform, people["editor"].headers, "khong-ton-tai")
        ).status_code == 403


class TestNotConfigured:
    async def test_media_without_a_content_url_fails_closed_and_says_what_to_set(
        self, tmp_path, signing_key_pem
    ):
        (tmp_path / "keys").mkdir()
        (tmp_path / "keys" / "signing.pem").write_text(signing_key_pem)
        settings = MediaSettings(data_dir=tmp_path)
        app = create_media_app(settings, tools=AvTools(None, None))
        issuer = TokenIssuer(
            private_key_from_pem(signing_key_pem),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        token, _ = issuer.issue(
            subject="u1", username="u1", roles={"phu-yen": "admin"}, is_superadmin=True
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://media") as media:
                r = await media.get(
                    "/v1/media?portal=phu-yen",
                    headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
                )
                assert r.status_code == 503, r.text
                assert "MEDIA_CONTENT_URL" in r.json()["detail"]
                assert r.headers["retry-after"] == "5"
                anonymous = await media.get(f"/v1/media/{'0' * 32}")
                assert anonymous.status_code == 404  # public reads need no roles
