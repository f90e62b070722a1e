"""One `portal serve <service>` process for a test: started on a free loopback port, waited
for until it answers, stopped (its whole process group) afterwards."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

PORTAL = str(Path(sys.executable).parent / "portal")


def free_port() -> int:
    """A free port below the kernel's ephemeral range, which `bind(("", 0))` never hands out.

    A process needs a second or two to bind the port it was given; in between, a port from
    the ephemeral range could go to any socket another test opens.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found below the ephemeral range")


@dataclass(frozen=True)
class Served:
    """A running `portal serve` process."""

    port: int
    pid: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def portal_serve(
    service: str, env: dict[str, str], log_dir: Path, *, ready: str = "/healthz"
) -> Iterator[Served]:
    """`portal serve <service>` with `env` over this process's environment; yields once
    `ready` answers 200 (60 s at most, failing with the log's tail)."""
    port = free_port()
    log = log_dir / f"{service}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PORTAL, "serve", service, "--port", str(port), "--host", "127.0.0.1"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(port, proc.pid, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(served.base + ready, timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"portal serve {service} did not start"
            time.sleep(0.2)
        yield served
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
