"""Accounts: sign-in, tokens, users and portal memberships."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from services.common.i18n import Msg
from services.common.security import REFRESH_TTL, Principal, TokenIssuer, TokenVerifier
from services.content.access import SIGN_IN, Access, portal_not_found
from services.content.accounts import repository
from services.content.accounts.passwords import PasswordHashing, needs_rehash
from services.content.accounts.schemas import (
    MemberRead,
    TokenResponse,
    UserCreate,
)
from services.content.accounts.throttle import SignInThrottle
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


class RefreshTokenReused(Unauthorized):
    slug = "refresh-token-reused"
    title = Msg("Mã làm mới đã được dùng", "Refresh token already used")


class WrongPassword(Forbidden):
    slug = "wrong-password"
    title = Msg("Sai mật khẩu", "Wrong password")


class SamePassword(Unprocessable):
    slug = "same-password"
    title = Msg("Mật khẩu không đổi", "Password unchanged")


class CannotDeactivateSelf(Conflict):
    slug = "cannot-deactivate-self"


async def _keep_an_admin(session: AsyncSession, portal: str, membership: Membership | None) -> None:
    """Refuse to demote or remove a portal's last admin: nobody could then manage its
    members, categories or settings but a superadmin. On PostgreSQL the admins' rows are
    locked here; the demotion itself is conditional on another admin remaining (see
    `repository.demote_admin`), which is what holds on SQLite, where FOR UPDATE does
    nothing: two admins demoting each other at once cannot both succeed."""
    if membership is None or membership.role != Role.ADMIN.value:
        return
    admins = await repository.lock_admins(session, portal)
    if set(admins) <= {membership.user_id}:
        raise _last_admin()


def _last_admin() -> LastAdmin:
    return LastAdmin(
        Msg(
            "Cổng phải còn ít nhất một quản trị viên: hãy giao quyền quản trị cho người "
            "khác trước.",
            "A portal must keep at least one admin: make someone else an admin first.",
        )
    )


_WRONG = Msg(
    "Tên đăng nhập hoặc mật khẩu không đúng.",
    "The username or the password is wrong.",
)
_SESSION_ENDED = Msg(
    "Phiên đăng nhập đã kết thúc; hãy đăng nhập lại qua /v1/auth/token.",
    "This session has ended; sign in again at /v1/auth/token.",
)


async def _tokens(
    session: AsyncSession, issuer: TokenIssuer, user: User, *, session_id: str, refresh_jti: str
) -> TokenResponse:
    roles = await repository.memberships_of(session, user.id)
    access, ttl = issuer.issue(
        subject=user.id,
        username=user.username,
        roles=roles,
        is_superadmin=user.is_superadmin,
        session_id=session_id,
    )
    refresh, _ = issuer.issue(
        subject=user.id,
        username=user.username,
        roles={},
        is_superadmin=False,
        token_type="refresh",
        session_id=session_id,
        token_id=refresh_jti,
    )
    return TokenResponse(access_token=access, expires_in=ttl, refresh_token=refresh)


async def sign_in(
    session: AsyncSession,
    *,
    issuer: TokenIssuer,
    hashing: PasswordHashing,
    throttle: SignInThrottle,
    address: str,
    username: str,
    password: str,
) -> TokenResponse:
    """Tokens for a correct username and password, opening a new session; the same 401
    for any mistake, and a 429 without checking the password while throttled."""
    account = throttle.account_key(username)
    await throttle.begin(account, address)
    try:
        user = await repository.user_by_username(session, username)
        ok = await hashing.verify(user.password_hash if user else None, password)
    except BaseException:
        await throttle.release(account, address)
        raise
    ok = ok and user is not None and user.is_active
    await throttle.end(account, address, succeeded=ok)
    if not ok or user is None:
        raise InvalidCredentials(_WRONG)
    if needs_rehash(user.password_hash):
        user.password_hash = await hashing.hash(password)
    # Each sign-in adds a session; the user's long-dead ones go at the same time.
    await repository.delete_sessions_idle_since(
        session, user.id, datetime.now(UTC) - REFRESH_TTL - timedelta(days=1)
    )
    jti = uuid.uuid4().hex
    auth = await repository.create_session(session, user.id, jti)
    return await _tokens(session, issuer, user, session_id=auth.id, refresh_jti=jti)


async def refresh(
    session: AsyncSession, *, issuer: TokenIssuer, verifier: TokenVerifier, refresh_token: str
) -> TokenResponse:
    """New tokens for the current refresh token of a live session of an active user. A
    refresh token that was already exchanged revokes its whole session (it was copied:
    whoever holds the other copy is signed out too) and raises `RefreshTokenReused`,
    which the caller must commit before answering."""
    principal: Principal = await verifier.verify(refresh_token, token_type="refresh")
    if principal.session_id is None or principal.token_id is None:
        raise InvalidCredentials(_SESSION_ENDED)  # issued before sessions existed
    auth = await repository.get_session(session, principal.session_id)
    if auth is None or auth.user_id != principal.subject or auth.revoked_at is not None:
        raise InvalidCredentials(_SESSION_ENDED)
    jti = uuid.uuid4().hex
    now = datetime.now(UTC)
    if not await repository.rotate_refresh(
        session, auth.id, old_jti=principal.token_id, new_jti=jti, now=now
    ):
        await repository.revoke_sessions(
            session, user_id=auth.user_id, only=auth.id, reason="refresh-reuse", now=now
        )
        raise RefreshTokenReused(
            Msg(
                "Mã làm mới này đã được dùng; để an toàn phiên đăng nhập đã bị thu hồi. "
                "Hãy đăng nhập lại qua /v1/auth/token.",
                "This refresh token was already used; for safety its session has been "
                "revoked. Sign in again at /v1/auth/token.",
            )
        )
    user = await session.get(User, principal.subject)
    if user is None or not user.is_active:
        raise InvalidCredentials(
            Msg("Tài khoản không còn hoạt động.", "This account is no longer active.")
        )
    return await _tokens(session, issuer, user, session_id=auth.id, refresh_jti=jti)


async def sign_out(
    session: AsyncSession,
    *,
    verifier: TokenVerifier,
    principal: Principal | None,
    refresh_token: str | None,
) -> None:
    """Revoke the session of the access token and/or of `refresh_token` (idempotent)."""
    targets: list[Principal] = []
    if refresh_token is not None:
        targets.append(await verifier.verify(refresh_token, token_type="refresh"))
    if principal is not None:
        targets.append(principal)
    if not targets:
        raise Unauthorized(SIGN_IN)
    now = datetime.now(UTC)
    for target in targets:
        if target.session_id is not None:
            await repository.revoke_sessions(
                session, user_id=target.subject, only=target.session_id, reason="sign-out", now=now
            )


async def change_password(
    session: AsyncSession,
    *,
    access: Access,
    principal: Principal,
    hashing: PasswordHashing,
    throttle: SignInThrottle,
    address: str,
    current_password: str,
    new_password: str,
) -> None:
    """Replace the caller's password after checking the current one; every other session
    of theirs is revoked (this one stays signed in). Wrong current passwords are throttled
    like sign-ins."""
    user_id = access.require_signed_in()
    user = await session.get(User, user_id)
    assert user is not None  # load_access found it active a moment ago
    account = throttle.account_key(user.username)
    await throttle.begin(account, address)
    try:
        ok = await hashing.verify(user.password_hash, current_password)
    except BaseException:
        await throttle.release(account, address)
        raise
    await throttle.end(account, address, succeeded=ok)
    if not ok:
        raise WrongPassword(
            Msg(
                "Mật khẩu hiện tại không đúng.",
                "The current password is wrong.",
            )
        )
    if new_password == current_password:
        raise SamePassword(
            Msg(
                "Mật khẩu mới phải khác mật khẩu hiện tại.",
                "The new password must differ from the current one.",
            )
        )
    user.password_hash = await hashing.hash(new_password)
    await repository.revoke_sessions(
        session,
        user_id=user.id,
        keep=principal.session_id,
        reason="password-change",
        now=datetime.now(UTC),
    )
    await session.flush()


async def set_active(
    session: AsyncSession, *, access: Access, user_id: str, is_active: bool
) -> User:
    """Deactivate (ending every session) or reactivate an account (superadmins only)."""
    caller = access.require_signed_in()
    if not access.is_superadmin:
        raise Forbidden(
            Msg(
                "Chỉ quản trị hệ thống được khóa hoặc mở khóa tài khoản; quản trị viên cổng "
                "hãy xóa thành viên khỏi cổng của mình.",
                "Only superadmins may deactivate or reactivate accounts; a portal admin "
                "removes the member from their own portal instead.",
            )
        )
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(
            Msg("Không có tài khoản '{id}'.", "There is no user '{id}'.").format(id=user_id)
        )
    if user.id == caller and not is_active:
        raise CannotDeactivateSelf(
            Msg(
                "Không thể tự khóa tài khoản của mình; hãy nhờ một quản trị hệ thống khác.",
                "You cannot deactivate your own account; ask another superadmin.",
            )
        )
    user.is_active = is_active
    if not is_active:
        await repository.revoke_sessions(
            session, user_id=user.id, reason="deactivated", now=datetime.now(UTC)
        )
    await session.flush()
    return user


async def create_user(
    session: AsyncSession, *, access: Access, hashing: PasswordHashing, data: UserCreate
) -> User:
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
        password_hash=await hashing.hash(data.password),
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
    elif membership.role == Role.ADMIN.value and role != Role.ADMIN:
        await _keep_an_admin(session, portal, membership)
        if not await repository.demote_admin(session, user_id, portal, role.value):
            raise _last_admin()  # the other admin went in the meantime
    else:
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
    membership = await repository.get_membership(session, user_id, portal)
    await _keep_an_admin(session, portal, membership)
    is_admin = membership is not None and membership.role == Role.ADMIN.value
    if await repository.delete_membership(session, user_id, portal, keep_an_admin=is_admin) == 0:
        if is_admin:
            raise _last_admin()  # the other admin went in the meantime
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
