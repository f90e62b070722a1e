"""Get a Redis server for the tests that count in Redis (rate limits shared by processes).

``redis_server()`` yields a ``redis://`` URL, resolved in this order:

1. ``TEST_REDIS_URL``: must answer within 2 s, otherwise ``RuntimeError`` (it was asked for
   explicitly, so there is no fallback);
2. a server answering on ``127.0.0.1:6379``;
3. a private ``redis-server`` started on a free loopback port (nothing saved to disk),
   stopped when the tests end — found on ``PATH`` (Debian: ``apt-get install redis-server``);
4. otherwise ``None``: the Redis variants of those tests skip and say what to install.
   The same tests also run on the in-memory backend, which needs nothing.

Tests keep their keys apart with a unique prefix, so a shared server is never flushed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

LOCAL = "redis://127.0.0.1:6379/0"


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when a Redis server at `url` replies to PING."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _private_server(binary: str) -> Iterator[str]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="portal-test-redis-") as folder:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while not answers(url, timeout=0.2):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not start on port {port}")
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A Redis URL for the tests, or None when none can be had (see the module docstring)."""
    explicit = os.environ.get("TEST_REDIS_URL")
    if explicit:
        if not answers(explicit):
            raise RuntimeError(f"TEST_REDIS_URL={explicit} does not answer")
        yield explicit
        return
    if answers(LOCAL):
        yield LOCAL
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with _private_server(binary) as url:
        yield url


NO_REDIS = (
    "no Redis server: install redis-server (Debian: apt-get install redis-server) or set "
    "TEST_REDIS_URL; the in-memory variant of this test still ran"
)
