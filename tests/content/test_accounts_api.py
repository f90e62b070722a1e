"""The accounts API on PostgreSQL: tokens, JWKS, the current user, users and memberships."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from factories import (
    PASSWORD,
    assert_problem,
    deactivate_user,
    good_article,
    make_category,
    make_portal,
    make_user,
)

from services.common.security import TokenIssuer

pytestmark = pytest.mark.postgres


async def sign_in(client, username: str, password: str = PASSWORD):
    return await client.post("/v1/auth/token", json={"username": username, "password": password})


@pytest.fixture
async def portals(db):
    await make_portal(db, "phu-yen")
    await make_portal(db, "ha-noi")


class TestCreateToken:
    async def test_right_password_gives_tokens_that_work(self, client, content_app, db, portals):
        user = await make_user(content_app, db, roles={"phu-yen": "editor"})
        r = await sign_in(client, user.username)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 15 * 60
        assert body["access_token"] != body["refresh_token"]
        me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json()["username"] == user.username

    async def test_username_is_case_insensitive(self, client, content_app, db, portals):
        user = await make_user(content_app, db, username="PhuYen.Editor")
        r = await sign_in(client, "  phuyen.editor ")
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert claims["sub"] == user.id

    async def test_wrong_password_and_unknown_user_get_the_same_401(
        self, client, content_app, db, portals
    ):
        user = await make_user(content_app, db)
        wrong = await sign_in(client, user.username, "not the password")
        unknown = await sign_in(client, "nobody-here")
        for r in (wrong, unknown):
            assert_problem(r, 401, "invalid-credentials")
            assert r.headers["www-authenticate"] == "Bearer"
            assert "access_token" not in r.text
        strip = ("request_id",)
        assert {k: v for k, v in wrong.json().items() if k not in strip} == {
            k: v for k, v in unknown.json().items() if k not in strip
        }

    async def test_inactive_user_cannot_sign_in(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        await deactivate_user(db, user.id)
        r = await sign_in(client, user.username)
        assert_problem(r, 401, "invalid-credentials")

    async def test_missing_fields_are_422_listing_each(self, client, portals):
        r = await client.post("/v1/auth/token", json={})
        problem = assert_problem(r, 422, "validation-error")
        assert {e["field"] for e in problem["errors"]} == {"username", "password"}

    async def test_body_that_is_not_json_is_422(self, client, portals):
        r = await client.post(
            "/v1/auth/token", content=b"username=a", headers={"content-type": "application/json"}
        )
        assert_problem(r, 422)

    async def test_nul_byte_in_username_is_401_not_500(self, client, portals):
        r = await sign_in(client, "admin\x00")
        assert_problem(r, 401, "invalid-credentials")


class TestRefreshToken:
    async def test_refresh_token_gives_a_new_access_token(self, client, content_app, db, portals):
        user = await make_user(content_app, db, roles={"ha-noi": "approver"})
        tokens = (await sign_in(client, user.username)).json()
        r = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        fresh = r.json()
        me = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {fresh['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["memberships"] == [{"portal": "ha-noi", "role": "approver"}]

    async def test_access_token_used_as_refresh_is_401(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        tokens = (await sign_in(client, user.username)).json()
        r = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
        assert_problem(r, 401, "invalid-token")

    async def test_refresh_token_used_as_access_is_401(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        tokens = (await sign_in(client, user.username)).json()
        r = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        )
        assert_problem(r, 401, "invalid-token")

    @pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "x" * 4000])
    async def test_garbage_is_401(self, client, portals, garbage):
        r = await client.post("/v1/auth/refresh", json={"refresh_token": garbage})
        assert_problem(r, 401, "invalid-token")

    async def test_token_signed_by_another_key_is_401(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        impostor = TokenIssuer(
            Ed25519PrivateKey.generate(),
            issuer=content_app.state.issuer.issuer,
            audience=content_app.state.issuer.audience,
        )
        forged, _ = impostor.issue(
            subject=user.id,
            username=user.username,
            roles={},
            is_superadmin=True,
            token_type="refresh",
        )
        r = await client.post("/v1/auth/refresh", json={"refresh_token": forged})
        assert_problem(r, 401, "invalid-token")

    async def test_deactivated_user_cannot_refresh(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        tokens = (await sign_in(client, user.username)).json()
        await deactivate_user(db, user.id)
        r = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert_problem(r, 401)


class TestJwks:
    async def test_tokens_verify_against_the_published_key(
        self, client, content_app, content_settings, db, portals
    ):
        user = await make_user(content_app, db, roles={"phu-yen": "editor"})
        token = (await sign_in(client, user.username)).json()["access_token"]
        r = await client.get("/v1/auth/jwks.json")
        assert r.status_code == 200
        assert "public" in r.headers["cache-control"]
        jwks = r.json()
        assert all("d" not in key for key in jwks["keys"]), "private key material published"
        kid = jwt.get_unverified_header(token)["kid"]
        key = jwt.PyJWKSet.from_dict(jwks)[kid]
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["EdDSA"],
            audience=content_settings.jwt_audience,
            issuer=content_settings.jwt_issuer,
        )
        assert claims["sub"] == user.id
        assert claims["roles"] == {"phu-yen": "editor"}
        assert claims["typ"] == "access"

    async def test_published_key_rejects_a_tampered_token(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        token = (await sign_in(client, user.username)).json()["access_token"]
        jwks = (await client.get("/v1/auth/jwks.json")).json()
        other = Ed25519PrivateKey.generate()
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode({**claims, "sa": True}, pem, algorithm="EdDSA")
        key = jwt.PyJWKSet.from_dict(jwks).keys[0]
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(forged, key.key, algorithms=["EdDSA"], audience=claims["aud"])


class TestMe:
    async def test_user_and_memberships(self, client, content_app, db, portals):
        user = await make_user(content_app, db, roles={"phu-yen": "editor", "ha-noi": "admin"})
        r = await client.get("/v1/me", headers=user.headers)
        assert r.status_code == 200
        me = r.json()
        assert me["id"] == user.id
        assert me["is_superadmin"] is False
        assert "password_hash" not in me
        assert me["memberships"] == [
            {"portal": "ha-noi", "role": "admin"},
            {"portal": "phu-yen", "role": "editor"},
        ]

    async def test_anonymous_is_401(self, client, portals):
        r = await client.get("/v1/me")
        assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer x.y"])
    async def test_malformed_authorization_is_401(self, client, portals, header):
        r = await client.get("/v1/me", headers={"Authorization": header})
        assert_problem(r, 401)

    async def test_deactivated_user_token_stops_working(self, client, content_app, db, portals):
        user = await make_user(content_app, db)
        await deactivate_user(db, user.id)
        assert_problem(await client.get("/v1/me", headers=user.headers), 401)


class TestCreateUser:
    def body(self, **overrides):
        return {
            "username": "hanoi.editor",
            "password": "mot-mat-khau-du-dai",
            "full_name": "Nguyễn Thị Hà",
            "email": "ha@hanoi.vss.gov.vn",
            **overrides,
        }

    async def test_superadmin_creates_a_user_who_can_sign_in(
        self, client, content_app, db, portals
    ):
        root = await make_user(content_app, db, superadmin=True)
        r = await client.post("/v1/users", json=self.body(), headers=root.headers)
        assert r.status_code == 201, r.text
        user = r.json()
        assert user["id"]
        assert user["username"] == "hanoi.editor"
        assert user["full_name"] == "Nguyễn Thị Hà"
        assert user["is_superadmin"] is False
        assert "password" not in user
        assert "password_hash" not in user
        r = await sign_in(client, "hanoi.editor", "mot-mat-khau-du-dai")
        assert r.status_code == 200

    async def test_portal_admin_may_create(self, client, content_app, db, portals):
        admin = await make_user(content_app, db, roles={"ha-noi": "admin"})
        r = await client.post("/v1/users", json=self.body(email=None), headers=admin.headers)
        assert r.status_code == 201, r.text
        assert r.json()["email"] is None

    @pytest.mark.parametrize("role", ["contributor", "editor", "head", "approver"])
    async def test_other_roles_are_403(self, client, content_app, db, portals, role):
        member = await make_user(content_app, db, roles={"ha-noi": role})
        r = await client.post("/v1/users", json=self.body(), headers=member.headers)
        assert_problem(r, 403)
        assert (await sign_in(client, "hanoi.editor", "mot-mat-khau-du-dai")).status_code == 401

    async def test_anonymous_is_401(self, client, portals):
        assert_problem(await client.post("/v1/users", json=self.body()), 401)

    async def test_duplicate_username_is_409_whatever_the_case(
        self, client, content_app, db, portals
    ):
        root = await make_user(content_app, db, superadmin=True)
        await make_user(content_app, db, username="hanoi.editor")
        for name in ("hanoi.editor", "HaNoi.Editor"):
            r = await client.post("/v1/users", json=self.body(username=name), headers=root.headers)
            assert_problem(r, 409, "username-taken")

    async def test_short_password_and_bad_email_are_422_listing_fields(
        self, client, content_app, db, portals
    ):
        root = await make_user(content_app, db, superadmin=True)
        r = await client.post(
            "/v1/users",
            json=self.body(password="short", email="not-an-email", username="a b"),
            headers=root.headers,
        )
        problem = assert_problem(r, 422, "validation-error")
        assert {e["field"] for e in problem["errors"]} == {"password", "email", "username"}

    async def test_cannot_make_itself_superadmin(self, client, content_app, db, portals):
        admin = await make_user(content_app, db, roles={"ha-noi": "admin"})
        r = await client.post(
            "/v1/users", json=self.body(is_superadmin=True), headers=admin.headers
        )
        problem = assert_problem(r, 422)
        assert [e["field"] for e in problem["errors"]] == ["is_superadmin"]

    async def test_nul_byte_in_full_name_is_422(self, client, content_app, db, portals):
        root = await make_user(content_app, db, superadmin=True)
        r = await client.post(
            "/v1/users", json=self.body(full_name="Nguyễn\x00Hà"), headers=root.headers
        )
        problem = assert_problem(r, 422)
        assert [e["field"] for e in problem["errors"]] == ["full_name"]


@pytest.fixture
async def team(content_app, db, portals):
    """Admins of phu-yen and ha-noi, a phu-yen editor and a user in no portal."""
    return {
        "admin": await make_user(content_app, db, roles={"phu-yen": "admin"}),
        "other_admin": await make_user(content_app, db, roles={"ha-noi": "admin"}),
        "editor": await make_user(content_app, db, roles={"phu-yen": "editor"}),
        "newcomer": await make_user(content_app, db),
    }


def members_url(user_id: str = "", portal: str = "phu-yen") -> str:
    return f"/v1/portals/{portal}/members" + (f"/{user_id}" if user_id else "")


async def member_roles(client, headers, portal: str = "phu-yen") -> dict[str, str]:
    r = await client.get(members_url(portal=portal), headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    return {m["user_id"]: m["role"] for m in body["items"]}


class TestSetMember:
    async def test_admin_adds_and_changes_a_role(self, client, team):
        newcomer = team["newcomer"]
        r = await client.put(
            members_url(newcomer.id), json={"role": "contributor"}, headers=team["admin"].headers
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "user_id": newcomer.id,
            "username": newcomer.username,
            "full_name": f"Người dùng {newcomer.username}",
            "portal": "phu-yen",
            "role": "contributor",
        }
        r = await client.put(
            members_url(newcomer.id), json={"role": "approver"}, headers=team["admin"].headers
        )
        assert r.json()["role"] == "approver"
        roles = await member_roles(client, team["admin"].headers)
        assert roles[newcomer.id] == "approver"
        me = (await client.get("/v1/me", headers=newcomer.headers)).json()
        assert me["memberships"] == [{"portal": "phu-yen", "role": "approver"}]

    async def test_superadmin_may(self, client, content_app, db, team):
        root = await make_user(content_app, db, superadmin=True)
        r = await client.put(
            members_url(team["newcomer"].id), json={"role": "head"}, headers=root.headers
        )
        assert r.status_code == 200, r.text

    async def test_editor_is_403(self, client, team):
        r = await client.put(
            members_url(team["newcomer"].id),
            json={"role": "editor"},
            headers=team["editor"].headers,
        )
        assert_problem(r, 403)
        assert team["newcomer"].id not in await member_roles(client, team["admin"].headers)

    async def test_editor_cannot_promote_itself(self, client, team):
        editor = team["editor"]
        r = await client.put(members_url(editor.id), json={"role": "admin"}, headers=editor.headers)
        assert_problem(r, 403)
        assert (await member_roles(client, team["admin"].headers))[editor.id] == "editor"

    async def test_admin_of_another_portal_is_403(self, client, team):
        r = await client.put(
            members_url(team["newcomer"].id),
            json={"role": "admin"},
            headers=team["other_admin"].headers,
        )
        assert_problem(r, 403)
        assert team["newcomer"].id not in await member_roles(client, team["admin"].headers)

    async def test_anonymous_is_401(self, client, team):
        r = await client.put(members_url(team["newcomer"].id), json={"role": "editor"})
        assert_problem(r, 401)

    async def test_unknown_user_is_404(self, client, team):
        r = await client.put(
            members_url("0" * 32), json={"role": "editor"}, headers=team["admin"].headers
        )
        assert_problem(r, 404, "user-not-found")

    async def test_unknown_portal_is_404(self, client, team):
        r = await client.put(
            members_url(team["newcomer"].id, portal="khong-co"),
            json={"role": "editor"},
            headers=team["admin"].headers,
        )
        assert_problem(r, 404)

    @pytest.mark.parametrize(
        "body", [{"role": "owner"}, {"role": None}, {}, {"role": "admin", "x": 1}]
    )
    async def test_invalid_role_is_422(self, client, team, body):
        r = await client.put(
            members_url(team["newcomer"].id), json=body, headers=team["admin"].headers
        )
        assert_problem(r, 422, "validation-error")
        assert team["newcomer"].id not in await member_roles(client, team["admin"].headers)

    @pytest.mark.parametrize(("user_id", "status"), [("x" * 300, 404), ("abc%00def", 400)])
    async def test_garbage_user_id_is_4xx(self, client, team, user_id, status):
        r = await client.put(
            members_url(user_id), json={"role": "editor"}, headers=team["admin"].headers
        )
        assert_problem(r, status)


class TestListMembers:
    async def test_members_see_everyone_with_their_role(self, client, team):
        roles = await member_roles(client, team["editor"].headers)
        assert roles == {team["admin"].id: "admin", team["editor"].id: "editor"}

    async def test_non_member_is_403(self, client, team):
        r = await client.get(members_url(), headers=team["other_admin"].headers)
        assert_problem(r, 403)
        assert team["editor"].username not in r.text

    async def test_anonymous_is_401(self, client, team):
        assert_problem(await client.get(members_url()), 401)

    async def test_unknown_portal_is_404(self, client, team):
        assert_problem(
            await client.get(members_url(portal="khong-co"), headers=team["admin"].headers), 404
        )


class TestRemoveMember:
    async def test_admin_removes_a_member(self, client, team):
        r = await client.delete(members_url(team["editor"].id), headers=team["admin"].headers)
        assert r.status_code == 204
        assert r.content == b""
        assert team["editor"].id not in await member_roles(client, team["admin"].headers)

    async def test_removing_a_non_member_is_404(self, client, team):
        r = await client.delete(members_url(team["newcomer"].id), headers=team["admin"].headers)
        assert_problem(r, 404)

    async def test_unknown_user_is_404(self, client, team):
        r = await client.delete(members_url("0" * 32), headers=team["admin"].headers)
        assert_problem(r, 404, "user-not-found")

    async def test_editor_and_other_admin_are_403(self, client, team):
        for who in ("editor", "other_admin"):
            r = await client.delete(members_url(team["admin"].id), headers=team[who].headers)
            assert_problem(r, 403)
        assert team["admin"].id in await member_roles(client, team["admin"].headers)

    async def test_anonymous_is_401(self, client, team):
        assert_problem(await client.delete(members_url(team["editor"].id)), 401)

    async def test_removed_member_loses_access_at_once_with_an_old_token(
        self, client, content_app, db, team
    ):
        category = await make_category(db, "phu-yen")
        editor = team["editor"]
        articles = "/v1/portals/phu-yen/articles"
        r = await client.post(
            articles,
            json=good_article(category.id, title="Bản nháp của biên tập viên"),
            headers=editor.headers,
        )
        assert r.status_code == 201, r.text
        draft = r.json()
        r = await client.delete(members_url(editor.id), headers=team["admin"].headers)
        assert r.status_code == 204
        # The old token still names phu-yen as editor; the database no longer does.
        r = await client.get(f"{articles}/{draft['id']}", headers=editor.headers)
        assert_problem(r, 404)
        assert "Bản nháp của biên tập viên" not in r.text
        r = await client.patch(
            f"{articles}/{draft['id']}",
            json={"title": "Sửa sau khi bị xoá"},
            headers=editor.headers,
        )
        assert_problem(r, 404)
        r = await client.post(articles, json=good_article(category.id), headers=editor.headers)
        assert_problem(r, 403)
        r = await client.get(f"{articles}?status=draft", headers=editor.headers)
        assert_problem(r, 404)
        me = (await client.get("/v1/me", headers=editor.headers)).json()
        assert me["memberships"] == []

    async def test_demoted_member_loses_the_higher_role_at_once(self, client, db, team):
        category = await make_category(db, "phu-yen")
        contributor = await make_user_in(client, team, "contributor")
        editor = team["editor"]
        articles = "/v1/portals/phu-yen/articles"
        r = await client.post(articles, json=good_article(category.id), headers=contributor.headers)
        url = f"{articles}/{r.json()['id']}/transitions"
        r = await client.post(url, json={"action": "submit"}, headers=contributor.headers)
        assert r.status_code == 200, r.text
        r = await client.put(
            members_url(editor.id), json={"role": "contributor"}, headers=team["admin"].headers
        )
        assert r.status_code == 200
        r = await client.post(url, json={"action": "forward"}, headers=editor.headers)
        assert_problem(r, 403, "action-forbidden")


async def make_user_in(client, team, role: str):
    """Give the newcomer `role` in phu-yen through the API and return them."""
    newcomer = team["newcomer"]
    r = await client.put(
        members_url(newcomer.id), json={"role": role}, headers=team["admin"].headers
    )
    assert r.status_code == 200, r.text
    return newcomer


class TestLastAdmin:
    """A portal keeps at least one admin, whoever asks (a superadmin too)."""

    async def test_the_last_admin_cannot_be_demoted_or_removed(self, client, content_app, db, team):
        admin = team["admin"]
        root = await make_user(content_app, db, superadmin=True)
        for who in (admin, root):
            r = await client.put(
                members_url(admin.id), json={"role": "editor"}, headers=who.headers
            )
            problem = assert_problem(r, 409, "last-admin")
            assert "quản trị viên" in problem["detail"]
            r = await client.delete(members_url(admin.id), headers=who.headers)
            assert_problem(r, 409, "last-admin")
        assert (await member_roles(client, admin.headers))[admin.id] == "admin"

    async def test_with_a_second_admin_either_can_go(self, client, team):
        admin, second = team["admin"], team["newcomer"]
        r = await client.put(members_url(second.id), json={"role": "admin"}, headers=admin.headers)
        assert r.status_code == 200, r.text
        r = await client.put(members_url(admin.id), json={"role": "editor"}, headers=admin.headers)
        assert r.status_code == 200, r.text
        r = await client.delete(members_url(admin.id), headers=second.headers)
        assert r.status_code == 204
        r = await client.delete(members_url(second.id), headers=second.headers)
        assert_problem(r, 409, "last-admin")
        assert await member_roles(client, second.headers) == {
            second.id: "admin",
            team["editor"].id: "editor",
        }
