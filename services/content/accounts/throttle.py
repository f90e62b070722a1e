"""How fast wrong passwords may be tried, per account and client address.

The policy (every number is a `CONTENT_SIGN_IN_*` setting):

1. **One account from one address.** The first 5 wrong passwords cost nothing. After the
   5th, each further attempt must wait 1 s after the last failure, then 2 s, 4 s, … up to
   15 minutes. During the wait the answer is a 429 with `Retry-After`, and the password is
   not even checked, so waiting is the only way on. The count is forgotten 24 hours after
   the first failure, or at once when the right password gets through.
2. **One address across accounts.** 50 wrong passwords in a moving hour, whatever the
   accounts (unknown usernames included), and every sign-in from that address is a 429
   until the hour slides on.
3. **Attempts from one address.** At most 30 sign-in attempts a minute, right or wrong,
   counted before the password check. This is what bounds a burst of concurrent guesses
   against many accounts, which would otherwise all be checked before the first failure
   is counted; an office behind one address is not near it.
4. **One account from many addresses.** More than 20 wrong passwords for one account in an
   hour from all addresses together put the account *under attack*: from then on, an
   address that fails against it waits after its first failure instead of its 5th. An
   address that has not failed against the account is never slowed, so the real user, at
   their own desk, still signs in while a botnet guesses elsewhere: nobody can lock an
   account out from another address.

Accounts are keyed by the username as typed (trimmed, case-folded), so an unknown username
is throttled exactly like a real one and the answers reveal nothing. Addresses are keyed by
IPv4 address or IPv6 /64. Only one attempt per account and address runs at a time (a second
concurrent one is a 429), and attempts per address are counted before the check (rule 3),
so a burst of parallel guesses cannot slip through between the check and the count. The
counts live in the shared rate limiter: Redis when `REDIS_URL` is set (every process and
replica sees them), this process's memory otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.i18n import Msg
from services.common.ratelimit import Decision, RateLimited, RateLimiter, Rule, rate_limited

BUSY_SECONDS = 30  # an attempt that never finished (killed process) stops blocking after this

WAIT = Msg(
    "Đăng nhập sai quá nhiều lần; hãy thử lại sau {seconds} giây.",
    "Too many failed sign-ins; try again in {seconds} seconds.",
)
BUSY = Msg(
    "Một lần đăng nhập khác cho tài khoản này đang được kiểm tra; hãy thử lại sau 1 giây.",
    "Another sign-in for this account is being checked; try again in 1 second.",
)


def delay_after(failures: int, *, free: int, base: float, cap: int) -> int:
    """Seconds to wait after the `failures`-th consecutive failure: none before `free`,
    then `base`, doubling each time, never more than `cap`."""
    if failures < free:
        return 0
    exponent = min(failures - free, 32)
    return max(1, min(cap, round(base * (1 << exponent))))


@dataclass(frozen=True)
class SignInPolicy:
    free_failures: int = 5
    delay_seconds: float = 1.0
    max_delay_seconds: int = 900
    failure_memory_seconds: int = 86_400
    ip_failures_per_hour: int = 50
    ip_attempts_per_minute: int = 30
    account_failures_per_hour: int = 20


class SignInThrottle:
    """Decides before a password check whether it may run, and counts the outcome."""

    def __init__(self, limiter: RateLimiter, policy: SignInPolicy) -> None:
        self.limiter = limiter
        self.policy = policy
        self.ip_rule = Rule("sign-in-ip", f"{policy.ip_failures_per_hour}/hour")
        self.attempts_rule = Rule("sign-in-attempts", f"{policy.ip_attempts_per_minute}/minute")
        self.account_rule = Rule("sign-in-account", f"{policy.account_failures_per_hour}/hour")

    def _wait_rule(self, failures: int) -> Rule:
        seconds = delay_after(
            failures,
            free=self.policy.free_failures,
            base=self.policy.delay_seconds,
            cap=self.policy.max_delay_seconds,
        )
        return Rule("sign-in-wait", f"1/{seconds} second")

    @staticmethod
    def account_key(username: str) -> str:
        return username.strip().casefold()

    async def begin(self, account: str, address: str) -> None:
        """Before the password check: a 429 when this address or this account and address
        must wait; otherwise the attempt holds the account and address until `end`."""
        ip = await self.limiter.peek(self.ip_rule, address)
        if not ip.allowed:
            raise self._refused(ip)
        failures = await self.limiter.get("sign-in-failures", account, address)
        if failures >= self.policy.free_failures:
            wait = await self.limiter.peek(self._wait_rule(failures), account, address)
            if not wait.allowed:
                raise self._refused(wait)
        if await self.limiter.incr("sign-in-busy", account, address, expiry=BUSY_SECONDS) > 1:
            raise RateLimited(BUSY, headers={"Retry-After": "1"})
        attempts = await self.limiter.hit(self.attempts_rule, address)
        if not attempts.allowed:
            await self.release(account, address)
            raise self._refused(attempts)

    async def end(self, account: str, address: str, *, succeeded: bool) -> None:
        """After the password check: forget the failures, or count one more."""
        if succeeded:
            await self.limiter.clear("sign-in-failures", account, address)
        else:
            await self._failed(account, address)
        await self.limiter.clear("sign-in-busy", account, address)

    async def release(self, account: str, address: str) -> None:
        """The attempt ended without a verdict (an error): let the next one run."""
        await self.limiter.clear("sign-in-busy", account, address)

    async def _failed(self, account: str, address: str) -> None:
        memory = self.policy.failure_memory_seconds
        await self.limiter.hit(self.ip_rule, address)
        under_attack = not (await self.limiter.hit(self.account_rule, account)).allowed
        failures = await self.limiter.incr("sign-in-failures", account, address, expiry=memory)
        # Under attack an address that fails waits at once: count it as out of free tries.
        while under_attack and failures < self.policy.free_failures:
            failures = await self.limiter.incr("sign-in-failures", account, address, expiry=memory)
        if failures >= self.policy.free_failures:
            await self.limiter.hit(self._wait_rule(failures), account, address)

    def _refused(self, decision: Decision) -> RateLimited:
        if decision.rule.name == "sign-in-wait":
            return RateLimited(
                WAIT.format(seconds=max(1, decision.reset_after)), headers=decision.headers()
            )
        return rate_limited(decision)
