"""Analytics at volume: ingest rate, zero loss, report latency on PostgreSQL.

    python bench/analytics.py --events 1000000 --connections 32

1. Plans `--events` requests with bench/traffic.py (seeded; people, bots, retries).
2. Content (`portal serve content`, PostgreSQL) holds the portals; analytics (`portal
   serve analytics`, one uvicorn worker, PostgreSQL) checks them over HTTP, trusts the
   load generator as its proxy and takes the replay clock from X-Analytics-Time.
3. wrk (-t1, one Lua script replaying the planned requests in order) drives first a bare
   FastAPI app answering the same POSTs with 202 (`bench/analytics_hello.py`, the same
   uvicorn settings; `--baseline` requests), then analytics with every planned request.
4. Zero loss: after the queue drains, the Prometheus counters and the tables must agree:
   accepted = stored + duplicate + bot + dropped, rows in `events` = stored,
   sum(bot_daily) = bot + dropped (beacons over the per-visitor / per-address bounds are
   dropped and counted per reason there). The planned traffic is people and bots at
   human pace, so a clean run drops none: `dropped` is reported, and must be 0.
5. Report latency: each report endpoint `--report-runs` times over the stored data.
6. The service's figures against the ledger (wrk keeps 32 requests in flight, so a
   visitor's beacons may arrive a few positions out of order: the differences show it).

Needs wrk (apt-get install wrk) and PostgreSQL (BENCH_DATABASE_URL, default the local
server). Results go to bench/out/analytics-<timestamp>.json and are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.run_content import free_port, fresh_database, server  # noqa: E402
from bench.traffic import Request, generate, headers_for  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from services.common.security import load_or_create_private_key  # noqa: E402

console = Console()
ADMIN_BASE = (
    os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    .rsplit("/", 1)[0]
    .replace("postgresql://", "postgresql+asyncpg://")
)

LUA = r"""
local path = os.getenv("BENCH_REQUESTS")
local limit = tonumber(os.getenv("BENCH_LIMIT"))
local lines = {}
local i, answered = 0, 0
init = function(args)
  for line in io.lines(path) do
    lines[#lines + 1] = line
    if #lines >= limit then break end
  end
end
request = function()
  i = i + 1
  if i > #lines then return wrk.format("GET", "/healthz") end
  local ip, at, ua, ct, hk, hv, body =
    lines[i]:match("^(.-)\t(.-)\t(.-)\t(.-)\t(.-)\t(.-)\t(.*)$")
  local headers = {["X-Forwarded-For"] = ip, ["X-Analytics-Time"] = at,
                   ["User-Agent"] = ua, ["Content-Type"] = ct}
  if hk ~= "" then headers[hk] = hv end
  return wrk.format("POST", "/v1/analytics/events", headers, body)
end
-- wrk cannot stop itself after N requests: mark the first and the last answer in files;
-- the bench times between them and stops wrk with SIGINT (it prints its summary then).
response = function(status, headers, body)
  answered = answered + 1
  if answered == 1 then io.open(path .. ".start", "w"):close() end
  if answered == #lines then io.open(path .. ".done", "w"):close() end
end
"""

REPORTS = {
    "stats day (2 days)": "/v1/analytics/portals/phu-yen/stats?from=2026-11-20&to=2026-11-21",
    "stats hour (2 days)": (
        "/v1/analytics/portals/phu-yen/stats?from=2026-11-20&to=2026-11-21&interval=hour"
    ),
    "stats month (1 year)": (
        "/v1/analytics/portals/phu-yen/stats?from=2025-12-01&to=2026-11-30&interval=month"
    ),
    "top pages": "/v1/analytics/portals/phu-yen/top?dimension=page&from=2026-11-20&to=2026-11-22",
    "top referrers": (
        "/v1/analytics/portals/phu-yen/top?dimension=referrer&from=2026-11-20&to=2026-11-22"
    ),
    "top devices": (
        "/v1/analytics/portals/phu-yen/top?dimension=device&from=2026-11-20&to=2026-11-22"
    ),
    "realtime": "/v1/analytics/portals/phu-yen/realtime",
    "counter (public)": "/v1/analytics/portals/phu-yen/counter",
    "bots": "/v1/analytics/portals/phu-yen/bots?from=2026-11-20&to=2026-11-22",
    "summary": "/v1/analytics/summary?from=2026-11-20&to=2026-11-22",
    "summary csv": "/v1/analytics/summary?from=2026-11-20&to=2026-11-22&format=csv",
}


def write_requests(requests: list[Request], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for index, request in enumerate(requests):
            headers = headers_for(request, index)
            extra = [(k, v) for k, v in request.headers.items()]
            hk, hv = extra[0] if extra else ("", "")
            body = json.dumps(request.body, ensure_ascii=False, separators=(",", ":"))
            fields = [
                headers["X-Forwarded-For"],
                headers["X-Analytics-Time"],
                headers["User-Agent"],
                headers["Content-Type"],
                hk,
                hv,
                body,
            ]
            out.write("\t".join(fields) + "\n")


def run_wrk(
    url: str, lua: Path, data: Path, limit: int, connections: int, tag: str
) -> dict[str, Any]:
    """Replay the first `limit` planned requests; the rate is timed between the first
    and the last answer (Lua marks them), not over wrk's start-up."""
    link = data.with_name(f"{tag}.tsv")
    link.unlink(missing_ok=True)
    link.symlink_to(data)
    for suffix in (".start", ".done"):
        Path(str(link) + suffix).unlink(missing_ok=True)
    env = {**os.environ, "BENCH_REQUESTS": str(link), "BENCH_LIMIT": str(limit)}
    cmd = ["wrk", "-t1", f"-c{connections}", "-d3600s", "--latency", "-s", str(lua), url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    start_mark, done_mark = Path(str(link) + ".start"), Path(str(link) + ".done")
    first = last = None
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(tag, total=None)
        while last is None:
            if proc.poll() is not None:
                raise RuntimeError(f"wrk ended early: {proc.stderr.read() if proc.stderr else ''}")
            now = time.monotonic()
            if first is None and start_mark.exists():
                first = now
            if first is not None and done_mark.exists():
                last = now
            bar.advance(task)
            time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    elapsed = last - first
    latency = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            value, unit = float(m.group(1)), m.group(2)
            latency[f"p{pct}_ms"] = (
                value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
            )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "socket_errors": errors.group(1) if errors else None,
        "requests": limit,
        "rps": round(limit / elapsed, 1),
        "seconds": round(elapsed, 2),
        **latency,
        "non_2xx_incl_tail": int(non2xx.group(1)) if non2xx else 0,
    }


def metric_values(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line.startswith(("analytics_", "http_requests_total")):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


BENCH_USER = "bench.admin"
BENCH_PASSWORD = "bench-password-not-secret"


async def make_portals(url: str) -> None:
    """The portals beacons name, and a superadmin who reads the reports."""
    from services.common.db import Database
    from services.content.accounts.passwords import hash_password
    from services.content.models import Portal, User

    database = Database.from_url(url)
    async with database.transaction() as session:
        session.add(
            User(
                username=BENCH_USER,
                password_hash=hash_password(BENCH_PASSWORD),
                full_name="Bench",
                is_superadmin=True,
            )
        )
        for portal, kind in (("phu-yen", "provincial"), ("da-nang", "provincial")):
            session.add(
                Portal(id=portal, name=f"BHXH {portal}", kind=kind, locales=["vi"], links=[])
            )
        session.add(
            Portal(id="trung-uong", name="BHXH Việt Nam", kind="central", locales=["vi"], links=[])
        )
    await database.dispose()


def bench_headers(content_port: int) -> dict[str, str]:
    """A bearer token of the bench's superadmin, from a real sign-in: analytics asks content
    for the caller's current roles, so a token content never issued is refused."""
    response = httpx.post(
        f"http://127.0.0.1:{content_port}/v1/auth/token",
        json={"username": BENCH_USER, "password": BENCH_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def table_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return {
            "events": await conn.fetchval("SELECT count(*) FROM events"),
            "bot_daily": int(await conn.fetchval("SELECT coalesce(sum(count), 0) FROM bot_daily")),
            "partitions": await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
            ),
        }
    finally:
        await conn.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def time_reports(http: httpx.Client, runs: int) -> dict[str, Any]:
    """p50/p95/max of each report endpoint over `runs` requests, with a progress bar."""
    latencies: dict[str, Any] = {}
    with Progress() as bar:
        task = bar.add_task("reports", total=len(REPORTS) * runs)
        for name, path in REPORTS.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                r = http.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                bar.advance(task)
            latencies[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(percentile(times, 95), 2),
                "max_ms": round(max(times), 2),
            }
    return latencies


def against_ledger(stats: dict[str, Any], ledger: Any) -> dict[str, dict[str, int]]:
    """phu-yen's figures from the service beside the ledger's. Stealth automation (a normal
    user agent, no webdriver flag) is counted as people by design: the ledger adds it."""
    truth = {
        name: sum(v for (p, _), v in getattr(ledger, name).items() if p == "phu-yen")
        for name in ("pageviews", "reloads", "events", "visits", "bounces")
    }
    stealth = sum(v for (p, _), v in ledger.stealth.items() if p == "phu-yen")
    leaks = ("pageviews", "visits", "bounces")
    compared = {
        name: {"service": stats[name], "ledger": truth[name] + (stealth if name in leaks else 0)}
        for name in truth
    }
    people = sum(len(v) for (p, _), v in ledger.people.items() if p == "phu-yen")
    compared["visitors"] = {"service": stats["visitors"], "ledger": people + stealth}
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=300_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--report-runs", type=int, default=100)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-analytics-"))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "command": " ".join(["python bench/analytics.py", *sys.argv[1:]]),
        "wrk": f"-t1 -c{args.connections}",
    }

    started = time.monotonic()
    with console.status(f"planning {args.events:,} requests"):
        requests, ledger = generate(args.events, seed=args.seed)
        data = tmp / "requests.tsv"
        write_requests(requests, data)
    results["plan"] = ledger.summary()
    console.print(f"planned {len(requests):,} requests in {time.monotonic() - started:.0f} s")

    content_url = asyncio.run(fresh_database("portal_bench_an_content"))
    analytics_url = asyncio.run(fresh_database("portal_bench_analytics"))
    upgrade("content", content_url)
    upgrade("analytics", analytics_url)
    asyncio.run(make_portals(content_url))
    load_or_create_private_key(tmp / "keys" / "signing.pem")
    quiet = {"LOG_LEVEL": "WARNING"}
    lua = tmp / "replay.lua"
    lua.write_text(LUA)
    uvicorn = [str(VENV_BIN / "uvicorn"), "--workers", "1", "--log-level", "warning"]

    port = free_port()
    with server([*uvicorn, "--port", str(port), "bench.analytics_hello:app"], quiet, port, "/docs"):
        console.print(f"baseline: {args.baseline:,} POSTs to a bare FastAPI app")
        results["hello-world"] = run_wrk(
            f"http://127.0.0.1:{port}", lua, data, args.baseline, args.connections, "hello"
        )
    console.print("hello-world", results["hello-world"])

    content_port, port = free_port(), free_port()
    portal = str(VENV_BIN / "portal")
    content_env = {
        **quiet,
        "CONTENT_DATABASE_URL": content_url,
        "CONTENT_DATA_DIR": str(tmp),
        "CONTENT_RUN_BACKGROUND": "false",
    }
    analytics_env = {
        **quiet,
        "ANALYTICS_DATABASE_URL": analytics_url,
        "ANALYTICS_DATA_DIR": str(tmp),
        "ANALYTICS_CONTENT_URL": f"http://127.0.0.1:{content_port}",
        "ANALYTICS_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "ANALYTICS_TRUST_CLOCK_HEADER": "true",
        "ANALYTICS_QUEUE_MAX_EVENTS": "200000",
    }
    with (
        server(
            [portal, "serve", "content", "--port", str(content_port)],
            content_env,
            content_port,
            "/healthz",
        ),
        server(
            [portal, "serve", "analytics", "--port", str(port)], analytics_env, port, "/healthz"
        ),
    ):
        base = f"http://127.0.0.1:{port}"
        console.print(f"analytics: {len(requests):,} beacons")
        results["analytics"] = run_wrk(
            base, lua, data, len(requests), args.connections, "analytics"
        )
        console.print("analytics", results["analytics"])
        results["ratio"] = round(results["analytics"]["rps"] / results["hello-world"]["rps"], 3)

        with console.status("waiting for the queue to drain"):
            deadline = time.monotonic() + 600
            while True:
                values = metric_values(httpx.get(base + "/metrics").text)
                if values.get("analytics_queue_depth", 1) == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        settled = {
            k: values.get(f'analytics_beacons_settled_total{{as="{k}"}}', 0)
            for k in ("stored", "duplicate", "bot", "dropped")
        }
        accepted = values.get("analytics_beacons_accepted_total", 0)
        answered = sum(
            v
            for k, v in values.items()
            if k.startswith("http_requests_total")
            and 'route="/v1/analytics/events"' in k
            and 'status="202"' in k
        )
        counts = asyncio.run(table_counts(analytics_url))
        results["loss"] = {
            "planned": len(requests),
            "answered_202": answered,
            "accepted": accepted,
            **{f"settled_{k}": v for k, v in settled.items()},
            "rows_in_events": counts["events"],
            "bots_in_bot_daily": counts["bot_daily"],
            "partitions": counts["partitions"],
            "lost": accepted - sum(settled.values()),
            # Refused beacons (503 when the queue is full, 4xx) are answered, not lost,
            # but a browser does not resend them: a clean run refuses none.
            "refused": {
                k.split('"')[1]: v
                for k, v in values.items()
                if k.startswith("analytics_beacons_refused_total{") and v
            },
            "zero_lost": answered == accepted == sum(settled.values())
            and counts["events"] == settled["stored"]
            and counts["bot_daily"] == settled["bot"] + settled["dropped"],
            # The planned traffic stays within the bounds: nothing of it may be dropped.
            "none_dropped": settled["dropped"] == 0,
        }
        console.print("loss", results["loss"])

        # Signed in now: an access token lives 15 minutes, less than a million beacons take.
        headers = bench_headers(content_port)
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            results["reports"] = time_reports(http, args.report_runs)
            stats = http.get(
                "/v1/analytics/portals/phu-yen/stats?from=2026-11-20&to=2026-11-23"
            ).json()
        console.print("reports", results["reports"])
        results["phu_yen_vs_ledger"] = against_ledger(stats, ledger)
        console.print("phu-yen vs ledger", results["phu_yen_vs_ledger"])

    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"analytics-{stamp}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    console.print_json(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
