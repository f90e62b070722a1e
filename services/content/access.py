"""Who may do what in which portal, with memberships read from the database.

The content service owns memberships, so it trusts its own tables over the roles a token
carries: a removed member loses access at once, not when the token expires. Likewise for
sessions: an access token names its sign-in session (`sid`), and a token whose session was
revoked (sign-out, password change, deactivation, a reused refresh token) is refused.
Other services learn both by asking `/v1/me` with the caller's token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from sqlalchemy import and_, select

from services.common.deps import OptionalPrincipalDep, PrincipalDep, SessionDep
from services.common.errors import Forbidden, NotFound, Unauthorized
from services.common.i18n import Msg
from services.common.security import Principal
from services.content.models import AuthSession, Membership, User
from services.content.workflow import Actor, Role

ROLE_RANK = {Role.CONTRIBUTOR: 1, Role.EDITOR: 2, Role.HEAD: 3, Role.APPROVER: 4, Role.ADMIN: 5}


@dataclass(frozen=True)
class Access:
    """The caller as the content service sees it."""

    user_id: str | None = None
    username: str = ""
    full_name: str = ""
    is_superadmin: bool = False
    roles: dict[str, Role] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    def role_in(self, portal: str) -> Role | None:
        return self.roles.get(portal)

    def is_staff(self, portal: str) -> bool:
        """A member of `portal` (any role) or a superadmin sees its drafts and queues."""
        return self.is_superadmin or portal in self.roles

    def has_role(self, portal: str, minimum: Role) -> bool:
        if self.is_superadmin:
            return True
        role = self.roles.get(portal)
        return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]

    def is_admin_somewhere(self) -> bool:
        return self.is_superadmin or Role.ADMIN in self.roles.values()

    def actor(self, portal: str) -> Actor:
        assert self.user_id is not None
        return Actor(
            user_id=self.user_id, role=self.roles.get(portal), is_superadmin=self.is_superadmin
        )

    def require_signed_in(self) -> str:
        if self.user_id is None:
            raise Unauthorized(SIGN_IN)
        return self.user_id

    def require_role(self, portal: str, minimum: Role) -> None:
        """403 unless the caller has `minimum` or higher in `portal` (401 if anonymous)."""
        self.require_signed_in()
        if not self.has_role(portal, minimum):
            raise Forbidden(
                Msg(
                    "Cần vai trò '{role}' trở lên tại cổng '{portal}'.",
                    "This needs the role '{role}' or higher in portal '{portal}'.",
                ).format(role=minimum.value, portal=portal)
            )


SIGN_IN = Msg(
    "Cần đăng nhập: gửi header 'Authorization: Bearer <token>' lấy từ /v1/auth/token.",
    "Sign in first: send 'Authorization: Bearer <token>' from /v1/auth/token.",
)

SESSION_ENDED = Msg(
    "Phiên đăng nhập đã kết thúc (đăng xuất, đổi mật khẩu hoặc bị thu hồi); hãy đăng nhập "
    "lại qua /v1/auth/token.",
    "This session has ended (signed out, password changed or revoked); sign in again at "
    "/v1/auth/token.",
)

ANONYMOUS = Access()


async def load_access(session: SessionDep, principal: Principal | None) -> Access:
    """Resolve a token's subject to the current user and memberships (401 if gone)."""
    if principal is None:
        return ANONYMOUS
    # The user and their session in one round trip; a token without a session (issued
    # before sessions existed, at most 15 minutes ago) or with a revoked one is refused.
    row = (
        await session.execute(
            select(User, AuthSession.id)
            .outerjoin(
                AuthSession,
                and_(
                    AuthSession.id == (principal.session_id or ""),
                    AuthSession.user_id == User.id,
                    AuthSession.revoked_at.is_(None),
                ),
            )
            .where(User.id == principal.subject)
        )
    ).first()
    user = row[0] if row else None
    if user is None or not user.is_active:
        raise Unauthorized(
            Msg(
                "Tài khoản không còn hoạt động; hãy liên hệ quản trị viên.",
                "This account is no longer active; contact an administrator.",
            )
        )
    if row is None or row[1] is None:
        raise Unauthorized(SESSION_ENDED)
    rows = await session.execute(
        select(Membership.portal_id, Membership.role).where(Membership.user_id == user.id)
    )
    return Access(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        is_superadmin=user.is_superadmin,
        roles={portal: Role(role) for portal, role in rows.all()},
    )


async def get_access(session: SessionDep, principal: OptionalPrincipalDep) -> Access:
    return await load_access(session, principal)


AccessDep = Annotated[Access, Depends(get_access)]


async def get_signed_in_access(session: SessionDep, principal: PrincipalDep) -> Access:
    """The caller of an operation that needs one: depending on `require_principal` makes
    a missing or bad token a 401 before the body is read (`services.common.limits`)."""
    return await load_access(session, principal)


SignedInAccessDep = Annotated[Access, Depends(get_signed_in_access)]


def portal_not_found(portal: str) -> NotFound:
    return NotFound(
        Msg("Không có cổng thông tin '{portal}'.", "There is no portal '{portal}'.").format(
            portal=portal
        )
    )
