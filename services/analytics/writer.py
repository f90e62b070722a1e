"""The batch writer: from captured beacons to stored events, rollups and bot counts.

The request path only captures a beacon (`ingest.Raw`: its fields, the time, the socket
peer and the few headers that matter) and queues it. Everything else happens here, a
batch at a time, away from the request loop:

1. classify each beacon: the client address (through trusted proxies), the bot layers
   (`bots.BotRules`), and for people the day's visitor id, device and browser labels;
2. in one transaction: drop retried beacons (`beacon_ids`), apply the hits in time order
   to the visitors' states (`sessions.Sessionizer`), insert the events and add to the
   hourly and daily rollups, the top lists and the bot counts.

The address and the user agent exist only in memory, in the batch: what is stored is the
visitor id (`privacy.visitor_id`). Each batch carries an id recorded in the same
transaction (`ingest_batches`), so a batch sent again after a writer process died between
its commit and its answer is recognised and not counted twice.

`BatchWriter` runs inside the service (`ANALYTICS_WRITER=inline`, and in tests) or in its
own process (`writer_process.py`, the default), the same code either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics import repository as repo
from services.analytics.beacon import page_path, referrer_host
from services.analytics.bots import BotRules, device_labels
from services.analytics.bounds import FLOOD_IP, FLOOD_VISITOR, BeaconBounds, Tally
from services.analytics.ingest import Raw, new_event_id
from services.analytics.privacy import (
    cached_client_address,
    local_day,
    network_key,
    parse_networks,
    visitor_id,
)
from services.analytics.sessions import Hit, Sessionizer
from services.analytics.settings import AnalyticsSettings
from services.common.db import Database

log = logging.getLogger("analytics.writer")
KEYS_KEPT = timedelta(hours=48)
DROPPED = frozenset({FLOOD_VISITOR, FLOOD_IP})  # bot_daily reasons that are not bots


@dataclass(frozen=True)
class BotDrop:
    portal: str
    day: date
    reason: str


@dataclass(frozen=True)
class Settled:
    """What became of a batch: event rows stored, retried beacons (duplicates), bots
    counted, and beacons dropped over a bound (`bounds.py`); they add up to the batch."""

    stored: int
    duplicates: int
    bots: int
    dropped: int = 0


class SaltBook:
    """The salt of each local day, cached; created in the database on first use."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._salts: dict[date, bytes] = {}
        self._lock = asyncio.Lock()

    async def get(self, day: date, now: datetime) -> bytes:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        async with self._lock:
            salt = self._salts.get(day)
            if salt is None:
                async with self.database.transaction() as session:
                    salt = await repo.salt_for(session, day, now)
                self._salts[day] = salt
            return salt

    def forget_before(self, day: date) -> None:
        for known in [d for d in self._salts if d < day]:
            del self._salts[known]


def yesterday_matters(moment: datetime, zone: ZoneInfo, idle: timedelta) -> bool:
    """Whether a visit begun before local midnight may still be open at `moment`."""
    local = moment.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local - midnight <= idle


def _month(day: date, ahead: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + ahead
    return date(index // 12, index % 12 + 1, 1)


class BatchWriter:
    """Classifies and writes batches of captured beacons; owns every analytics write."""

    def __init__(self, database: Database, settings: AnalyticsSettings) -> None:
        self.database = database
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.sessionizer = Sessionizer(
            zone=self.zone,
            idle=timedelta(minutes=settings.visit_idle_minutes),
            reload=timedelta(minutes=settings.reload_minutes),
        )
        self.salts = SaltBook(database)
        self.rules = BotRules(
            ip_ranges=parse_networks(settings.bot_ip_ranges),
            referrer_spam=tuple(h.lower() for h in settings.referrer_spam),
        )
        self.trusted = parse_networks(settings.trusted_proxies)
        self.known_partitions: set[date] = set()
        self.bounds = BeaconBounds(
            per_visitor=settings.beacons_per_visitor_per_minute,
            per_address=settings.beacons_per_ip_per_minute,
        )

    async def write(self, batch_id: str, batch: list[Raw]) -> Settled:
        """Write one batch in one transaction; a batch id already written is not redone."""
        salts = await self._salts_for(batch)
        tally = self.bounds.tally()
        items = [self.classify(raw, salts, tally) for raw in batch]
        hits = [item for item in items if isinstance(item, Hit)]
        bots = Counter((b.portal, b.day, b.reason) for b in items if isinstance(b, BotDrop))
        dropped = sum(n for (_, _, reason), n in bots.items() if reason in DROPPED)
        async with self.database.transaction() as session:
            await repo.lock_for_flush(session)
            done = await repo.batch_written(session, batch_id)
            if done is not None:
                return Settled(*done)
            hits, duplicates = await self._unique(session, hits)
            await self._apply(session, hits)
            await repo.add_bots(session, bots)
            settled = Settled(len(hits), duplicates, sum(bots.values()) - dropped, dropped)
            await repo.record_batch(session, batch_id, max(r.ts for r in batch), *_counts(settled))
        self.bounds.commit(tally)
        return settled

    async def _salts_for(self, batch: list[Raw]) -> dict[date, bytes]:
        """The salts of every local day the batch's visitor ids need (yesterday's too in
        the first minutes after midnight, to carry visits across it)."""
        idle = self.sessionizer.idle
        needed: dict[date, datetime] = {}
        for raw in batch:
            day = local_day(raw.ts, self.zone)
            needed.setdefault(day, raw.ts)
            if yesterday_matters(raw.ts, self.zone, idle):
                needed.setdefault(day - timedelta(days=1), raw.ts)
        return {day: await self.salts.get(day, at) for day, at in needed.items()}

    def classify(
        self, raw: Raw, salts: dict[date, bytes], tally: Tally | None = None
    ) -> Hit | BotDrop:
        """What a captured beacon becomes: a bot count, a drop over a bound (when a batch's
        `tally` is given) or a pseudonymous hit."""
        day = local_day(raw.ts, self.zone)
        address = cached_client_address(raw.peer, raw.forwarded_for, self.trusted)
        referrer = referrer_host(raw.referrer, raw.url)
        reason = self.rules.reason(
            user_agent=raw.user_agent,
            purpose=raw.purpose,
            webdriver=raw.webdriver,
            address=address,
            referrer_host=referrer,
        )
        if reason is not None:
            return BotDrop(raw.portal, day, reason)
        visitor = visitor_id(salts[day], raw.portal, address, raw.user_agent)
        if tally is not None:
            network = None if address is None else network_key(address)
            over = tally.admit(raw.ts, network, visitor)
            if over is not None:
                return BotDrop(raw.portal, day, over)
        previous = None
        if yesterday_matters(raw.ts, self.zone, self.sessionizer.idle):
            yesterday = salts[day - timedelta(days=1)]
            previous = visitor_id(yesterday, raw.portal, address, raw.user_agent)
        device, browser = device_labels(raw.user_agent)
        return Hit(
            portal=raw.portal,
            ts=raw.ts,
            id=new_event_id(),
            visitor=visitor,
            previous_visitor=previous,
            kind=raw.kind,
            name=raw.name,
            path=page_path(raw.url),
            article=raw.article,
            category=raw.category,
            referrer=referrer,
            device=device,
            browser=browser,
            screen_width=raw.screen_width,
            client_id=raw.client_id,
        )

    async def _apply(self, session: AsyncSession, hits: list[Hit]) -> None:
        hits.sort(key=lambda h: h.ts)  # stable: beacons of the same instant keep their order
        keys = {(h.portal, h.visitor) for h in hits}
        keys |= {(h.portal, h.previous_visitor) for h in hits if h.previous_visitor}
        states = await repo.load_states(session, keys)
        out = self.sessionizer.apply(hits, states)
        months = {h.ts.date().replace(day=1) for h in hits}
        await repo.ensure_partitions(session, months, self.known_partitions)
        await repo.insert_events(session, out.rows)
        await repo.save_states(session, out.states)
        for key, count in (await repo.add_visitor_days(session, out.visitor_days)).items():
            out.daily[key]["visitors"] += count
        await repo.add_rollups(session, out.hourly, out.daily)
        await repo.add_top(session, out.top)

    @staticmethod
    async def _unique(session: AsyncSession, hits: list[Hit]) -> tuple[list[Hit], int]:
        """Drop retried beacons: the same (portal, id) in this batch or already stored."""
        seen: set[tuple[str, str]] = set()
        first: list[Hit] = []
        for hit in hits:
            if hit.client_id is not None:
                key = (hit.portal, hit.client_id)
                if key in seen:
                    continue
                seen.add(key)
            first.append(hit)
        if not seen:
            return first, len(hits) - len(first)
        stamp = max(h.ts for h in first)
        fresh = await repo.claim_client_ids(session, seen, stamp)
        kept = [h for h in first if h.client_id is None or (h.portal, h.client_id) in fresh]
        return kept, len(hits) - len(kept)

    async def upkeep(self, now: datetime) -> dict[str, int]:
        """One pass: purge what has expired and create next month's partition."""
        today = now.astimezone(self.zone).date()
        # The salt of day D is made at D's midnight; deleting days before yesterday deletes
        # every salt once it is 48 hours old, and with it the ability to link that day's ids.
        keys_before = today - timedelta(days=1)
        async with self.database.transaction() as session:
            deleted = await repo.purge(
                session,
                events_before=now - timedelta(days=self.settings.retention_days),
                keys_before=keys_before,
                state_before=now - KEYS_KEPT,
            )
            utc_today = now.date()
            await repo.ensure_partitions(
                session, {_month(utc_today), _month(utc_today, 1)}, self.known_partitions
            )
        self.salts.forget_before(keys_before)
        return deleted

    async def upkeep_loop(self, clock: Callable[[], datetime], every: float = 600.0) -> None:
        while True:
            try:
                deleted = await self.upkeep(clock())
                if any(deleted.values()):
                    log.info("analytics upkeep", extra={"deleted": deleted})
            except Exception:
                log.exception("analytics upkeep failed; next pass in %s s", every)
            await asyncio.sleep(every)


def _counts(settled: Settled) -> tuple[int, int, int, int]:
    return settled.stored, settled.duplicates, settled.bots, settled.dropped
