"""Sign-in throttling (finding 1: 200 wrong passwords in a row all got a plain 401 at 9.4/s)
and password hashing off the event loop, in memory and on the real local Redis."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from factories import PASSWORD, assert_problem, make_portal, make_user

from services.common.db import Database
from services.common.migrate import upgrade
from services.content.accounts import passwords
from services.content.accounts.passwords import HASHING_NICENESS
from services.content.accounts.throttle import delay_after
from services.content.app import create_app
from services.content.settings import ContentSettings

pytestmark = pytest.mark.postgres

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ATTACKER = "203.0.113.66"
USER_DESK = "198.51.100.7"


def _redis_answers() -> bool:
    host, port = REDIS_URL.removeprefix("redis://").split("/")[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def settings_for(base: ContentSettings, storage: str, **overrides) -> ContentSettings:
    update = {"rate_limit_prefix": f"test-{uuid.uuid4().hex[:10]}", **overrides}
    if storage == "redis":
        if not _redis_answers():
            pytest.fail(f"no Redis at {REDIS_URL}: start it or set TEST_REDIS_URL")
        update["redis_url"] = REDIS_URL
    return base.model_copy(update=update)


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> str:
    return request.param


@pytest.fixture
def overrides() -> dict:
    return {}


@pytest.fixture
async def app(content_settings, db, storage, overrides) -> AsyncIterator:
    await make_portal(db, "phu-yen")
    made = create_app(settings_for(content_settings, storage, **overrides), database=db)
    async with made.router.lifespan_context(made):
        yield made


@pytest.fixture
async def sqlite_db(tmp_path) -> AsyncIterator[Database]:
    """A migrated SQLite file with its own engine: requests run truly concurrently (the
    rolled-back PostgreSQL connection of `db` serves one transaction at a time)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'content.db'}"
    await asyncio.to_thread(upgrade, "content", url)
    database = Database.from_url(url)
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_app(content_settings, sqlite_db, overrides) -> AsyncIterator:
    await make_portal(sqlite_db, "phu-yen")
    made = create_app(settings_for(content_settings, "memory", **overrides), database=sqlite_db)
    async with made.router.lifespan_context(made):
        yield made


class Clients:
    """One HTTP client per source address, all on the same app."""

    def __init__(self, app) -> None:
        self.app = app
        self.open: dict[str, httpx.AsyncClient] = {}

    def __call__(self, address: str) -> httpx.AsyncClient:
        if address not in self.open:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            self.open[address] = httpx.AsyncClient(transport=transport, base_url="http://c")
        return self.open[address]

    async def aclose(self) -> None:
        for client in self.open.values():
            await client.aclose()


@pytest.fixture
async def from_ip(app) -> AsyncIterator[Clients]:
    clients = Clients(app)
    yield clients
    await clients.aclose()


@pytest.fixture
def checks(monkeypatch) -> list[int]:
    """Every password check that actually runs, with the thread it ran in."""
    ran: list[int] = []
    real = passwords.verify_password

    def counting(password_hash, password):
        ran.append(threading.get_ident())
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return ran


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD):
    return await client.post("/v1/auth/token", json={"username": username, "password": password})


class TestOneAccountFromOneAddress:
    async def test_a_thousand_wrong_passwords_are_throttled_and_the_user_still_signs_in(
        self, app, db, from_ip, checks, storage
    ):
        user = await make_user(app, db, roles={"phu-yen": "admin"})
        attempts = 1000 if storage == "memory" else 300  # Redis: the same, in less time
        started = time.monotonic()
        statuses = [
            (await sign_in(from_ip(ATTACKER), user.username, f"guess-{n}")).status_code
            for n in range(attempts)
        ]
        elapsed = time.monotonic() - started
        assert statuses[:5] == [401] * 5
        # After 5 free failures, one more guess each time a wait (1 s, 2 s, 4 s…) runs out
        # while the 1,000 requests are sent.
        waits_over = int(math.log2(elapsed + 1)) + 1
        assert len(checks) <= 5 + waits_over, "the password was checked while throttled"
        assert statuses.count(401) == len(checks)
        assert statuses.count(429) == attempts - len(checks) >= attempts - 10
        # The right password from the attacker's address waits like any other attempt...
        r = await sign_in(from_ip(ATTACKER), user.username)
        assert_problem(r, 429, "rate-limited")
        assert int(r.headers["retry-after"]) >= 1
        # ...while the real user, at their own desk, signs in at once.
        r = await sign_in(from_ip(USER_DESK), user.username)
        assert r.status_code == 200, r.text

    async def test_the_429_says_when_to_come_back(self, app, db, from_ip):
        user = await make_user(app, db)
        for n in range(5):
            await sign_in(from_ip(ATTACKER), user.username, f"guess-{n}")
        r = await sign_in(from_ip(ATTACKER), user.username, "guess-6")
        problem = assert_problem(r, 429, "rate-limited")
        assert r.headers["retry-after"] == "1"
        assert r.headers["ratelimit-policy"].startswith('"sign-in-wait";q=1;w=1')
        assert "1" in problem["detail"]

    async def test_the_wait_doubles_after_each_failure(self, app, db, from_ip):
        user = await make_user(app, db)
        throttle = app.state.sign_in_throttle
        account, waits = user.username.casefold(), []
        for n in range(5):
            assert (await sign_in(from_ip(ATTACKER), user.username, f"g{n}")).status_code == 401
        for n in range(5, 10):
            r = await sign_in(from_ip(ATTACKER), user.username, f"g{n}")
            assert r.status_code == 429
            waits.append(int(r.headers["retry-after"]))
            # The wait is over (rather than sleeping through it): the next guess is checked.
            await throttle.limiter.reset(throttle._wait_rule(n), account, ATTACKER)
            assert (await sign_in(from_ip(ATTACKER), user.username, f"g{n}")).status_code == 401
        assert waits == [1, 2, 4, 8, 16]

    async def test_a_success_forgets_the_failures(self, app, db, from_ip):
        user = await make_user(app, db)
        for n in range(4):
            await sign_in(from_ip(ATTACKER), user.username, f"g{n}")
        assert (await sign_in(from_ip(ATTACKER), user.username)).status_code == 200
        for n in range(4):
            r = await sign_in(from_ip(ATTACKER), user.username, f"again-{n}")
            assert r.status_code == 401, "the count did not start over"

    async def test_unknown_usernames_are_throttled_alike(self, app, from_ip, checks):
        statuses = [
            (await sign_in(from_ip(ATTACKER), "nobody.here", f"g{n}")).status_code for n in range(8)
        ]
        assert statuses == [401] * 5 + [429] * 3
        assert len(checks) == 5

    async def test_concurrent_guesses_cannot_slip_between_check_and_count(
        self, sqlite_app, sqlite_db, checks
    ):
        user = await make_user(sqlite_app, sqlite_db)
        clients = Clients(sqlite_app)
        responses = await asyncio.gather(
            *(sign_in(clients(ATTACKER), user.username, f"g{n}") for n in range(40))
        )
        await clients.aclose()
        assert {r.status_code for r in responses} <= {401, 429}
        assert len(checks) <= 5


class TestOneAddressAcrossAccounts:
    # 12 rather than the default 50: each wrong password costs a real argon2 check.
    @pytest.fixture
    def overrides(self):
        return {"sign_in_ip_failures_per_hour": 12}

    def test_the_default_is_fifty_an_hour(self):
        assert ContentSettings().sign_in_ip_failures_per_hour == 50

    async def test_failures_across_accounts_then_429_for_any_account(
        self, app, db, from_ip, checks
    ):
        user = await make_user(app, db)
        for n in range(12):
            r = await sign_in(from_ip(ATTACKER), f"victim-{n}", "guess")
            assert r.status_code == 401, (n, r.text)
        r = await sign_in(from_ip(ATTACKER), user.username)
        assert_problem(r, 429, "rate-limited")
        assert r.headers["ratelimit-policy"] == '"sign-in-ip";q=12;w=3600'
        assert int(r.headers["retry-after"]) > 3000
        assert len(checks) == 12, "the right password was checked from a blocked address"
        assert (await sign_in(from_ip(USER_DESK), user.username)).status_code == 200

    async def test_successes_do_not_count(self, app, db, from_ip):
        """An office behind one address signs in all day."""
        user = await make_user(app, db)
        for _ in range(14):
            assert (await sign_in(from_ip(ATTACKER), user.username)).status_code == 200


class TestBurstFromOneAddress:
    @pytest.fixture
    def overrides(self):
        return {"sign_in_ip_attempts_per_minute": 10}

    def test_the_default_is_thirty_a_minute(self):
        assert ContentSettings().sign_in_ip_attempts_per_minute == 30

    async def test_concurrent_guesses_against_many_accounts_are_bounded(
        self, sqlite_app, sqlite_db, checks
    ):
        """All 40 would pass the per-address failure count, read before any is counted."""
        clients = Clients(sqlite_app)
        responses = await asyncio.gather(
            *(sign_in(clients(ATTACKER), f"victim-{n}", "guess") for n in range(40))
        )
        await clients.aclose()
        statuses = [r.status_code for r in responses]
        assert statuses.count(401) == len(checks) <= 10
        assert statuses.count(429) == 40 - len(checks)
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.headers["ratelimit-policy"] == '"sign-in-attempts";q=10;w=60'


class TestOneAccountFromManyAddresses:
    @pytest.fixture
    def overrides(self):
        return {"sign_in_account_failures_per_hour": 3}

    async def test_addresses_that_failed_wait_after_one_failure_others_never(
        self, app, db, from_ip
    ):
        user = await make_user(app, db)
        botnet = [f"192.0.2.{n}" for n in range(1, 7)]
        # Three failures from three addresses: the account is not under attack yet.
        for address in botnet[:3]:
            assert (await sign_in(from_ip(address), user.username, "g")).status_code == 401
        assert (await sign_in(from_ip(botnet[0]), user.username, "g2")).status_code == 401
        # Now it is: each address that fails has to wait before its next guess.
        for address in botnet[3:]:
            assert (await sign_in(from_ip(address), user.username, "g")).status_code == 401
            r = await sign_in(from_ip(address), user.username, "g-next")
            assert_problem(r, 429, "rate-limited")
        # An address that had failed before the attack waits after its next failure.
        assert (await sign_in(from_ip(botnet[1]), user.username, "g3")).status_code == 401
        assert (await sign_in(from_ip(botnet[1]), user.username, "g4")).status_code == 429
        # The real user has never failed from their desk: never slowed.
        assert (await sign_in(from_ip(USER_DESK), user.username)).status_code == 200
        # Even their own typo costs them only a short wait, never a lock-out.
        assert (await sign_in(from_ip("198.51.100.8"), user.username, "typo")).status_code == 401
        r = await sign_in(from_ip("198.51.100.8"), user.username)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"


class TestClientAddress:
    @pytest.fixture
    def overrides(self):
        return {"trusted_proxies": ["10.0.0.0/8"]}

    @pytest.fixture(params=["memory"])
    def storage(self, request):
        return request.param

    async def test_behind_a_trusted_proxy_the_forwarded_address_counts(self, app, db, from_ip):
        user = await make_user(app, db)
        proxy = from_ip("10.0.0.2")
        for n in range(5):
            r = await proxy.post(
                "/v1/auth/token",
                json={"username": user.username, "password": f"g{n}"},
                headers={"X-Forwarded-For": ATTACKER},
            )
            assert r.status_code == 401
        attacker = {"X-Forwarded-For": ATTACKER}
        desk = {"X-Forwarded-For": USER_DESK}
        body = {"username": user.username, "password": PASSWORD}
        r = await proxy.post("/v1/auth/token", json=body, headers=attacker)
        assert r.status_code == 429
        assert (await proxy.post("/v1/auth/token", json=body, headers=desk)).status_code == 200

    async def test_an_untrusted_peer_cannot_choose_its_address(self, app, db, from_ip):
        user = await make_user(app, db)
        for n in range(5):
            spoofed = {"X-Forwarded-For": f"192.0.2.{n}"}
            r = await from_ip(ATTACKER).post(
                "/v1/auth/token",
                json={"username": user.username, "password": f"g{n}"},
                headers=spoofed,
            )
            assert r.status_code == 401
        r = await from_ip(ATTACKER).post(
            "/v1/auth/token",
            json={"username": user.username, "password": "g6"},
            headers={"X-Forwarded-For": "192.0.2.99"},
        )
        assert r.status_code == 429


class TestPasswordChangeIsThrottled:
    @pytest.fixture(params=["memory"])
    def storage(self, request):
        return request.param

    async def test_guessing_the_current_password_with_a_stolen_token_is_throttled(
        self, app, db, from_ip, checks
    ):
        user = await make_user(app, db)
        statuses = []
        for n in range(8):
            r = await from_ip(ATTACKER).post(
                "/v1/me/password",
                json={"current_password": f"g{n}", "new_password": "mot-mat-khau-moi"},
                headers=user.headers,
            )
            statuses.append(r.status_code)
        assert statuses == [403] * 5 + [429] * 3
        assert len(checks) == 5


class TestDelay:
    def test_none_before_the_free_failures_then_doubling_to_the_cap(self):
        delays = [delay_after(n, free=5, base=1.0, cap=900) for n in range(1, 20)]
        assert delays[:4] == [0, 0, 0, 0]
        assert delays[4:14] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        assert delays[14:] == [900] * 5
        assert delay_after(10_000, free=5, base=1.0, cap=900) == 900


class TestHashingOffTheLoop:
    @pytest.fixture
    def overrides(self):
        return {"password_hash_concurrency": 2}

    async def test_checks_run_in_worker_threads_two_at_a_time(
        self, sqlite_app, sqlite_db, monkeypatch
    ):
        loop_thread = threading.get_ident()
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        lock, running, most, threads, nice = threading.Lock(), [0], [0], set(), set()
        real = passwords.verify_password

        def slow(password_hash, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                threads.add(threading.get_ident())
                nice.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            try:
                time.sleep(0.05)
                return real(password_hash, password)
            finally:
                with lock:
                    running[0] -= 1

        monkeypatch.setattr(passwords, "verify_password", slow)
        users = [await make_user(sqlite_app, sqlite_db) for _ in range(3)]
        from_ip = Clients(sqlite_app)
        ticks = 0

        async def ping() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(ping())
        responses = await asyncio.gather(
            *(
                sign_in(from_ip(f"192.0.2.{n}"), users[n % 3].username, PASSWORD if n % 2 else "x")
                for n in range(10)
            )
        )
        ticker.cancel()
        await from_ip.aclose()
        assert sorted({r.status_code for r in responses}) == [200, 401]
        assert loop_thread not in threads, "argon2 ran on the event loop"
        assert 1 <= most[0] <= 2, f"{most[0]} hashes at once"
        assert nice == {min(19, loop_nice + HASHING_NICENESS)}, "hashing does not yield the CPU"
        assert ticks > 10, "the event loop was blocked during the checks"
