"""SQL of users, memberships and sign-in sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.content.models import AuthSession, Membership, User


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    if "\x00" in username:  # no account has one, and PostgreSQL cannot compare it
        return None
    result = await session.execute(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    return result.scalar_one_or_none()


async def memberships_of(session: AsyncSession, user_id: str) -> dict[str, str]:
    rows = await session.execute(
        select(Membership.portal_id, Membership.role).where(Membership.user_id == user_id)
    )
    return dict(rows.all())


async def get_membership(session: AsyncSession, user_id: str, portal: str) -> Membership | None:
    return await session.get(Membership, (user_id, portal))


async def lock_admins(session: AsyncSession, portal: str) -> list[str]:
    """The user ids of the portal's admins, their rows locked until the transaction ends."""
    rows = await session.scalars(
        select(Membership.user_id)
        .where(Membership.portal_id == portal, Membership.role == "admin")
        .with_for_update()
    )
    return list(rows)


def _another_admin(user_id: str, portal: str) -> ColumnElement[bool]:
    other = aliased(Membership)
    return exists().where(
        other.portal_id == portal, other.role == "admin", other.user_id != user_id
    )


async def demote_admin(session: AsyncSession, user_id: str, portal: str, role: str) -> bool:
    """Give an admin another role, only if another admin remains (checked in the same
    statement, so under SQLite's write lock as well as PostgreSQL's row locks)."""
    result = await session.execute(
        update(Membership)
        .where(
            Membership.user_id == user_id,
            Membership.portal_id == portal,
            _another_admin(user_id, portal),
        )
        .values(role=role)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_membership(
    session: AsyncSession, user_id: str, portal: str, *, keep_an_admin: bool = False
) -> int:
    """Delete a membership; with `keep_an_admin`, only while another admin remains."""
    statement = delete(Membership).where(
        Membership.user_id == user_id, Membership.portal_id == portal
    )
    if keep_an_admin:
        statement = statement.where(_another_admin(user_id, portal))
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def members_of(session: AsyncSession, portal: str) -> Sequence[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.portal_id == portal)
        .order_by(User.username)
    )
    return [(m, u) for m, u in rows.all()]


# Sign-in sessions (refresh-token families).


async def create_session(session: AsyncSession, user_id: str, refresh_jti: str) -> AuthSession:
    auth = AuthSession(user_id=user_id, refresh_jti=refresh_jti)
    session.add(auth)
    await session.flush()
    return auth


async def get_session(session: AsyncSession, session_id: str) -> AuthSession | None:
    return await session.get(AuthSession, session_id)


async def rotate_refresh(
    session: AsyncSession, session_id: str, *, old_jti: str, new_jti: str, now: datetime
) -> bool:
    """Replace the family's current refresh token, only if `old_jti` still is it and the
    family is live (one statement: of two concurrent refreshes with the same token, one
    wins and the other sees a reuse)."""
    result = await session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.refresh_jti == old_jti,
            AuthSession.revoked_at.is_(None),
        )
        .values(refresh_jti=new_jti, refreshed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_sessions(
    session: AsyncSession,
    *,
    user_id: str,
    reason: str,
    now: datetime,
    only: str | None = None,
    keep: str | None = None,
) -> int:
    """Revoke the user's live sessions: all of them, `only` one, or all but `keep`."""
    statement = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if only is not None:
        statement = statement.where(AuthSession.id == only)
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    result = await session.execute(
        statement.values(revoked_at=now, revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_sessions_idle_since(session: AsyncSession, user_id: str, before: datetime) -> None:
    """Forget the user's sessions not refreshed since `before`: every token of theirs has
    expired, so they could neither be used nor revoked any more."""
    await session.execute(
        delete(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.refreshed_at < before)
        .execution_options(synchronize_session=False)
    )
