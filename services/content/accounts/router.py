"""Accounts API: tokens, JWKS, the current user, users and memberships."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from services.common.addresses import cached_client_address, limit_key
from services.common.deps import OptionalPrincipalDep, SessionDep, get_database, reject_nul_bytes
from services.common.errors import ProblemError
from services.common.paths import PortalPath, UserIdPath
from services.common.security import TokenIssuer, TokenVerifier
from services.content.access import AccessDep, SignedInAccessDep
from services.content.accounts import service
from services.content.accounts.passwords import PasswordHashing
from services.content.accounts.repository import memberships_of
from services.content.accounts.schemas import (
    MemberList,
    MemberRead,
    MembershipRead,
    MemberUpdate,
    MeRead,
    PasswordChange,
    RefreshRequest,
    SignOutRequest,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from services.content.accounts.throttle import SignInThrottle
from services.content.models import User
from services.content.workflow import Role

router = APIRouter(prefix="/v1", dependencies=[Depends(reject_nul_bytes)])

_PROBLEMS = {
    401: "Not signed in, or the token or credentials are not valid.",
    403: "Signed in without the right to do this.",
    404: "No such user or portal.",
    409: "Conflicts with the current state.",
    422: "The body is not valid (`errors` lists each field).",
    429: "Too many attempts: wait `Retry-After` seconds (RateLimit headers say why).",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an operation may give."""
    return {
        status: {
            "description": _PROBLEMS[status],
            "content": {"application/problem+json": {"schema": {"type": "object"}}},
        }
        for status in statuses
    }


def _issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.issuer
    return issuer


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


def _hashing(request: Request) -> PasswordHashing:
    hashing: PasswordHashing = request.app.state.hashing
    return hashing


def _throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


def _address(request: Request) -> str:
    """The client address sign-ins are counted under (through trusted proxies only)."""
    peer = request.client.host if request.client else None
    address = cached_client_address(
        peer,
        tuple(request.headers.getlist("x-forwarded-for")),
        request.app.state.trusted_proxies,
    )
    return limit_key(address)


def _user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        is_superadmin=user.is_superadmin,
        is_active=user.is_active,
        created_at=user.created_at,
    )


@router.post(
    "/auth/token",
    tags=["auth"],
    operation_id="createToken",
    responses=_problems(401, 422, 429),
)
async def create_token(
    body: TokenRequest, request: Request, session: SessionDep, response: Response
) -> TokenResponse:
    """Sign in with a username and password; returns an access and a refresh token."""
    response.headers["Cache-Control"] = "no-store"
    return await service.sign_in(
        session,
        issuer=_issuer(request),
        hashing=_hashing(request),
        throttle=_throttle(request),
        address=_address(request),
        username=body.username,
        password=body.password,
    )


@router.post(
    "/auth/refresh",
    tags=["auth"],
    operation_id="refreshToken",
    responses=_problems(401, 422),
)
async def refresh_token(
    body: RefreshRequest, request: Request, response: Response
) -> TokenResponse:
    """Exchange the current refresh token for new tokens; a reused one ends the session."""
    response.headers["Cache-Control"] = "no-store"
    # Not SessionDep: a reused token's revocation must be committed, yet answered with 401.
    refused: ProblemError | None = None
    async with get_database(request).transaction() as session:
        try:
            return await service.refresh(
                session,
                issuer=_issuer(request),
                verifier=_verifier(request),
                refresh_token=body.refresh_token,
            )
        except service.RefreshTokenReused as reused:
            refused = reused
    raise refused


@router.post(
    "/auth/sign-out",
    tags=["auth"],
    operation_id="signOut",
    status_code=204,
    responses=_problems(401, 422),
)
async def sign_out(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipalDep,
    body: SignOutRequest | None = None,
) -> None:
    """End a session: the access token's, and/or the one of `refresh_token` in the body."""
    await service.sign_out(
        session,
        verifier=_verifier(request),
        principal=principal,
        refresh_token=body.refresh_token if body else None,
    )


@router.get("/auth/jwks.json", tags=["auth"], operation_id="getJwks")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    """Public keys that verify the platform's tokens (JWKS, RFC 7517)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return _issuer(request).jwks()


@router.get("/me", tags=["auth"], operation_id="getMe", responses=_problems(401))
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


@router.post(
    "/me/password",
    tags=["auth"],
    operation_id="changePassword",
    status_code=204,
    responses=_problems(401, 403, 422, 429),
)
async def change_password(
    body: PasswordChange,
    request: Request,
    session: SessionDep,
    access: SignedInAccessDep,
    principal: OptionalPrincipalDep,
) -> None:
    """Change your password; your other sessions end, this one stays signed in."""
    access.require_signed_in()
    assert principal is not None
    await service.change_password(
        session,
        access=access,
        principal=principal,
        hashing=_hashing(request),
        throttle=_throttle(request),
        address=_address(request),
        current_password=body.current_password,
        new_password=body.new_password,
    )


@router.post(
    "/users",
    tags=["users"],
    operation_id="createUser",
    status_code=201,
    responses=_problems(401, 403, 409, 422),
)
async def create_user(
    body: UserCreate, request: Request, session: SessionDep, access: SignedInAccessDep
) -> UserRead:
    """Create an account (superadmin or any portal admin); add it to a portal next."""
    return _user_read(
        await service.create_user(session, access=access, hashing=_hashing(request), data=body)
    )


@router.patch(
    "/users/{user_id}",
    tags=["users"],
    operation_id="updateUser",
    responses=_problems(401, 403, 404, 409, 422),
)
async def update_user(
    user_id: UserIdPath, body: UserUpdate, session: SessionDep, access: SignedInAccessDep
) -> UserRead:
    """Deactivate an account platform-wide, ending its sessions, or reactivate it (superadmin)."""
    return _user_read(
        await service.set_active(session, access=access, user_id=user_id, is_active=body.is_active)
    )


@router.get(
    "/portals/{portal}/members",
    tags=["users"],
    operation_id="listMembers",
    responses=_problems(401, 403, 404),
)
async def list_members(portal: PortalPath, session: SessionDep, access: AccessDep) -> MemberList:
    """Members of a portal and their roles (members of that portal only)."""
    return MemberList(items=await service.list_members(session, access=access, portal=portal))


@router.put(
    "/portals/{portal}/members/{user_id}",
    tags=["users"],
    operation_id="setMember",
    responses=_problems(401, 403, 404, 409, 422),
)
async def set_member(
    portal: PortalPath,
    user_id: UserIdPath,
    body: MemberUpdate,
    session: SessionDep,
    access: SignedInAccessDep,
) -> MemberRead:
    """Give a user a role in a portal, or change it (portal admin; the last admin stays)."""
    return await service.set_membership(
        session, access=access, portal=portal, user_id=user_id, role=body.role
    )


@router.delete(
    "/portals/{portal}/members/{user_id}",
    tags=["users"],
    operation_id="removeMember",
    status_code=204,
    responses=_problems(401, 403, 404, 409),
)
async def remove_member(
    portal: PortalPath, user_id: UserIdPath, session: SessionDep, access: SignedInAccessDep
) -> None:
    """Remove a user from a portal (portal admin; the last admin stays)."""
    await service.remove_membership(session, access=access, portal=portal, user_id=user_id)
