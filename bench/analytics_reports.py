"""Report latency (and the figures against the ledger) over the data a previous
`bench/analytics.py` run left in PostgreSQL, without ingesting again.

    python bench/analytics_reports.py --events 1000000 --report-runs 100

It starts content and analytics (one uvicorn worker each) on the databases
`portal_bench_an_content` and `portal_bench_analytics`, times each report endpoint and
regenerates the plan (same seed) to compare phu-yen's totals with the ledger.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.analytics import ADMIN_BASE, against_ledger, bench_headers, time_reports  # noqa: E402
from bench.run_content import free_port, server  # noqa: E402
from bench.traffic import generate  # noqa: E402
from services.common.security import load_or_create_private_key  # noqa: E402

console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--report-runs", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-reports-"))
    load_or_create_private_key(tmp / "keys" / "signing.pem")
    content_url = f"{ADMIN_BASE}/portal_bench_an_content"
    analytics_url = f"{ADMIN_BASE}/portal_bench_analytics"
    content_port, port = free_port(), free_port()
    portal = str(VENV_BIN / "portal")
    quiet = {"LOG_LEVEL": "WARNING"}
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
        # the replayed clock: "now" is the last replayed instant, as during the run
        "ANALYTICS_TRUST_CLOCK_HEADER": "true",
        "ANALYTICS_RUN_BACKGROUND": "false",
    }
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python bench/analytics_reports.py", *sys.argv[1:]]),
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
        headers = bench_headers(content_port)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            results["reports"] = time_reports(http, args.report_runs)
            stats = http.get(
                "/v1/analytics/portals/phu-yen/stats?from=2026-11-20&to=2026-11-23"
            ).json()
    console.print("reports", results["reports"])
    with console.status("regenerating the plan for the ledger"):
        _, ledger = generate(args.events, seed=args.seed)
    results["phu_yen_vs_ledger"] = against_ledger(stats, ledger)
    console.print("phu-yen vs ledger", results["phu_yen_vs_ledger"])
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"analytics-reports-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
