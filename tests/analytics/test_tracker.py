"""The tracker script: size, behaviour in a JS engine (node), and in real headless Chromium."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

TRACKER = Path(str(resources.files("services.analytics").joinpath("tracker.js")))
HARNESS = Path(__file__).with_name("tracker_harness.js")
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None, reason="node is not installed (apt-get install nodejs)"
)


def run(scenario: str) -> list[dict]:
    return run_full(scenario)["sent"]


def run_full(scenario: str) -> dict:
    assert NODE is not None
    out = subprocess.run(
        [NODE, str(HARNESS), str(TRACKER), scenario], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result["cookie"] == ""
    return result


class TestScript:
    async def test_served_small_and_cacheable(self, analytics):
        r = await analytics.get("/v1/analytics/script.js")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/javascript")
        assert "public" in r.headers["cache-control"]
        assert len(gzip.compress(r.content, 9)) < 2048
        assert b"sendBeacon" in r.content
        assert b"cookie" not in r.content.lower().replace(b"no cookies", b"")
        assert b"localStorage" not in r.content
        assert b"sessionStorage" not in r.content


@needs_node
class TestBehaviour:
    def test_load_sends_one_pageview_as_text_plain(self):
        sent = run("load")
        assert len(sent) == 1
        beacon = sent[0]
        assert beacon["url"] == "https://api.portal.gov.vn/v1/analytics/events"
        assert beacon["type"] == "text/plain"
        body = beacon["body"]
        assert body["portal"] == "phu-yen"
        assert body["type"] == "pageview"
        assert body["url"] == "https://bhxh.phuyen.gov.vn/tin-tuc?x=1"
        assert body["referrer"] == "https://www.google.com/"
        assert body["article"] == "art-1"
        assert body["webdriver"] is False
        assert body["id"]

    def test_spa_navigation_never_counts_the_same_path_twice(self):
        sent = run("spa")
        paths = [s["body"]["url"] for s in sent if s["body"]["type"] == "pageview"]
        assert paths == [
            "https://bhxh.phuyen.gov.vn/tin-tuc?x=1",
            "https://bhxh.phuyen.gov.vn/tin-tuc/bai-1",
            "https://bhxh.phuyen.gov.vn/van-ban",
            "https://bhxh.phuyen.gov.vn/tin-tuc/bai-1",  # back, by popstate
        ]
        assert (sent[-1]["body"]["type"], sent[-1]["body"]["name"]) == ("event", "tai-van-ban")
        ids = [s["body"]["id"] for s in sent]
        assert len(set(ids)) == len(ids)

    @pytest.mark.parametrize("scenario", ["prerender", "prerender-legacy"])
    def test_prerender_waits_until_shown(self, scenario):
        result = run_full(scenario)
        assert result["before"] == 0  # nothing while prerendered
        assert len(result["sent"]) == 1  # one page view once shown

    def test_webdriver_is_reported(self):
        assert run("webdriver")[0]["body"]["webdriver"] is True


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=4000",
]
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="portal:article" content="bai-1"><meta name="portal:category" content="tin-tuc">
<script defer src="/v1/analytics/script.js" data-portal="phu-yen"></script></head>
<body><h1>Trang thử</h1><script>
setTimeout(function () {
  history.pushState({}, "", "/spa/next");
  history.pushState({}, "", "/spa/next?tab=2");
  history.pushState({}, "", "/spa/third");
  portalAnalytics.event("tai-ve");
}, 300);
</script></body></html>"""


async def _browse(analytics, tmp_path, user_agent: str) -> list:
    import asyncio
    import socket

    import uvicorn
    from sqlalchemy import select
    from starlette.responses import HTMLResponse

    from services.analytics.models import events

    async def site(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/page":
            await HTMLResponse(PAGE)(scope, receive, send)
        else:
            await analytics.app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(site, lifespan="off", ws="none", log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        assert CHROMIUM is not None
        browser = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *CHROME_FLAGS,
            f"--user-data-dir={tmp_path / 'chrome'}",
            f"--user-agent={user_agent}",
            "--dump-dom",
            f"http://127.0.0.1:{port}/page",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(browser.communicate(), timeout=60)
        assert b"Trang th" in out
        await analytics.drain()
    finally:
        server.should_exit = True
        await serving
        sock.close()
    async with analytics.database.transaction() as session:
        return list(await session.execute(select(events).order_by(events.c.ts, events.c.kind)))


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed: `apt-get install -y chromium` (Debian) to run this test",
)
class TestInRealChromium:
    async def test_page_view_spa_navigation_and_event(self, analytics, tmp_path):
        from analytics_helpers import BROWSER_UA

        rows = await _browse(analytics, tmp_path, BROWSER_UA)
        pages = sorted(r.path for r in rows if r.kind == "pageview")
        assert pages == ["/page", "/spa/next", "/spa/third"]
        assert [r.name for r in rows if r.kind == "event"] == ["tai-ve"]
        assert {r.article for r in rows if r.path == "/page"} == {"bai-1"}

    async def test_headless_user_agent_is_dropped(self, analytics, tmp_path):
        ua = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.0.0 Safari/537.36"
        )
        assert await _browse(analytics, tmp_path, ua) == []
        assert analytics.runtime.ingestor.metrics.settled.labels("bot")._value.get() >= 3
