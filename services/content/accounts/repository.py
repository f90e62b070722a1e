"""SQL of users and memberships."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content.models import Membership, User


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


async def delete_membership(session: AsyncSession, user_id: str, portal: str) -> int:
    result = await session.execute(
        delete(Membership).where(Membership.user_id == user_id, Membership.portal_id == portal)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def members_of(session: AsyncSession, portal: str) -> Sequence[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.portal_id == portal)
        .order_by(User.username)
    )
    return [(m, u) for m, u in rows.all()]
