"""Rate limits shared by every service, on the `limits` library.

    RateLimiter            one per process; Redis when `REDIS_URL` is set, memory otherwise
    ├── hit(rule, *key)    count one request; a Decision says whether it may go on
    ├── check(rule, *key)  the same, raising RateLimited (429) when it may not
    ├── peek(rule, *key)   the decision without counting (e.g. "is this IP already blocked?")
    └── incr/get/clear     plain expiring counters on the same storage (failure counts)

A rule is a `limits` string with a name: `Rule("sign-in-ip", "50/hour")`. Keys are the
things counted separately (an IP, an account, an API key); a rule applies to each key on
its own. With Redis, every process and replica shares the counts; without it each process
counts alone, which still bounds a flood against one process. When Redis stops answering,
the limiter falls back to this process's memory (and logs it once) rather than either
letting everything through or refusing everyone; it tries Redis again after a pause.

A refused request is a 429 problem with `Retry-After` and the IETF RateLimit headers
(draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from services.common.errors import TooManyRequests
from services.common.i18n import Msg

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Rule:
    """A named limit such as `Rule("sign-in-ip", "50/hour")`."""

    name: str
    limit: str

    def item(self) -> RateLimitItem:
        return parse(self.limit)


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one request against a rule for one key."""

    rule: Rule
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees a request
    window: int  # the rule's window in seconds

    def headers(self) -> dict[str, str]:
        """`RateLimit-Policy` and `RateLimit` (plus `Retry-After` when refused)."""
        headers = {
            "RateLimit-Policy": f'"{self.rule.name}";q={self.limit};w={self.window}',
            "RateLimit": f'"{self.rule.name}";r={self.remaining};t={self.reset_after}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_after))
        return headers


class RateLimited(TooManyRequests):
    """429: the caller went over a limit; `Retry-After` says when to try again."""

    slug = "rate-limited"


TOO_MANY = Msg(
    "Quá nhiều yêu cầu; hãy thử lại sau {seconds} giây.",
    "Too many requests; try again in {seconds} seconds.",
)


class RateLimiter:
    """Counts requests per rule and key in Redis (shared) or in this process's memory."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = "portal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix
        self.clock = clock
        self.memory: Storage = MemoryStorage()
        self.redis: Storage | None = None
        if redis_url:
            self.redis = RedisStorage(
                "async+" + redis_url,
                key_prefix=f"{prefix}-limits",
                connect_timeout=0.5,
                stream_timeout=0.5,
            )
        self._redis_down_until = 0.0

    @property
    def shared(self) -> bool:
        """True when the counts live in Redis (every process sees the same)."""
        return self.redis is not None

    def _storage(self) -> Storage:
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            return self.redis
        return self.memory

    def _redis_failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self._redis_down_until:
            log.warning(
                "Redis did not answer (%s); rate limits are counted per process for %.0f s",
                type(exc).__name__,
                REDIS_RETRY_SECONDS,
            )
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS

    async def _run(self, call: Callable[[Storage], Any]) -> Any:
        storage = self._storage()
        try:
            return await call(storage)
        except Exception as exc:
            if storage is self.memory or not _is_storage_error(exc):
                raise
            self._redis_failed(exc)
            return await call(self.memory)

    async def hit(self, rule: Rule, *key: str, cost: int = 1) -> Decision:
        """Count `cost` requests for `key` under `rule`; refused ones are not counted."""
        item = rule.item()

        async def run(storage: Storage) -> Decision:
            strategy = MovingWindowRateLimiter(storage)
            allowed = await strategy.hit(item, self.prefix, rule.name, *key, cost=cost)
            return await self._decision(strategy, rule, item, key, allowed=allowed)

        decision: Decision = await self._run(run)
        return decision

    async def peek(self, rule: Rule, *key: str) -> Decision:
        """Whether one more request for `key` would be allowed, without counting it."""
        item = rule.item()

        async def run(storage: Storage) -> Decision:
            strategy = MovingWindowRateLimiter(storage)
            allowed = await strategy.test(item, self.prefix, rule.name, *key)
            return await self._decision(strategy, rule, item, key, allowed=allowed)

        decision: Decision = await self._run(run)
        return decision

    async def check(self, rule: Rule, *key: str, cost: int = 1) -> Decision:
        """Count the request, or raise `RateLimited` (429 with the headers) when over."""
        decision = await self.hit(rule, *key, cost=cost)
        if not decision.allowed:
            raise rate_limited(decision)
        return decision

    async def reset(self, rule: Rule, *key: str) -> None:
        """Forget the counts of `key` under `rule` (e.g. after a successful sign-in)."""
        item = rule.item()

        async def run(storage: Storage) -> None:
            await MovingWindowRateLimiter(storage).clear(item, self.prefix, rule.name, *key)

        await self._run(run)

    async def _decision(
        self,
        strategy: MovingWindowRateLimiter,
        rule: Rule,
        item: RateLimitItem,
        key: tuple[str, ...],
        *,
        allowed: bool,
    ) -> Decision:
        stats = await strategy.get_window_stats(item, self.prefix, rule.name, *key)
        reset_after = max(0, math.ceil(stats.reset_time - self.clock()))
        return Decision(
            rule=rule,
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after=reset_after,
            window=item.get_expiry(),
        )

    # Plain counters, for rules that are not a window of requests (failures, backoff).

    def _key(self, *key: str) -> str:
        return "/".join((self.prefix, *key))

    async def incr(self, *key: str, expiry: int) -> int:
        """Add one to an expiring counter; the expiry starts at the first increment."""

        async def run(storage: Storage) -> int:
            return await storage.incr(self._key(*key), expiry)

        count: int = await self._run(run)
        return count

    async def get(self, *key: str) -> int:
        """The counter's value (0 when absent or expired)."""

        async def run(storage: Storage) -> int:
            return await storage.get(self._key(*key))

        count: int = await self._run(run)
        return count

    async def clear(self, *key: str) -> None:
        """Drop a counter."""

        async def run(storage: Storage) -> None:
            await storage.clear(self._key(*key))

        await self._run(run)

    async def close(self) -> None:
        """Close the connections to Redis (apps call this at the end of their lifespan)."""
        if self.redis is None:
            return
        bridge = getattr(self.redis, "bridge", None)
        client = getattr(bridge, "storage", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()
            await asyncio.sleep(0)  # let the transports finish closing


def rate_limited(decision: Decision) -> RateLimited:
    """The 429 problem for a refused decision, with its headers."""
    seconds = max(1, decision.reset_after)
    return RateLimited(TOO_MANY.format(seconds=seconds), headers=decision.headers())


def _is_storage_error(exc: BaseException) -> bool:
    """Connection trouble with Redis (coredis raises its own errors, or OS/timeout ones)."""
    return isinstance(exc, OSError | TimeoutError | ConnectionError) or type(
        exc
    ).__module__.startswith(("coredis", "limits"))
