"""Which beacons are not people, in layers, each with its reason; and device labels.

Layers, first match wins (the reason is what `bot_daily` counts):

    no-user-agent   an empty User-Agent
    headless        headless browsers and automation frameworks in the User-Agent
    webdriver       the tracker reported `navigator.webdriver` (Selenium, Puppeteer,
                    Playwright set it even when they fake a normal User-Agent)
    crawler         crawlerdetect's maintained list (search engines, AI crawlers, HTTP
                    libraries, uptime monitors, …)
    prefetch        the browser speculatively fetched the page (`Sec-Purpose`/`Purpose:
                    prefetch`, `X-Moz: prefetch`): nobody has seen it yet; `purpose` is
                    the values of those headers, captured with the beacon
    ip-range        the client address is in a configured range (data centres, monitors)
    referrer-spam   the referrer host is on the configured spam list

Both the User-Agent verdict and the device labels are cached by User-Agent string: real
traffic repeats a few thousand strings, and ua-parser costs milliseconds on a cold string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from crawlerdetect import CrawlerDetect
from ua_parser import parse

from services.analytics.privacy import IpAddress, IpNetwork

HEADLESS = re.compile(
    r"headless|phantomjs|slimerjs|selenium|webdriver|puppeteer|playwright|electron/|"
    r"cypress|nightmare|zombie\.js|htmlunit|splash",
    re.IGNORECASE,
)
PREFETCH_VALUES = ("prefetch", "prerender")


@cache
def _detector() -> CrawlerDetect:
    return CrawlerDetect()


@lru_cache(maxsize=8192)
def user_agent_reason(user_agent: str) -> str | None:
    """The bot reason a User-Agent alone gives, or None for a browser."""
    if not user_agent.strip():
        return "no-user-agent"
    if HEADLESS.search(user_agent):
        return "headless"
    if _detector().isCrawler(user_agent):
        return "crawler"
    return None


PURPOSE_HEADERS = (b"sec-purpose", b"purpose", b"x-purpose", b"x-moz")


def _is_prefetch(purpose: str) -> bool:
    lowered = purpose.lower()
    return any(word in lowered for word in PREFETCH_VALUES)


def _host_matches(host: str, listed: Sequence[str]) -> bool:
    return any(host == spam or host.endswith("." + spam) for spam in listed)


@dataclass(frozen=True)
class BotRules:
    """The configurable layers: bot IP ranges and the referrer-spam list."""

    ip_ranges: tuple[IpNetwork, ...] = ()
    referrer_spam: tuple[str, ...] = ()

    def reason(
        self,
        *,
        user_agent: str,
        purpose: str,
        webdriver: bool,
        address: IpAddress | None,
        referrer_host: str | None,
    ) -> str | None:
        """Why this beacon is not a person, or None when it is one."""
        by_agent = user_agent_reason(user_agent)
        if by_agent == "no-user-agent" or by_agent == "headless":
            return by_agent
        if webdriver:
            return "webdriver"
        if by_agent is not None:
            return by_agent
        if purpose and _is_prefetch(purpose):
            return "prefetch"
        if address is not None and any(
            address.version == n.version and address in n for n in self.ip_ranges
        ):
            return "ip-range"
        if referrer_host and _host_matches(referrer_host, self.referrer_spam):
            return "referrer-spam"
        return None


@lru_cache(maxsize=8192)
def device_labels(user_agent: str) -> tuple[str, str]:
    """(desktop | mobile | tablet, browser family) from the User-Agent."""
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    os_family = result.os.family if result.os else ""
    model = (result.device.family if result.device else "") or ""
    lowered = user_agent.lower()
    if "ipad" in lowered or "tablet" in lowered or "ipad" in model.lower():
        kind = "tablet"
    elif os_family == "Android" and "mobile" not in lowered:
        kind = "tablet"
    elif "mobi" in lowered or os_family in {"iOS", "Android"} or "iphone" in lowered:
        kind = "mobile"
    else:
        kind = "desktop"
    return kind, browser[:40]
