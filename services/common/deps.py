"""FastAPI dependencies every service shares: the request's session and principal.

The session dependency runs with `scope="function"`, so the transaction commits (or rolls
back) before the response is sent: a client never sees 200 for a write that failed.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.errors import BadRequest, Unauthorized
from services.common.i18n import Msg
from services.common.security import Principal, TokenVerifier


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on error."""
    async with get_database(request).transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_NO_TOKEN = Msg(
    "Cần đăng nhập: gửi header 'Authorization: Bearer <token>' lấy từ /v1/auth/token.",
    "Sign in first: send 'Authorization: Bearer <token>' from /v1/auth/token.",
)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_NO_TOKEN)
    return token.strip()


async def optional_principal(request: Request) -> Principal | None:
    """The caller if a token was sent (and is valid), None for anonymous readers."""
    cached = request.scope.get("state", {}).get("principal")
    if isinstance(cached, Principal):
        return cached
    token = _bearer(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token)
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The signed-in caller; 401 otherwise."""
    if principal is None:
        raise Unauthorized(_NO_TOKEN)
    return principal


NUL_IN_REQUEST = Msg(
    "Địa chỉ hoặc tham số chứa ký tự NUL (%00) không hợp lệ.",
    "The path or a query parameter contains a NUL character (%00).",
)


async def reject_nul_bytes(request: Request) -> None:
    """400 when the path or the query string holds a NUL character (`%00`)."""
    # PostgreSQL can neither store nor compare NUL: unchecked, the first query fails with 500.
    values = [*request.path_params.values(), *request.query_params.values()]
    if any("\x00" in str(value) for value in values):
        raise BadRequest(NUL_IN_REQUEST)


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
PrincipalDep = Annotated[Principal, Depends(require_principal)]


def require_shared_secret(request: Request, secret: SecretStr | None) -> None:
    """For service-to-service endpoints: when `secret` is set, the caller must send it
    as a Bearer token (compared in constant time); when it is not, nothing is checked."""
    if secret is None:
        return
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), secret.get_secret_value().encode()):
        raise Unauthorized(
            Msg("Sai mã truy cập giữa các dịch vụ.", "Wrong service-to-service token.")
        )
