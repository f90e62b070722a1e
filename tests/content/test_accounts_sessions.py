"""The token lifecycle (finding 11: refresh tokens were neither rotated nor revocable; no
sign-out, password change or deactivation): sessions, rotation, reuse, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from factories import PASSWORD, assert_problem, make_portal, make_user
from sqlalchemy import select

from services.content.models import AuthSession

pytestmark = pytest.mark.postgres

NEW_PASSWORD = "mot-mat-khau-moi-du-dai"


@pytest.fixture
async def portals(db):
    await make_portal(db, "phu-yen")
    await make_portal(db, "ha-noi")


async def sign_in(client, username: str, password: str = PASSWORD) -> dict:
    r = await client.post("/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def refresh(client, tokens: dict):
    return await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


async def me_status(client, tokens: dict) -> int:
    return (await client.get("/v1/me", headers=bearer(tokens))).status_code


class TestRefreshRotation:
    async def test_each_refresh_gives_a_new_refresh_token_and_retires_the_old(
        self, client, content_app, db, portals
    ):
        user = await make_user(content_app, db)
        first = await sign_in(client, user.username)
        r = await refresh(client, first)
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        r = await refresh(client, second)
        assert r.status_code == 200, r.text
        assert await me_status(client, r.json()) == 200

    async def test_a_reused_refresh_token_revokes_its_whole_family(
        self, client, content_app, db, portals
    ):
        user = await make_user(content_app, db)
        stolen = await sign_in(client, user.username)
        rotated = (await refresh(client, stolen)).json()  # the real client refreshes

        r = await refresh(client, stolen)  # the thief replays the old one
        assert_problem(r, 401, "refresh-token-reused")

        # The family is gone: its newest refresh token and every access token of it.
        assert_problem(await refresh(client, rotated), 401)
        assert await me_status(client, rotated) == 401
        assert await me_status(client, stolen) == 401

    async def test_other_sessions_of_the_user_survive_a_reuse(
        self, client, content_app, db, portals
    ):
        user = await make_user(content_app, db)
        laptop = await sign_in(client, user.username)
        phone = await sign_in(client, user.username)
        await refresh(client, phone)
        assert_problem(await refresh(client, phone), 401, "refresh-token-reused")
        assert await me_status(client, laptop) == 200
        assert (await refresh(client, laptop)).status_code == 200

    async def test_a_refresh_token_without_a_session_is_401(self, client, content_app, db, portals):
        """Refresh tokens issued before sessions existed (no `sid`) must sign in again."""
        user = await make_user(content_app, db)
        old, _ = content_app.state.issuer.issue(
            subject=user.id, username=user.username, roles={}, is_superadmin=False,
            token_type="refresh",
        )  # fmt: skip
        assert_problem(await refresh(client, {"refresh_token": old}), 401, "invalid-credentials")

    async def test_an_access_token_without_a_session_is_401(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        token, _ = content_app.state.issuer.issue(
            subject=user.id, username=user.username, roles={}, is_superadmin=False
        )
        assert await me_status(client, {"access_token": token}) == 401

    async def test_another_users_session_id_does_not_work(self, client, content_app, db, portals):
        victim = await make_user(content_app, db)
        attacker = await make_user(content_app, db)
        victim_tokens = await sign_in(client, victim.username)
        claims = jwt.decode(victim_tokens["access_token"], options={"verify_signature": False})
        token, _ = content_app.state.issuer.issue(
            subject=attacker.id, username=attacker.username, roles={}, is_superadmin=False,
            session_id=claims["sid"],
        )  # fmt: skip
        assert await me_status(client, {"access_token": token}) == 401


class TestSignOut:
    async def test_with_the_access_token_ends_its_session(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        tokens = await sign_in(client, user.username)
        other = await sign_in(client, user.username)
        r = await client.post("/v1/auth/sign-out", headers=bearer(tokens))
        assert r.status_code == 204, r.text
        assert await me_status(client, tokens) == 401
        assert_problem(await refresh(client, tokens), 401)
        assert await me_status(client, other) == 200, "another session was ended too"

    async def test_with_the_refresh_token_in_the_body(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        tokens = await sign_in(client, user.username)
        r = await client.post("/v1/auth/sign-out", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 204, r.text
        assert await me_status(client, tokens) == 401
        assert_problem(await refresh(client, tokens), 401)

    async def test_anonymous_is_401(self, client, portals):
        assert_problem(await client.post("/v1/auth/sign-out"), 401)
        assert_problem(await client.post("/v1/auth/sign-out", json={}), 401)

    async def test_a_garbage_refresh_token_is_401(self, client, portals):
        r = await client.post("/v1/auth/sign-out", json={"refresh_token": "x.y.z"})
        assert_problem(r, 401, "invalid-token")


class TestChangePassword:
    async def test_other_sessions_end_this_one_stays(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        here = await sign_in(client, user.username)
        elsewhere = await sign_in(client, user.username)
        r = await client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(here),
        )
        assert r.status_code == 204, r.text
        assert await me_status(client, here) == 200
        assert (await refresh(client, here)).status_code == 200
        assert await me_status(client, elsewhere) == 401
        assert_problem(await refresh(client, elsewhere), 401)
        assert_problem(
            await client.post(
                "/v1/auth/token", json={"username": user.username, "password": PASSWORD}
            ),
            401,
        )
        await sign_in(client, user.username, NEW_PASSWORD)

    async def test_wrong_current_password_is_403_and_changes_nothing(
        self, client, content_app, db, portals
    ):
        user = await make_user(content_app, db)
        r = await client.post(
            "/v1/me/password",
            json={"current_password": "not it", "new_password": NEW_PASSWORD},
            headers=user.headers,
        )
        assert_problem(r, 403, "wrong-password")
        await sign_in(client, user.username)

    async def test_short_new_password_is_422(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        r = await client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "short"},
            headers=user.headers,
        )
        problem = assert_problem(r, 422, "validation-error")
        assert [e["field"] for e in problem["errors"]] == ["new_password"]

    async def test_the_same_password_again_is_422(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        r = await client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": PASSWORD},
            headers=user.headers,
        )
        assert_problem(r, 422, "same-password")

    async def test_anonymous_is_401(self, client, portals):
        r = await client.post(
            "/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        assert_problem(r, 401)


def user_url(user_id: str) -> str:
    return f"/v1/users/{user_id}"


class TestDeactivateUser:
    async def test_superadmin_deactivates_and_every_token_stops(
        self, client, content_app, db, portals
    ):
        root = await make_user(content_app, db, superadmin=True)
        user = await make_user(content_app, db, roles={"phu-yen": "editor"})
        tokens = await sign_in(client, user.username)
        r = await client.patch(user_url(user.id), json={"is_active": False}, headers=root.headers)
        assert r.status_code == 200, r.text
        assert r.json()["is_active"] is False
        assert await me_status(client, tokens) == 401
        assert (await client.get("/v1/me", headers=user.headers)).status_code == 401
        assert_problem(await refresh(client, tokens), 401)
        r = await client.post(
            "/v1/auth/token", json={"username": user.username, "password": PASSWORD}
        )
        assert_problem(r, 401, "invalid-credentials")

    async def test_reactivated_user_signs_in_again_old_tokens_stay_dead(
        self, client, content_app, db, portals
    ):
        root = await make_user(content_app, db, superadmin=True)
        user = await make_user(content_app, db)
        tokens = await sign_in(client, user.username)
        await client.patch(user_url(user.id), json={"is_active": False}, headers=root.headers)
        r = await client.patch(user_url(user.id), json={"is_active": True}, headers=root.headers)
        assert r.status_code == 200
        assert r.json()["is_active"] is True
        assert await me_status(client, tokens) == 401
        fresh = await sign_in(client, user.username)
        assert await me_status(client, fresh) == 200

    async def test_a_portals_last_admin_may_be_deactivated(self, client, content_app, db, portals):
        """A compromised account must always be stoppable; the superadmin appoints another."""
        root = await make_user(content_app, db, superadmin=True)
        admin = await make_user(content_app, db, roles={"phu-yen": "admin"})
        r = await client.patch(user_url(admin.id), json={"is_active": False}, headers=root.headers)
        assert r.status_code == 200, r.text

    @pytest.mark.parametrize("role", ["contributor", "editor", "head", "approver", "admin"])
    async def test_portal_roles_are_403_even_for_their_own_members(
        self, client, content_app, db, portals, role
    ):
        caller = await make_user(content_app, db, roles={"phu-yen": role})
        member = await make_user(content_app, db, roles={"phu-yen": "contributor"})
        r = await client.patch(
            user_url(member.id), json={"is_active": False}, headers=caller.headers
        )
        assert_problem(r, 403)
        assert (await client.get("/v1/me", headers=member.headers)).status_code == 200

    async def test_anonymous_is_401(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        assert_problem(await client.patch(user_url(user.id), json={"is_active": False}), 401)

    async def test_removed_member_is_403(self, client, content_app, db, portals):
        admin = await make_user(content_app, db, roles={"phu-yen": "admin"})
        removed = await make_user(content_app, db, roles={"phu-yen": "admin"})
        victim = await make_user(content_app, db)
        r = await client.delete(f"/v1/portals/phu-yen/members/{removed.id}", headers=admin.headers)
        assert r.status_code == 204
        r = await client.patch(
            user_url(victim.id), json={"is_active": False}, headers=removed.headers
        )
        assert_problem(r, 403)

    async def test_unknown_user_is_404(self, client, content_app, db, portals):
        root = await make_user(content_app, db, superadmin=True)
        r = await client.patch(user_url("0" * 32), json={"is_active": False}, headers=root.headers)
        assert_problem(r, 404, "user-not-found")

    async def test_cannot_deactivate_oneself(self, client, content_app, db, portals):
        root = await make_user(content_app, db, superadmin=True)
        r = await client.patch(user_url(root.id), json={"is_active": False}, headers=root.headers)
        assert_problem(r, 409, "cannot-deactivate-self")

    @pytest.mark.parametrize(
        "body", [{}, {"is_active": "nope"}, {"is_active": False, "is_superadmin": True}]
    )
    async def test_invalid_body_is_422(self, client, content_app, db, portals, body):
        root = await make_user(content_app, db, superadmin=True)
        user = await make_user(content_app, db)
        r = await client.patch(user_url(user.id), json=body, headers=root.headers)
        assert_problem(r, 422)


class TestSessionRows:
    async def test_long_dead_sessions_are_forgotten_at_the_next_sign_in(
        self, client, content_app, db, portals
    ):
        user = await make_user(content_app, db)
        long_ago = datetime.now(UTC) - timedelta(days=30)
        async with db.transaction() as session:
            session.add(
                AuthSession(
                    id="old-session", user_id=user.id, refresh_jti="j", refreshed_at=long_ago
                )
            )
        await sign_in(client, user.username)
        async with db.transaction() as session:
            ids = set(
                await session.scalars(select(AuthSession.id).where(AuthSession.user_id == user.id))
            )
        assert "old-session" not in ids
        assert len(ids) == 2  # the factory's session and the new one
