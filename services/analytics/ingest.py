"""The lean ingest path and the batch writer behind it.

A request is validated, classified (bot or person), hashed into the day's visitor id and
put on an in-memory queue; the response (202) does not wait for the database. A background
task takes up to `batch_max_events` items every `batch_interval_ms` and writes them in one
transaction: multi-row inserts of events, visitor states, rollups and bot counts.

The queue is bounded: when it is full the beacon gets 503 with Retry-After instead of the
process growing without limit. A failed write puts the batch back and retries with
backoff. On shutdown the queue is drained. Prometheus counters prove nothing is lost:

    analytics_beacons_accepted_total  = sum(analytics_beacons_settled_total{as=...})
                                        + items still queued
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics import repository as repo
from services.analytics.privacy import local_day
from services.analytics.sessions import Hit, Sessionizer
from services.common.db import Database
from services.common.observability import Metrics

log = logging.getLogger("analytics.ingest")


@dataclass(frozen=True)
class BotDrop:
    portal: str
    day: date
    reason: str


Item = Hit | BotDrop


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


class IngestMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.accepted = PromCounter(
            "analytics_beacons_accepted",
            "Beacons answered 202 and queued (people and bots).",
            registry=registry,
        )
        self.settled = PromCounter(
            "analytics_beacons_settled",
            "Queued beacons written: stored (an event row), bot (counted), duplicate.",
            ["as"],
            registry=registry,
        )
        self.refused = PromCounter(
            "analytics_beacons_refused",
            "Beacons not accepted, by reason (invalid, too_large, unknown_portal, busy).",
            ["reason"],
            registry=registry,
        )
        self.failures = PromCounter(
            "analytics_flush_failures",
            "Batch writes that failed and were retried.",
            registry=registry,
        )
        self.queued = Gauge(
            "analytics_queue_depth", "Beacons waiting to be written.", registry=registry
        )
        for outcome in ("stored", "bot", "duplicate"):
            self.settled.labels(outcome)


class Ingestor:
    """The bounded queue and the batch writer."""

    def __init__(
        self,
        database: Database,
        sessionizer: Sessionizer,
        metrics: IngestMetrics,
        *,
        max_batch: int,
        interval: float,
        capacity: int,
    ) -> None:
        self.database = database
        self.sessionizer = sessionizer
        self.metrics = metrics
        self.max_batch = max_batch
        self.interval = interval
        self.capacity = capacity
        self._queue: deque[Item] = deque()
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self.known_partitions: set[date] = set()
        self._task: asyncio.Task[None] | None = None

    def offer(self, item: Item) -> bool:
        """Queue one item; False when the queue is full (the caller answers 503)."""
        if len(self._queue) >= self.capacity:
            return False
        self._queue.append(item)
        self.metrics.accepted.inc()
        if len(self._queue) >= self.max_batch:
            self._wake.set()
        return True

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-flush")

    async def stop(self) -> None:
        """Stop the loop, then write whatever is still queued."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.drain()

    async def drain(self) -> None:
        """Write everything queued so far (tests, shutdown)."""
        while self._queue:
            await self.flush()

    async def _run(self) -> None:
        backoff = self.interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while self._queue:
                    await self.flush()
                    if len(self._queue) < self.max_batch:
                        break
                backoff = self.interval
            except Exception:
                self.metrics.failures.inc()
                log.exception("analytics batch write failed; retrying")
                backoff = min(backoff * 2, 30.0)
                await asyncio.sleep(backoff)

    async def flush(self) -> int:
        """Write one batch (up to `max_batch` items); on failure they go back to the queue."""
        async with self._write_lock:
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            if not batch:
                return 0
            try:
                stored, duplicates, bots = await self._write(batch)
            except BaseException:
                self._queue.extendleft(reversed(batch))
                raise
            finally:
                self.metrics.queued.set(len(self._queue))
            self.metrics.settled.labels("stored").inc(stored)
            self.metrics.settled.labels("duplicate").inc(duplicates)
            self.metrics.settled.labels("bot").inc(bots)
            return len(batch)

    async def _write(self, batch: list[Item]) -> tuple[int, int, int]:
        hits = [item for item in batch if isinstance(item, Hit)]
        bots = Counter((b.portal, b.day, b.reason) for b in batch if isinstance(b, BotDrop))
        async with self.database.transaction() as session:
            await repo.lock_for_flush(session)
            hits, duplicates = await self._unique(session, hits)
            hits.sort(key=lambda h: (h.ts, h.id))
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
            await repo.add_bots(session, bots)
        return len(hits), duplicates, sum(bots.values())

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


def new_event_id() -> int:
    """A random 63-bit id: unique enough across workers without a sequence round trip."""
    return secrets.randbits(63)


def yesterday_matters(moment: datetime, zone: ZoneInfo, idle: timedelta) -> bool:
    """Whether a visit begun before local midnight may still be open at `moment`."""
    local = moment.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local - midnight <= idle


Clock = Callable[[], datetime]
__all__ = ["BotDrop", "Clock", "Ingestor", "SaltBook", "local_day", "new_event_id"]
