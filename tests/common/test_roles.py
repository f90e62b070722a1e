"""The role lookup every service but content uses: cached per token for at most 5 s, one
call per token at a time, bounded, fail-closed."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError

from services.common.roles import RoleLookup, RolesUnavailable, TokenRefused
from services.media.settings import MediaSettings


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def me(token: str) -> dict:
    return {
        "id": f"id-{token}",
        "username": token,
        "is_superadmin": token == "root",
        "memberships": [{"portal": "phu-yen", "role": "editor"}],
    }


class Content:
    """A stand-in for content's /v1/me that counts its calls and can misbehave."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.answer: int | None = 200
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.calls.append(token)
        await asyncio.sleep(self.delay)
        if self.answer is None:
            raise httpx.ConnectTimeout("timed out", request=request)
        if self.answer != 200:
            return httpx.Response(self.answer, json={"title": "no"})
        return httpx.Response(200, json=me(token))


@pytest.fixture
async def content():
    fake = Content()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(fake), base_url="http://content"
    ) as http:
        yield fake, http


class TestRoleLookup:
    async def test_cached_per_token_for_at_most_the_ttl(self, content):
        fake, http = content
        clock = Ticking()
        lookup = RoleLookup(http, setting="X_CONTENT_URL", clock=clock)
        alice = await lookup.current("alice")
        assert (alice.subject, alice.roles, alice.is_superadmin) == (
            "id-alice",
            {"phu-yen": "editor"},
            False,
        )
        assert (await lookup.current("root")).is_superadmin is True
        await lookup.current("alice")
        assert fake.calls == ["alice", "root"]  # one token's answer never serves another
        clock.now += 4.9
        await lookup.current("alice")
        assert len(fake.calls) == 2
        clock.now += 0.2
        await lookup.current("alice")
        assert fake.calls == ["alice", "root", "alice"]

    async def test_one_call_per_token_at_a_time(self, content):
        fake, http = content
        fake.delay = 0.05
        lookup = RoleLookup(http, setting="X_CONTENT_URL", clock=Ticking())
        found = await asyncio.gather(*(lookup.current("alice") for _ in range(20)))
        assert {p.subject for p in found} == {"id-alice"}
        assert fake.calls == ["alice"]

    async def test_a_refused_token_is_401_and_cached(self, content):
        fake, http = content
        fake.answer = 401
        lookup = RoleLookup(http, setting="X_CONTENT_URL", clock=Ticking())
        for _ in range(3):
            with pytest.raises(TokenRefused) as refused:
                await lookup.current("revoked")
            assert refused.value.status == 401
        assert fake.calls == ["revoked"]

    @pytest.mark.parametrize("answer", [None, 500, 502, 429], ids=["timeout", "500", "502", "429"])
    async def test_content_not_answering_is_503_and_never_cached(self, content, answer):
        fake, http = content
        fake.answer = answer
        lookup = RoleLookup(http, setting="X_CONTENT_URL", clock=Ticking())
        for _ in range(2):
            with pytest.raises(RolesUnavailable) as unavailable:
                await lookup.current("alice")
            assert unavailable.value.status == 503
            assert unavailable.value.headers["Retry-After"] == "5"
        assert len(fake.calls) == 2
        fake.answer = 200
        assert (await lookup.current("alice")).subject == "id-alice"

    async def test_without_content_every_lookup_is_503_naming_the_setting(self):
        lookup = RoleLookup(None, setting="MEDIA_CONTENT_URL")
        with pytest.raises(RolesUnavailable) as unavailable:
            await lookup.current("alice")
        assert "MEDIA_CONTENT_URL" in str(unavailable.value.detail.en)

    async def test_the_cache_is_bounded(self, content):
        _fake, http = content
        lookup = RoleLookup(http, setting="X_CONTENT_URL", maxsize=50, clock=Ticking())
        for n in range(500):
            await lookup.current(f"user-{n}")
        assert len(lookup) == 50

    def test_never_more_than_five_seconds(self):
        with pytest.raises(ValueError, match="0 to 5"):
            RoleLookup(None, setting="X", ttl=6)
        with pytest.raises(ValidationError):
            MediaSettings(roles_cache_seconds=6)
        assert MediaSettings().roles_cache_seconds == 5
