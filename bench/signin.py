"""`/healthz` latency while sign-ins hash passwords (finding 1 of issue 10).

`portal dev --no-demo` in a subprocess (the gateway with every service mounted, one uvicorn
process, one event loop), demo accounts seeded first. In the same run, for each scenario:

    baseline   `/healthz` probed one request at a time for `--seconds`, nothing else running
    burst      the same probe while `--concurrency` clients sign in back to back, wrong and
               right passwords alternating, over the demo accounts

Scenarios (each on a fresh server): `unthrottled` opens the sign-in throttle wide
(`CONTENT_SIGN_IN_*` very high), so every attempt runs a real argon2 check — the cost of
hashing itself; `default` keeps the shipped throttle, where wrong passwords from one
address soon become cheap 429s.

    python bench/signin.py --seconds 15 --concurrency 8

Results go to bench/out/signin-<timestamp>.json and are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.run_content import free_port, server  # noqa: E402

PASSWORD = "bench-demo-password-1"
ACCOUNTS = ["phuyen.admin", "phuyen.editor", "hanoi.editor", "tw.editor", "tw.approver"]
OPEN_THROTTLE = {
    "CONTENT_SIGN_IN_FREE_FAILURES": "1000000",
    "CONTENT_SIGN_IN_IP_FAILURES_PER_HOUR": "1000000",
    "CONTENT_SIGN_IN_ACCOUNT_FAILURES_PER_HOUR": "1000000",
}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(at(0.95), 2),
        "p99": round(at(0.99), 2),
        "max": round(ordered[-1], 2),
    }


async def probe(client: httpx.AsyncClient, until: float) -> list[float]:
    """`/healthz` one request at a time, 10 ms apart; latencies in ms."""
    latencies = []
    while time.monotonic() < until:
        started = time.perf_counter()
        response = await client.get("/healthz")
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.01)
    return latencies


async def sign_ins(
    client: httpx.AsyncClient, worker: int, until: float, out: list[tuple[int, float]]
) -> None:
    n = worker
    while time.monotonic() < until:
        account = ACCOUNTS[n % len(ACCOUNTS)]
        password = PASSWORD if n % 2 else f"wrong-{n}"
        started = time.perf_counter()
        response = await client.post(
            "/v1/auth/token",
            json={"username": account, "password": password},
            # One address per client (portal dev trusts loopback's X-Forwarded-For), as
            # from several people's machines.
            headers={"X-Forwarded-For": f"192.0.2.{worker + 1}"},
        )
        out.append((response.status_code, (time.perf_counter() - started) * 1000))
        n += 1


async def measure(base_url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60) as prober,
        httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as signer,
    ):
        await probe(prober, time.monotonic() + 1)  # warm-up
        baseline = await probe(prober, time.monotonic() + seconds)
        results: list[tuple[int, float]] = []
        until = time.monotonic() + seconds
        burst, *_ = await asyncio.gather(
            probe(prober, until),
            *(sign_ins(signer, worker, until, results) for worker in range(concurrency)),
        )
    statuses = Counter(status for status, _ in results)
    return {
        "baseline_ms": percentiles(baseline),
        "burst_ms": percentiles(burst),
        "sign_ins": len(results),
        "sign_ins_per_s": round(len(results) / seconds, 1),
        "sign_in_statuses": dict(sorted(statuses.items())),
        "sign_in_ms": percentiles([ms for _, ms in results]),
    }


def run_scenario(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-signin-") as tmp:
        base_env = {
            "PORTAL_ADMIN_PASSWORD": PASSWORD,
            "PORTAL_DEMO_PASSWORD": PASSWORD,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        subprocess_env = {**os.environ, **base_env}
        seed = [str(VENV_BIN / "portal"), "seed", "--data-dir", tmp]
        subprocess.run(seed, env=subprocess_env, cwd=ROOT, check=True, capture_output=True)
        port = free_port()
        cmd = [
            str(VENV_BIN / "portal"), "dev", "--no-demo", "--port", str(port), "--data-dir", tmp,
        ]  # fmt: skip
        with server(cmd, base_env, port, "/healthz"):
            result = asyncio.run(
                measure(f"http://127.0.0.1:{port}", args.seconds, args.concurrency)
            )
    result["scenario"] = name
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--scenarios", nargs="+", default=["unthrottled", "default"])
    args = parser.parse_args()
    scenarios = {"unthrottled": OPEN_THROTTLE, "default": {}}
    results = [run_scenario(name, scenarios[name], args) for name in args.scenarios]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.platform()}",
        "python": platform.python_version(),
        "args": vars(args),
        "results": results,
    }
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"signin-{stamp}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print()
    print("| scenario | /healthz alone p50 / p95 / max ms | during the burst p50 / p95 / max ms "
          "| sign-ins/s | statuses | sign-in p50 ms |")  # fmt: skip
    print("|---|---|---|---:|---|---:|")
    for r in results:
        b, d, s = r["baseline_ms"], r["burst_ms"], r["sign_in_ms"]
        statuses = ", ".join(f"{k}: {v}" for k, v in r["sign_in_statuses"].items())
        print(
            f"| {r['scenario']} | {b['p50']} / {b['p95']} / {b['max']} "
            f"| {d['p50']} / {d['p95']} / {d['max']} | {r['sign_ins_per_s']} | {statuses} "
            f"| {s['p50']} |"
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
