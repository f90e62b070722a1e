"""Accounts: sign-in, tokens, users and portal memberships."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, Forbidden, NotFound, Unauthorized
from services.common.i18n import Msg
from services.common.security import Principal, TokenIssuer, TokenVerifier
from services.content.access import Access, portal_not_found
from services.content.accounts import repository
from services.content.accounts.passwords import hash_password, needs_rehash, verify_password
from services.content.accounts.schemas import (
    MemberRead,
    TokenResponse,
    UserCreate,
)
from services.content.models import Membership, Portal, User
from services.content.workflow import Role


class InvalidCredentials(Unauthorized):
    slug = "invalid-credentials"
    title = Msg("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password")


class UsernameTaken(Conflict):
    slug = "username-taken"


class UserNotFound(NotFound):
    slug = "user-not-found"


class LastAdmin(Conflict):
    slug = "last-admin"


async def _keep_an_admin(session: AsyncSession, portal: str, membership: Membership | None) -> None:
    """Refuse to demote or remove a portal's last admin: nobody could then manage its
    members, categories or settings but a superadmin. The admins' rows are locked, so two
    admins demoting each other at once cannot both succeed."""
    if membership is None or membership.role != Role.ADMIN.value:
        return
    admins = await repository.lock_admins(session, portal)
    if set(admins) <= {membership.user_id}:
        raise LastAdmin(
            Msg(
                "Cổng phải còn ít nhất một quản trị viên: hãy giao quyền quản trị cho người "
                "khác trước.",
                "A portal must keep at least one admin: make someone else an admin first.",
            )
        )


def _tokens(issuer: TokenIssuer, user: User, roles: dict[str, str]) -> TokenResponse:
    access, ttl = issuer.issue(
        subject=user.id, username=user.username, roles=roles, is_superadmin=user.is_superadmin
    )
    refresh, _ = issuer.issue(
        subject=user.id,
        username=user.username,
        roles={},
        is_superadmin=False,
        token_type="refresh",
    )
    return TokenResponse(access_token=access, expires_in=ttl, refresh_token=refresh)


async def sign_in(
    session: AsyncSession, *, issuer: TokenIssuer, username: str, password: str
) -> TokenResponse:
    """Tokens for a correct username and password; the same 401 for any mistake."""
    user = await repository.user_by_username(session, username)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise InvalidCredentials(
            Msg(
                "Tên đăng nhập hoặc mật khẩu không đúng.",
                "The username or the password is wrong.",
            )
        )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _tokens(issuer, user, await repository.memberships_of(session, user.id))


async def refresh(
    session: AsyncSession, *, issuer: TokenIssuer, verifier: TokenVerifier, refresh_token: str
) -> TokenResponse:
    """New tokens for a valid refresh token of a user who is still active."""
    principal: Principal = await verifier.verify(refresh_token, token_type="refresh")
    user = await session.get(User, principal.subject)
    if user is None or not user.is_active:
        raise InvalidCredentials(
            Msg("Tài khoản không còn hoạt động.", "This account is no longer active.")
        )
    return _tokens(issuer, user, await repository.memberships_of(session, user.id))


async def create_user(session: AsyncSession, *, access: Access, data: UserCreate) -> User:
    """A new account; superadmins and portal admins may create them."""
    access.require_signed_in()
    if not access.is_admin_somewhere():
        raise Forbidden(
            Msg(
                "Chỉ quản trị viên cổng hoặc quản trị hệ thống được tạo tài khoản.",
                "Only portal admins and superadmins may create accounts.",
            )
        )
    if await repository.user_by_username(session, data.username) is not None:
        raise UsernameTaken(
            Msg(
                "Tên đăng nhập '{u}' đã được dùng; hãy chọn tên khác.",
                "The username '{u}' is taken; choose another one.",
            ).format(u=data.username)
        )
    user = User(
        username=data.username,
        password_hash=hash_password(data.password),
        full_name=data.full_name,
        email=str(data.email) if data.email else None,
    )
    session.add(user)
    await session.flush()
    return user


async def _portal_and_user(session: AsyncSession, portal: str, user_id: str) -> User:
    if await session.get(Portal, portal) is None:
        raise portal_not_found(portal)
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(
            Msg("Không có tài khoản '{id}'.", "There is no user '{id}'.").format(id=user_id)
        )
    return user


async def set_membership(
    session: AsyncSession, *, access: Access, portal: str, user_id: str, role: Role
) -> MemberRead:
    """Give `user_id` a role in `portal` (portal admins and superadmins)."""
    access.require_signed_in()
    if await session.get(Portal, portal) is None:
        raise portal_not_found(portal)
    access.require_role(portal, Role.ADMIN)
    user = await _portal_and_user(session, portal, user_id)
    membership = await repository.get_membership(session, user_id, portal)
    if membership is None:
        session.add(Membership(user_id=user_id, portal_id=portal, role=role.value))
    else:
        if role != Role.ADMIN:
            await _keep_an_admin(session, portal, membership)
        membership.role = role.value
    await session.flush()
    return MemberRead(
        user_id=user.id, username=user.username, full_name=user.full_name, portal=portal, role=role
    )


async def remove_membership(
    session: AsyncSession, *, access: Access, portal: str, user_id: str
) -> None:
    """Take `user_id` out of `portal`."""
    access.require_signed_in()
    if await session.get(Portal, portal) is None:
        raise portal_not_found(portal)
    access.require_role(portal, Role.ADMIN)
    await _portal_and_user(session, portal, user_id)
    await _keep_an_admin(session, portal, await repository.get_membership(session, user_id, portal))
    if await repository.delete_membership(session, user_id, portal) == 0:
        raise NotFound(
            Msg("Người này không phải thành viên của cổng.", "This user is not a member.")
        )


async def list_members(session: AsyncSession, *, access: Access, portal: str) -> list[MemberRead]:
    """Members of `portal` with their roles (visible to its members)."""
    access.require_signed_in()
    if await session.get(Portal, portal) is None:
        raise portal_not_found(portal)
    # Portals are public, so a non-member learns nothing from a 403; a 404 would claim the
    # portal does not exist.
    access.require_role(portal, Role.CONTRIBUTOR)
    return [
        MemberRead(
            user_id=u.id,
            username=u.username,
            full_name=u.full_name,
            portal=portal,
            role=Role(m.role),
        )
        for m, u in await repository.members_of(session, portal)
    ]
