"""Load scenario: the public article list (20 items) and detail through the gateway.

Measured with wrk against one uvicorn worker, next to a bare FastAPI hello-world served
the same way in the same run (the baseline). For each catalogue size the content database
(PostgreSQL) is filled with synthetic articles (`populate.py`), then:

    list-cached    GET /v1/portals/phu-yen/articles?limit=20   micro-cache on (the default)
    list-db        the same with CONTENT_PUBLIC_CACHE_TTL=0    every request hits PostgreSQL
                   (also at 1 connection: the service time itself, without queueing)
    detail-db      GET .../articles/{random id}                 every request hits PostgreSQL

    python bench/run_content.py --sizes 1000 100000 --duration 15 --connections 32

Needs wrk (Debian: apt-get install wrk) and PostgreSQL (BENCH_DATABASE_URL, default the
local server). Results go to bench/out/content-<timestamp>.json and are printed as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.populate import populate  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, probe: str):
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server did not start: {' '.join(cmd)}\n{err[-2000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wrk(url: str, *, duration: int, connections: int, script: Path | None = None) -> dict[str, Any]:
    def command(seconds: int) -> list[str]:
        extra = ["-s", str(script)] if script else []
        return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url]

    subprocess.run(command(2), capture_output=True, check=True)  # warm-up
    out = subprocess.run(command(duration), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        latency[f"p{pct}_ms"] = (
            value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
        )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        **latency,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


async def fresh_database(name: str) -> str:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def article_ids(url: str, limit: int = 5000) -> list[str]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT id FROM items ORDER BY random() LIMIT $1", limit)
    finally:
        await conn.close()
    return [r["id"] for r in rows]


def detail_script(ids: list[str], directory: Path) -> Path:
    path = directory / "detail.lua"
    lua_ids = ",".join(f'"{i}"' for i in ids)
    path.write_text(
        f"local ids = {{{lua_ids}}}\n"
        "math.randomseed(42)\n"
        "request = function()\n"
        '  return wrk.format("GET", "/v1/portals/phu-yen/articles/" .. ids[math.random(#ids)])\n'
        "end\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    quiet = {"LOG_LEVEL": "WARNING"}
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "wrk": f"-t1 -c{args.connections} -d{args.duration}s",
        "runs": {},
    }
    port = free_port()
    uvicorn = [
        str(VENV_BIN / "uvicorn"),
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    with server([*uvicorn, "bench.hello:app"], quiet, port, "/"):
        results["runs"]["hello-world"] = wrk(
            f"http://127.0.0.1:{port}/", duration=args.duration, connections=args.connections
        )
    print("hello-world", results["runs"]["hello-world"], flush=True)
    for size in args.sizes:
        url = asyncio.run(fresh_database(f"portal_bench_{size}"))
        asyncio.run(populate(url, size))
        script = detail_script(asyncio.run(article_ids(url)), tmp)
        for label, ttl in (("cached", "5"), ("db", "0")):
            port = free_port()
            env = {**quiet, "CONTENT_DATABASE_URL": url, "CONTENT_PUBLIC_CACHE_TTL": ttl}
            cmd = [
                str(VENV_BIN / "portal"),
                "dev",
                "--no-demo",
                "--port",
                str(port),
                "--data-dir",
                str(tmp / f"d{size}"),
            ]
            with server(cmd, env, port, "/healthz"):
                base = f"http://127.0.0.1:{port}/v1/portals/phu-yen/articles"
                assert len(httpx.get(base + "?limit=20").json()["items"]) == 20
                run = wrk(base + "?limit=20", duration=args.duration, connections=args.connections)
                results["runs"][f"list-{label} @{size}"] = run
                print(f"list-{label} @{size}", run, flush=True)
                if label == "db":
                    run = wrk(base + "?limit=20", duration=args.duration, connections=1)
                    results["runs"][f"list-db 1 connection @{size}"] = run
                    print(f"list-db 1 connection @{size}", run, flush=True)
                    run = wrk(
                        f"http://127.0.0.1:{port}/",
                        duration=args.duration,
                        connections=args.connections,
                        script=script,
                    )
                    results["runs"][f"detail-db @{size}"] = run
                    print(f"detail-db @{size}", run, flush=True)
    hello = results["runs"]["hello-world"]["rps"]
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"content-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(f"\n{results['machine']}; wrk {results['wrk']}; {results['date']}\n")
    print("| scenario | req/s | % of hello-world | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in results["runs"].items():
        print(
            f"| {name} | {run['rps']:,.0f} | {100 * run['rps'] / hello:.0f}% | "
            f"{run['p50_ms']:.2f} | {run['p99_ms']:.2f} | {run['non_2xx']} |"
        )


if __name__ == "__main__":
    main()
