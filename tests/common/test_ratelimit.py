"""The shared rate limiter: counts per rule and key, in memory and in a real Redis."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator

import pytest
import redisserver
from redisserver import NO_REDIS

from services.common.ratelimit import RateLimited, RateLimiter, Rule
from services.common.settings import ServiceSettings


def _prefix() -> str:
    # A fresh prefix per test: counts in a shared Redis never leak between tests or runs.
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made = RateLimiter(url, prefix=_prefix())
    yield made
    await made.close()


RULE = Rule("test", "3/minute")


class TestHit:
    async def test_allows_up_to_the_limit_then_refuses(self, limiter):
        decisions = [await limiter.hit(RULE, "1.2.3.4") for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert [d.remaining for d in decisions] == [2, 1, 0, 0]

    async def test_keys_are_counted_apart(self, limiter):
        for _ in range(3):
            await limiter.hit(RULE, "1.2.3.4")
        other = await limiter.hit(RULE, "5.6.7.8")
        assert other.allowed

    async def test_rules_are_counted_apart(self, limiter):
        for _ in range(3):
            await limiter.hit(RULE, "k")
        assert (await limiter.hit(Rule("other", "3/minute"), "k")).allowed

    async def test_refused_requests_are_not_counted(self, limiter):
        for _ in range(10):
            await limiter.hit(RULE, "k")
        assert (await limiter.peek(RULE, "k")).remaining == 0
        await limiter.reset(RULE, "k")
        assert (await limiter.hit(RULE, "k")).remaining == 2

    async def test_peek_does_not_count(self, limiter):
        for _ in range(5):
            assert (await limiter.peek(RULE, "k")).allowed
        assert (await limiter.hit(RULE, "k")).remaining == 2


class TestCheck:
    async def test_over_the_limit_is_a_429_with_the_headers(self, limiter):
        for _ in range(3):
            await limiter.check(RULE, "k")
        with pytest.raises(RateLimited) as caught:
            await limiter.check(RULE, "k")
        error = caught.value
        assert error.status == 429
        assert error.headers["RateLimit-Policy"] == '"test";q=3;w=60'
        assert error.headers["RateLimit"].startswith('"test";r=0;t=')
        assert 1 <= int(error.headers["Retry-After"]) <= 60
        assert error.detail is not None
        assert "giây" in error.detail.vi


class TestCounters:
    async def test_incr_get_clear(self, limiter):
        assert await limiter.get("fail", "alice") == 0
        assert await limiter.incr("fail", "alice", expiry=60) == 1
        assert await limiter.incr("fail", "alice", expiry=60) == 2
        assert await limiter.get("fail", "alice") == 2
        await limiter.clear("fail", "alice")
        assert await limiter.get("fail", "alice") == 0


class TestShared:
    async def test_two_limiters_on_one_redis_share_the_counts(self, redis_url):
        first = RateLimiter(redis_url, prefix=_prefix())
        second = RateLimiter(redis_url, prefix=first.prefix)
        try:
            for _ in range(3):
                await first.hit(RULE, "k")
            assert not (await second.hit(RULE, "k")).allowed
        finally:
            await first.close()
            await second.close()

    async def test_two_limiters_in_memory_do_not(self):
        first, second = RateLimiter(None, prefix=_prefix()), RateLimiter(None, prefix=_prefix())
        for _ in range(3):
            await first.hit(RULE, "k")
        assert (await second.hit(RULE, "k")).allowed


class TestRedisDown:
    async def test_falls_back_to_memory_and_still_limits(self, caplog):
        # Nothing listens on port 9 (discard) on loopback: every Redis call fails.
        limiter = RateLimiter("redis://127.0.0.1:9/0", prefix="down")
        try:
            decisions = [await limiter.hit(RULE, "k") for _ in range(4)]
        finally:
            await limiter.close()
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert "counted per process" in caplog.text


class TestSettings:
    def test_redis_url_is_read_from_REDIS_URL(self, monkeypatch):
        monkeypatch.setenv("REDIS_URL", "redis://example:6379/2")
        assert ServiceSettings().redis_url == "redis://example:6379/2"

    def test_no_redis_by_default(self, monkeypatch):
        monkeypatch.delenv("REDIS_URL", raising=False)
        assert ServiceSettings().redis_url is None


class TestTheTestServer:
    def test_a_private_redis_server_starts_and_stops(self):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip(NO_REDIS)
        with redisserver._private_server(binary) as url:
            assert redisserver.answers(url)
        assert not redisserver.answers(url, timeout=0.2)
