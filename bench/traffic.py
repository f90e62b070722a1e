"""Seeded synthetic visitor traffic with an exact ground-truth ledger, and its replay.

    python bench/traffic.py --events 10000 --seed 7          # print the ledger's summary

`generate(events, seed)` plans people and bots over two local days (so visits cross
midnight) and returns the requests, sorted by time, and a `Ledger` that counts what the
service *should* report, by the definitions in docs/analytics.md:

- people: 1-3 visits each, separated by 31 minutes to 5 hours of silence; 1-8 pages per
  visit, 5 s to 25 min apart; reloads (the same page again seconds later: stored but not a
  page view); SPA navigation (new paths without a load); events (downloads); visits that
  cross local midnight; NAT: up to 6 people behind one IPv4 address, each with another
  browser; IPv6 people (their /64 identifies them); retried beacons (same `id`); some
  prefetches (`Sec-Purpose: prefetch`, never a view);
- bots: Googlebot, bingbot, GPTBot, curl, python-requests, uptime monitors (declared
  crawlers); headless Chrome by user agent, automation that only `navigator.webdriver`
  betrays, and a small share of "stealth" headless with a normal user agent and no flag,
  which no layer can tell from a person (they are counted as leaked, not hidden).

`replay(requests, client)` POSTs each request as the tracker would (half JSON, half
`text/plain`), with `X-Forwarded-For` (the replayer acts as a trusted proxy) and
`X-Analytics-Time` (the service's clock in replay mode: ANALYTICS_TRUST_CLOCK_HEADER=true).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 11, 20, 0, 0, tzinfo=ZONE)  # two local days from here
SPAN = timedelta(days=2)
PORTALS = {"phu-yen": 5, "da-nang": 3, "trung-uong": 2}
SITES = {
    "phu-yen": "https://bhxh.phuyen.gov.vn",
    "da-nang": "https://bhxh.danang.gov.vn",
    "trung-uong": "https://baohiemxahoi.gov.vn",
}
PATHS = [
    "/",
    "/tin-tuc",
    "/tin-tuc/chinh-sach-moi-ve-bhxh-tu-nguyen",
    "/tin-tuc/tang-luong-huu-tu-thang-7",
    "/tin-tuc/huong-dan-dong-bhyt-ho-gia-dinh",
    "/van-ban/3216-bhxh-tt",
    "/van-ban/12-2024-nd-cp",
    "/thu-tuc-hanh-chinh",
    "/hoi-dap",
    "/lien-he",
    "/tra-cuu/ma-so-bhxh",
    "/tra-cuu/co-so-kham-chua-benh",
]
ARTICLES = {p: p.rsplit("/", 1)[1][:40] for p in PATHS if p.startswith("/tin-tuc/")}
REFERRERS = [
    None,
    None,
    None,
    "https://www.google.com/",
    "https://zalo.me/",
    "https://www.facebook.com/",
]
HUMAN_UAS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"
    ),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
        "Gecko) coc_coc_browser/124.0.242 Chrome/118.0.5993.242 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0.0.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Zalo iOS/475 ZaloTheme/light "
        "ZaloLanguage/vn"
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-A546E) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; CPH2591) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Zalo android/12100659 "
        "ZaloTheme/light ZaloLanguage/vi"
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X205) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; vivo 1938) AppleWebKit/537.36 (KHTML, like "
        "Gecko) coc_coc_browser/124.0.272 Chrome/118.0.5993.272 Mobile Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; OPPO A15) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/128.0.0.0 Mobile Safari/537.36"
    ),
]
CRAWLER_UAS = {
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "gptbot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "curl": "curl/8.5.0",
    "python-requests": "python-requests/2.32.3",
    "uptimerobot": "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "pingdom": "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
}
HEADLESS_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class Request:
    at: datetime
    ip: str
    ua: str
    body: dict[str, Any]
    headers: dict[str, str]
    actor: str  # human | crawler | headless | prefetch | duplicate
    label: str = ""


@dataclass
class Ledger:
    """What the service must report, computed from the plan, not from the service."""

    pageviews: Counter[tuple[str, date]] = field(default_factory=Counter)
    reloads: Counter[tuple[str, date]] = field(default_factory=Counter)
    events: Counter[tuple[str, date]] = field(default_factory=Counter)
    visits: Counter[tuple[str, date]] = field(default_factory=Counter)
    bounces: Counter[tuple[str, date]] = field(default_factory=Counter)
    people: dict[tuple[str, date], set[int]] = field(default_factory=lambda: defaultdict(set))
    identities: dict[tuple[str, date], set[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    sent: Counter[str] = field(default_factory=Counter)  # requests by actor
    crawlers: Counter[str] = field(default_factory=Counter)  # by crawler name
    headless: Counter[str] = field(default_factory=Counter)  # ua | webdriver | stealth
    # Stealth automation looks like one person with one page view (a bounced visit) to
    # every layer; where it went, so that the people's figures can be checked exactly.
    stealth: Counter[tuple[str, date]] = field(default_factory=Counter)

    @property
    def human_hits(self) -> int:
        """Beacons of people that must be stored (page views, reloads and events)."""
        return sum(self.pageviews.values()) + sum(self.reloads.values()) + sum(self.events.values())

    def summary(self) -> dict[str, Any]:
        return {
            "requests": dict(self.sent),
            "pageviews": sum(self.pageviews.values()),
            "reloads": sum(self.reloads.values()),
            "events": sum(self.events.values()),
            "visits": sum(self.visits.values()),
            "bounces": sum(self.bounces.values()),
            "visitor_days": sum(len(v) for v in self.people.values()),
            "identity_days": sum(len(v) for v in self.identities.values()),
            "crawlers": dict(self.crawlers),
            "headless": dict(self.headless),
        }


class _Planner:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.requests: list[Request] = []
        self.ledger = Ledger()
        self.person = 0
        self.nat: list[tuple[str, set[str]]] = []
        self.used: set[str] = set()

    def day(self, moment: datetime) -> date:
        return moment.astimezone(ZONE).date()

    def token(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def address(self) -> str:
        """A fresh address: two people share one only through a NAT (planned, below)."""
        rng = self.rng
        while True:
            if rng.random() < 0.15:  # IPv6: a /64 per household, random interface ids
                prefix = ipaddress.IPv6Address("2402:800::") + (rng.getrandbits(32) << 64)
                ip = str(prefix + rng.getrandbits(64))
            else:
                ip = str(ipaddress.IPv4Address("14.160.0.0") + rng.getrandbits(22))
            if _network(ip) not in self.used:
                self.used.add(_network(ip))
                return ip

    def identity(self) -> tuple[str, str]:
        rng = self.rng
        if self.nat and rng.random() < 0.25:  # behind a NAT already in use
            ip, used = rng.choice(self.nat)
            free = [ua for ua in HUMAN_UAS if ua not in used]
            if free and len(used) < 6:
                ua = rng.choice(free)
                used.add(ua)
                return ip, ua
        ip, ua = self.address(), rng.choice(HUMAN_UAS)
        if ":" not in ip and rng.random() < 0.2:
            self.nat.append((ip, {ua}))
        return ip, ua

    def beacon(self, portal: str, path: str, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"portal": portal, "url": SITES[portal] + path, "id": self.token()}
        if path in ARTICLES:
            body["article"] = ARTICLES[path]
            body["category"] = "tin-tuc"
        body.update({k: v for k, v in extra.items() if v is not None})
        return body

    def human(self, budget: int) -> None:
        """One person's visits; appends requests and ledger entries."""
        rng, ledger = self.rng, self.ledger
        self.person += 1
        person = self.person
        portal = rng.choices(list(PORTALS), weights=list(PORTALS.values()))[0]
        ip, ua = self.identity()
        if rng.random() < 0.06:  # starts just before midnight: the visit crosses it
            midnight = START + timedelta(days=1)
            at = midnight - timedelta(minutes=rng.uniform(1, 20))
        else:
            at = START + timedelta(seconds=rng.uniform(0, SPAN.total_seconds() * 0.9))
        sent = 0
        for _visit in range(rng.choice((1, 1, 1, 2, 2, 3))):
            pages, events, last = 0, 0, None
            visit_day = self.day(at)
            ledger.visits[(portal, visit_day)] += 1
            for step in range(rng.choice((1, 1, 2, 3, 4, 5, 6, 8))):
                if step:
                    gap = rng.uniform(5, 600) if rng.random() < 0.9 else rng.uniform(600, 1500)
                    at += timedelta(seconds=gap)
                path = rng.choice([p for p in PATHS if p != last])
                referrer = rng.choice(REFERRERS) if step == 0 else SITES[portal] + (last or "/")
                self.add_human(at, ip, ua, self.beacon(portal, path, referrer=referrer), person)
                ledger.pageviews[(portal, self.day(at))] += 1
                pages, last, sent = pages + 1, path, sent + 1
                if rng.random() < 0.08:  # a reload a few seconds later
                    at += timedelta(seconds=rng.uniform(1, 20))
                    self.add_human(at, ip, ua, self.beacon(portal, path), person)
                    ledger.reloads[(portal, self.day(at))] += 1
                    sent += 1
                if rng.random() < 0.06:  # a download, a video play…
                    at += timedelta(seconds=rng.uniform(2, 60))
                    body = self.beacon(portal, path, type="event", name="tai-van-ban")
                    self.add_human(at, ip, ua, body, person)
                    ledger.events[(portal, self.day(at))] += 1
                    events, sent = events + 1, sent + 1
            if pages == 1 and events == 0:
                ledger.bounces[(portal, visit_day)] += 1
            if sent >= budget:
                return
            # Silence longer than 30 minutes: the next visit is a new one.
            at += timedelta(seconds=rng.uniform(31 * 60, 5 * 3600))

    def add_human(self, at: datetime, ip: str, ua: str, body: dict[str, Any], person: int) -> None:
        rng, ledger = self.rng, self.ledger
        portal = body["portal"]
        self.requests.append(Request(at, ip, ua, body, {}, "human"))
        ledger.sent["human"] += 1
        key = (portal, self.day(at))
        ledger.people[key].add(person)
        ledger.identities[key].add((_network(ip), ua))
        if rng.random() < 0.03:  # the beacon is retried: same id, counts once
            later = at + timedelta(milliseconds=rng.uniform(50, 900))
            self.requests.append(Request(later, ip, ua, dict(body), {}, "duplicate"))
            ledger.sent["duplicate"] += 1
        if rng.random() < 0.01:  # the browser prefetched a link: nobody saw it
            path = rng.choice(PATHS)
            head = {"Sec-Purpose": "prefetch"}
            self.requests.append(Request(at, ip, ua, self.beacon(portal, path), head, "prefetch"))
            ledger.sent["prefetch"] += 1

    def bot(self) -> None:
        rng, ledger = self.rng, self.ledger
        portal = rng.choice(list(PORTALS))
        at = START + timedelta(seconds=rng.uniform(0, SPAN.total_seconds()))
        body = self.beacon(portal, rng.choice(PATHS))
        if rng.random() < 0.6:
            name = rng.choice(list(CRAWLER_UAS))
            ledger.crawlers[name] += 1
            ledger.sent["crawler"] += 1
            self.requests.append(
                Request(at, self.address(), CRAWLER_UAS[name], body, {}, "crawler", name)
            )
            return
        ledger.sent["headless"] += 1
        roll = rng.random()
        if roll < 0.62:
            kind, ua = "ua", HEADLESS_UA
        elif roll < 0.97:
            kind, ua = "webdriver", rng.choice(HUMAN_UAS)
            body["webdriver"] = True
        else:
            kind, ua = "stealth", rng.choice(HUMAN_UAS)
        ledger.headless[kind] += 1
        if kind == "stealth":
            ledger.stealth[(portal, self.day(at))] += 1
        # Automation drives a fresh browser each time: one page, one address.
        self.requests.append(Request(at, self.address(), ua, body, {}, "headless", kind))


def _network(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip


def generate(
    events: int = 10_000, seed: int = 7, bot_share: float = 0.25
) -> tuple[list[Request], Ledger]:
    """About `events` requests (people, their retries and prefetches, bots), time-sorted."""
    planner = _Planner(seed)
    bots = int(events * bot_share)
    while len(planner.requests) < events - bots:
        planner.human(events - bots - len(planner.requests))
    for _ in range(bots):
        planner.bot()
    planner.requests.sort(key=lambda r: r.at)
    return planner.requests, planner.ledger


def headers_for(request: Request, index: int) -> dict[str, str]:
    return {
        "User-Agent": request.ua,
        "X-Forwarded-For": request.ip,
        "X-Analytics-Time": request.at.astimezone(UTC).isoformat(),
        "Content-Type": "text/plain;charset=UTF-8" if index % 2 else "application/json",
        **request.headers,
    }


async def replay(
    requests: list[Request],
    client: httpx.AsyncClient,
    *,
    concurrency: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Counter[int]:
    """POST every request in time order (`concurrency` in flight); status code counts."""
    statuses: Counter[int] = Counter()
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(requests):
            index = position
            position += 1
            request = requests[index]
            response = await client.post(
                "/v1/analytics/events",
                content=json.dumps(request.body).encode(),
                headers=headers_for(request, index),
            )
            statuses[response.status_code] += 1
            if progress is not None:
                progress(1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    _, ledger = generate(args.events, args.seed)
    print(json.dumps(ledger.summary(), indent=2))


if __name__ == "__main__":
    main()
