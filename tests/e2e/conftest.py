"""The platform as separate processes, started with the real `portal serve` command.

Content runs on a fresh PostgreSQL database built by its real migrations, its signing key
under its own data directory; search, media and analytics run beside it; the gateway
reaches all four over HTTP. Every process is stopped (by its pid) when the module is done,
and a test that fails shows the tail of each process's log.

The e2e tests of a module share one set of processes, so under pytest-xdist the module
must stay on one worker: `pytest_configure` below turns `-n`'s default `--dist load` into
`loadfile` (the other test files are spread as whole files). `loadgroup` would be the finer
tool, but pytest-xdist 3.8 tags grouped tests through `item._nodeid`, which pytest 9 no
longer reads, so its groups are silently ignored. This conftest is loaded before the workers
start when `tests/e2e` is named on the command line; otherwise each worker that runs e2e
tests starts its own set of processes: slower, still correct.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pgserver
import pytest
from served import free_port

from services.common.db import Database
from services.common.migrate import upgrade
from services.content.accounts.passwords import hash_password
from services.content.models import User

PORTAL = Path(sys.prefix) / "bin" / "portal"
# Five processes import their libraries at once on two cores, beside the other test worker.
READY_WITHIN = 90.0  # seconds for a process to answer /healthz
SERVICES = ("content", "search", "media", "analytics")
ADMIN = "e2e.admin"
ADMIN_PASSWORD = "mật khẩu quản trị e2e"
_OWN_PREFIXES = ("PORTAL_", "GATEWAY_", "CONTENT_", "SEARCH_", "MEDIA_", "ANALYTICS_")


def pytest_configure(config: pytest.Config) -> None:
    """Under `-n`, send each test file to one worker (`--dist loadfile`), see above."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed e2e test carries the tail of every process's log in its report."""
    report = yield
    platform = getattr(item, "funcargs", {}).get("platform")
    if report.failed and isinstance(platform, Platform):
        report.sections.append(("portal processes", platform.logs()))
    return report


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from synchronous code, whatever loop is around."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Process:
    """One `portal serve <name>` process and its log file."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):  # a line still being written
                entries.append(json.loads(line))
        return [e for e in entries if isinstance(e, dict)]

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (pid {self.popen.pid}, port {self.port}) ---\n" + "\n".join(text)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@dataclass
class Launcher:
    """Starts `portal serve` processes in `workdir` and remembers them for the teardown."""

    workdir: Path
    started: list[Process] = field(default_factory=list)

    def spawn(self, name: str, env: dict[str, str], port: int | None = None) -> Process:
        """Start `portal serve <name>` (without waiting for it)."""
        port = port or free_port()
        log = self.workdir / f"{name}-{port}.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(PORTAL), "serve", name, "--host", "127.0.0.1", "--port", str(port)],
                cwd=self.workdir,
                env={**base, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, port, popen, log)
        self.started.append(process)
        return process

    @staticmethod
    def wait_healthy(*processes: Process) -> None:
        """Poll each /healthz until it answers 200; fail with the logs after the deadline."""
        deadline = time.monotonic() + READY_WITHIN
        waiting = list(processes)
        with httpx.Client(timeout=1.0) as http:
            while waiting:
                process = waiting[0]
                if process.popen.poll() is not None:
                    raise AssertionError(f"{process.name} exited\n{process.tail()}")
                if time.monotonic() > deadline:
                    logs = "\n".join(p.tail() for p in waiting)
                    raise AssertionError(f"not healthy within {READY_WITHIN:.0f} s\n{logs}")
                try:
                    if http.get(process.url + "/healthz").status_code == 200:
                        waiting.pop(0)
                        continue
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()


@dataclass
class Platform:
    gateway: Process
    services: dict[str, Process]
    content_data_dir: Path
    database_url: str

    @property
    def url(self) -> str:
        return self.gateway.url

    def logs(self) -> str:
        return "\n".join(p.tail() for p in (self.gateway, *self.services.values()))


async def _seed_superadmin(url: str) -> None:
    db = Database.from_url(url)
    try:
        async with db.transaction() as session:
            session.add(
                User(
                    username=ADMIN,
                    password_hash=hash_password(ADMIN_PASSWORD),
                    full_name="Quản trị viên e2e",
                    is_superadmin=True,
                )
            )
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def e2e_database(pg_server: pgserver.PgServer) -> Iterator[str]:
    """A fresh database migrated like production, for the content process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"portal_e2e_{worker}_{uuid.uuid4().hex[:8]}"
    pgserver.create_database(pg_server, name)
    url = pg_server.url(name)
    try:
        upgrade("content", url)
        run_async(_seed_superadmin(url))
        yield url
    finally:
        pgserver.drop_database(pg_server, name)


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path_factory.mktemp("e2e"))
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def platform(e2e_database: str, launcher: Launcher) -> Platform:
    """Four services and the gateway, each its own `portal serve` process, started at once."""
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    content_dir = launcher.workdir / "content-data"
    envs = {name: {f"{name.upper()}_DATA_DIR": str(launcher.workdir / name)} for name in SERVICES}
    envs["content"].update(
        {"CONTENT_DATABASE_URL": e2e_database, "CONTENT_DATA_DIR": str(content_dir)}
    )
    # Search verifies tokens with content's JWKS and reads content's published set for
    # reindexing; content delivers its outbox events to search, all over HTTP.
    envs["search"]["SEARCH_JWKS_URL"] = urls["content"] + "/v1/auth/jwks.json"
    envs["search"]["SEARCH_CONTENT_URL"] = urls["content"]
    envs["content"].update(
        {
            "CONTENT_OUTBOX_SUBSCRIBERS": json.dumps(
                {
                    "search": urls["search"] + "/internal/events",
                    "media": urls["media"] + "/internal/events",
                }
            ),
            "CONTENT_OUTBOX_INTERVAL": "0.2",
        }
    )
    # Media and analytics verify tokens with content's JWKS too, and read the caller's
    # current roles and which portals exist from content; content checks featured images
    # with media and delivers events to it; analytics believes X-Forwarded-For from the
    # gateway (same host: loopback).
    envs["media"]["MEDIA_JWKS_URL"] = urls["content"] + "/v1/auth/jwks.json"
    envs["media"]["MEDIA_CONTENT_URL"] = urls["content"]
    envs["content"]["CONTENT_MEDIA_URL"] = urls["media"]
    envs["analytics"].update(
        {
            "ANALYTICS_JWKS_URL": urls["content"] + "/v1/auth/jwks.json",
            "ANALYTICS_CONTENT_URL": urls["content"],
            "ANALYTICS_TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"]),
            "ANALYTICS_BATCH_INTERVAL_MS": "50",
        }
    )
    envs["gateway"] = {
        "GATEWAY_DATA_DIR": str(launcher.workdir / "gateway"),
        **{f"GATEWAY_{name.upper()}_URL": url for name, url in urls.items()},
    }
    started: dict[str, Process] = {}
    # In two waves, so that on a busy machine each process gets the CPU to start in time.
    for wave in (("content", "gateway"), ("search", "media", "analytics")):
        for name in wave:
            started[name] = launcher.spawn(name, envs[name], ports.get(name))
        launcher.wait_healthy(*(started[name] for name in wave))
    gateway = started.pop("gateway")
    services = {name: started[name] for name in SERVICES}
    return Platform(gateway, services, content_dir, e2e_database)


@pytest.fixture
def superadmin() -> tuple[str, str]:
    """Username and password of the superadmin written straight into the database."""
    return ADMIN, ADMIN_PASSWORD


@pytest.fixture
def http(platform: Platform) -> Iterator[httpx.Client]:
    """A client of the gateway."""
    with httpx.Client(base_url=platform.url, timeout=15.0) as client:
        yield client
