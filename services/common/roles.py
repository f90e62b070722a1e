"""The caller's current roles, as the content service sees them now.

A token carries the roles its user had when it was signed, and lives for 15 minutes. The
content service owns accounts and memberships and reads them from its tables on every
request; every other service asks content the same question, so that a member removed
from a portal, or a user deactivated or signed out, loses access everywhere within seconds:

    RoleLookup.current(token)   GET /v1/me on content with the caller's own token
                                → Principal(roles, is_superadmin) as content says now
                                → 401 when content refuses the token (deactivated, revoked)
                                → 503 when content cannot answer (never the token's roles)

The caller's own token (not a service secret) is what content checks: the answer is
exactly what that caller could read there, and every check content applies to a token
(active user, revocation) applies here too. Answers are cached per token (by its SHA-256,
so one caller's answer never serves another) for at most five seconds, in a bounded
cache; concurrent requests with the same token share one call to content.

Routes take `CurrentPrincipalDep` (protected: the roles are looked up before the handler
runs) or `CallerDep` (public reads: the lookup happens only when the decision needs it,
e.g. a draft asset, so anonymous and public reads never depend on content).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
from cachetools import TTLCache
from fastapi import Depends, Request

from services.common.deps import OptionalPrincipalDep, PrincipalDep
from services.common.errors import ServiceUnavailable, Unauthorized
from services.common.i18n import Msg
from services.common.security import Principal

log = logging.getLogger(__name__)
MAX_CACHE_SECONDS = 5.0
RETRY_AFTER = "5"


class RolesUnavailable(ServiceUnavailable):
    """Content cannot tell the caller's roles right now (or no content URL is set)."""

    slug = "roles-unavailable"


class TokenRefused(Unauthorized):
    """Content no longer accepts the token: its user was deactivated or signed out."""

    slug = "token-refused"


_UNREACHABLE = Msg(
    "Chưa kiểm tra được quyền của bạn (dịch vụ nội dung không phản hồi); hãy thử lại sau.",
    "Your roles cannot be checked right now (the content service does not answer); "
    "retry in a few seconds.",
)
_REFUSED = Msg(
    "Mã truy cập không còn hiệu lực (tài khoản bị khoá hoặc đã đăng xuất); hãy đăng nhập lại "
    "qua /v1/auth/token.",
    "This token is no longer accepted (the account was deactivated or signed out); sign in "
    "again at /v1/auth/token.",
)


def unreachable() -> RolesUnavailable:
    return RolesUnavailable(_UNREACHABLE, headers={"Retry-After": RETRY_AFTER})


def _not_configured(setting: str) -> RolesUnavailable:
    return RolesUnavailable(
        Msg(
            "Dịch vụ chưa được cấu hình để kiểm tra quyền: quản trị viên cần đặt {s} "
            "(địa chỉ dịch vụ nội dung).",
            "This service cannot check roles: the operator must set {s} (the content "
            "service's URL).",
        ).format(s=setting),
        headers={"Retry-After": RETRY_AFTER},
    )


def _principal(body: Any) -> Principal:
    """Content's `MeRead` as a principal; ValueError when it is not one."""
    if not isinstance(body, dict):
        raise ValueError("not an object")
    memberships = body.get("memberships")
    if not isinstance(memberships, list):
        raise ValueError("no memberships")
    roles = {str(m["portal"]): str(m["role"]) for m in memberships if isinstance(m, dict)}
    return Principal(
        subject=str(body["id"]),
        username=str(body.get("username", "")),
        roles=roles,
        is_superadmin=body.get("is_superadmin") is True,
    )


class RoleLookup:
    """`await current(token)` → the caller as content sees them now (cached ≤ 5 s).

    `client` is an HTTP client of the content service (None: not configured, and every
    lookup is a 503 naming `setting`). `clock` is injectable for tests.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        *,
        setting: str,
        ttl: float = MAX_CACHE_SECONDS,
        maxsize: int = 10_000,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ttl <= MAX_CACHE_SECONDS:
            raise ValueError(f"roles may be cached for 0 to {MAX_CACHE_SECONDS:g} seconds")
        self.client = client
        self.setting = setting
        self.timeout = timeout
        # None: content refused the token (cached too, so a revoked token costs content
        # one call per TTL, not one per request).
        self._cache: TTLCache[str, Principal | None] = TTLCache(maxsize, ttl, timer=clock)
        self._inflight: dict[str, asyncio.Future[Principal | None]] = {}

    @property
    def configured(self) -> bool:
        return self.client is not None

    async def current(self, token: str) -> Principal:
        """The token's user with their current roles; 401 if content refuses the token,
        503 if content cannot answer."""
        key = hashlib.sha256(token.encode()).hexdigest()
        try:
            return _accepted(self._cache[key])
        except KeyError:
            pass
        pending = self._inflight.get(key)
        if pending is not None:
            return _accepted(await asyncio.shield(pending))
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            found = await self._ask(token)
            self._cache[key] = found
            future.set_result(found)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]
        return _accepted(found)

    async def _ask(self, token: str) -> Principal | None:
        if self.client is None:
            raise _not_configured(self.setting)
        try:
            response = await self.client.get(
                "/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout
            )
        except httpx.HTTPError:
            raise unreachable() from None
        if response.status_code == 401:
            return None
        if response.status_code != 200:
            raise unreachable()
        try:
            return _principal(response.json())
        except (ValueError, KeyError, TypeError):
            raise unreachable() from None

    def __len__(self) -> int:
        return len(self._cache)


def started_lookup(
    client: httpx.AsyncClient | None, *, setting: str, ttl: float = MAX_CACHE_SECONDS
) -> RoleLookup:
    """The lookup a service starts with; says at start-up when it has no content to ask."""
    if client is None:
        log.warning(
            "%s is not set: this service cannot read callers' roles, so its members-only "
            "operations answer 503 until it is set",
            setting,
        )
    return RoleLookup(client, setting=setting, ttl=ttl)


def _accepted(found: Principal | None) -> Principal:
    if found is None:
        raise TokenRefused(_REFUSED)
    return found


class Caller:
    """One request's caller: the verified token at once, the current roles on demand.

    `current()` asks content at most once per request; anonymous callers never ask.
    """

    def __init__(
        self,
        claimed: Principal | None,
        token: str | None,
        lookup: RoleLookup | None,
    ) -> None:
        self.claimed = claimed
        self._token = token
        self._lookup = lookup
        self._current: Principal | None = None

    @classmethod
    def resolved(cls, principal: Principal | None) -> Caller:
        """A caller whose current roles are already known."""
        caller = cls(principal, None, None)
        caller._current = principal
        return caller

    @property
    def signed_in(self) -> bool:
        return self.claimed is not None

    async def current(self) -> Principal | None:
        """The caller with the roles content gives them now; None for anonymous."""
        if self._current is not None or self.claimed is None:
            return self._current
        if self._lookup is None or self._token is None:
            raise unreachable()
        self._current = await self._lookup.current(self._token)
        return self._current

    async def require(self) -> Principal:
        """The signed-in caller's current self; 401 for anonymous callers."""
        principal = await self.current()
        if principal is None:
            raise Unauthorized(
                Msg(
                    "Cần đăng nhập: gửi header 'Authorization: Bearer <token>' lấy từ "
                    "/v1/auth/token.",
                    "Sign in first: send 'Authorization: Bearer <token>' from /v1/auth/token.",
                )
            )
        return principal


def role_lookup(request: Request) -> RoleLookup:
    lookup: RoleLookup = request.app.state.roles
    return lookup


async def get_caller(request: Request, claimed: OptionalPrincipalDep) -> Caller:
    """The request's caller (token verified; roles not looked up yet)."""
    if claimed is None:
        return Caller(None, None, None)
    # optional_principal accepted the header, so it is "Bearer <token>".
    token = request.headers["authorization"].partition(" ")[2].strip()
    return Caller(claimed, token, role_lookup(request))


CallerDep = Annotated[Caller, Depends(get_caller)]


async def current_principal(_signed_in: PrincipalDep, caller: CallerDep) -> Principal:
    """The signed-in caller with their current roles (401 anonymous or refused, 503 when
    content cannot tell). Depending on `require_principal` (through `PrincipalDep`) lets the
    body guard refuse an anonymous caller before the body is read."""
    return await caller.require()


CurrentPrincipalDep = Annotated[Principal, Depends(current_principal)]

# Every route that takes CurrentPrincipalDep can answer these besides its own.
ROLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or the token is no longer accepted by content."},
    503: {"description": "The caller's roles cannot be checked now (`Retry-After`)."},
}
