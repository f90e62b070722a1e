"""Accounts API: tokens, JWKS, the current user, users and memberships."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from services.common.deps import SessionDep, reject_nul_bytes
from services.common.paths import PortalPath, UserIdPath
from services.common.security import TokenIssuer, TokenVerifier
from services.content.access import AccessDep
from services.content.accounts import service
from services.content.accounts.repository import memberships_of
from services.content.accounts.schemas import (
    MemberList,
    MemberRead,
    MembershipRead,
    MemberUpdate,
    MeRead,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserRead,
)
from services.content.models import User
from services.content.workflow import Role

router = APIRouter(prefix="/v1", dependencies=[Depends(reject_nul_bytes)])


def _issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.issuer
    return issuer


def _user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        is_superadmin=user.is_superadmin,
        created_at=user.created_at,
    )


@router.post("/auth/token", tags=["auth"], operation_id="createToken")
async def create_token(
    body: TokenRequest, request: Request, session: SessionDep, response: Response
) -> TokenResponse:
    """Sign in with a username and password; returns an access and a refresh token."""
    response.headers["Cache-Control"] = "no-store"
    return await service.sign_in(
        session, issuer=_issuer(request), username=body.username, password=body.password
    )


@router.post("/auth/refresh", tags=["auth"], operation_id="refreshToken")
async def refresh_token(
    body: RefreshRequest, request: Request, session: SessionDep, response: Response
) -> TokenResponse:
    """Exchange a refresh token for a new access token (and a new refresh token)."""
    response.headers["Cache-Control"] = "no-store"
    verifier: TokenVerifier = request.app.state.verifier
    return await service.refresh(
        session, issuer=_issuer(request), verifier=verifier, refresh_token=body.refresh_token
    )


@router.get("/auth/jwks.json", tags=["auth"], operation_id="getJwks")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    """Public keys that verify the platform's tokens (JWKS, RFC 7517)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return _issuer(request).jwks()


@router.get("/me", tags=["auth"], operation_id="getMe")
async def me(session: SessionDep, access: AccessDep) -> MeRead:
    """The signed-in user and their role in each portal."""
    user_id = access.require_signed_in()
    user = await session.get(User, user_id)
    assert user is not None
    roles = await memberships_of(session, user_id)
    return MeRead(
        **_user_read(user).model_dump(),
        memberships=[MembershipRead(portal=p, role=Role(r)) for p, r in sorted(roles.items())],
    )


@router.post("/users", tags=["users"], operation_id="createUser", status_code=201)
async def create_user(body: UserCreate, session: SessionDep, access: AccessDep) -> UserRead:
    """Create an account (superadmin or any portal admin); add it to a portal next."""
    return _user_read(await service.create_user(session, access=access, data=body))


@router.get("/portals/{portal}/members", tags=["users"], operation_id="listMembers")
async def list_members(portal: PortalPath, session: SessionDep, access: AccessDep) -> MemberList:
    """Members of a portal and their roles (members of that portal only)."""
    return MemberList(items=await service.list_members(session, access=access, portal=portal))


@router.put("/portals/{portal}/members/{user_id}", tags=["users"], operation_id="setMember")
async def set_member(
    portal: PortalPath,
    user_id: UserIdPath,
    body: MemberUpdate,
    session: SessionDep,
    access: AccessDep,
) -> MemberRead:
    """Give a user a role in a portal, or change it (portal admin)."""
    return await service.set_membership(
        session, access=access, portal=portal, user_id=user_id, role=body.role
    )


@router.delete(
    "/portals/{portal}/members/{user_id}",
    tags=["users"],
    operation_id="removeMember",
    status_code=204,
)
async def remove_member(
    portal: PortalPath, user_id: UserIdPath, session: SessionDep, access: AccessDep
) -> None:
    """Remove a user from a portal (portal admin)."""
    await service.remove_membership(session, access=access, portal=portal, user_id=user_id)
