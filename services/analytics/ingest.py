"""The lean ingest path: capture, queue, hand batches to the writer.

A request is validated and captured (`Raw`: the beacon's fields, its time, the socket
peer and the few headers classification needs) and put on an in-memory queue; the
response (202) does not wait for anything else. A pump takes up to `batch_max_events`
items every `batch_interval_ms` and hands them, as one batch with an id, to a `Sink`:
the batch writer in this process (`InlineSink`) or in its own process
(`writer_process.ProcessSink`, the default), where classification, visitor ids and the
database writes happen (`writer.py`).

The queue is bounded: when it is full the beacon gets 503 with Retry-After instead of the
process growing without limit. A failed batch goes back to the queue (same id) and is
retried with backoff. On shutdown the queue is drained. Prometheus counters prove nothing
is lost:

    analytics_beacons_accepted_total  = sum(analytics_beacons_settled_total{as=...})
                                        + items still queued or in flight
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge

from services.common.observability import Metrics

if TYPE_CHECKING:
    from services.analytics.writer import Settled

log = logging.getLogger("analytics.ingest")


class Raw(NamedTuple):
    """A beacon as captured on the request path, before classification.

    `peer`, `forwarded_for` and `user_agent` identify the client: they live only in memory
    (in the queue and in the batch on its way to the writer) and are never stored.
    `purpose` joins the values of the prefetch headers (`bots.PURPOSE_HEADERS`).
    """

    ts: datetime
    portal: str
    kind: str
    name: str | None
    url: str
    referrer: str | None
    article: str | None
    category: str | None
    screen_width: int | None
    client_id: str | None
    webdriver: bool
    peer: str | None
    forwarded_for: tuple[str, ...]
    user_agent: str
    purpose: str


class Sink(Protocol):
    """Where batches go: the writer, in this process or another."""

    async def write(self, batch_id: str, batch: list[Raw]) -> Settled: ...


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
            "Queued beacons settled: stored (an event row), duplicate (a retried id), bot "
            "(counted per reason), dropped (over a per-visitor or per-address bound).",
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
        for outcome in ("stored", "bot", "duplicate", "dropped"):
            self.settled.labels(outcome)


class Ingestor:
    """The bounded queue, and the pump that hands its batches to the sink (the writer)."""

    def __init__(
        self,
        sink: Sink,
        metrics: IngestMetrics,
        *,
        max_batch: int,
        interval: float,
        capacity: int,
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.max_batch = max_batch
        self.interval = interval
        self.capacity = capacity
        self._queue: deque[Raw] = deque()
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # A batch the sink failed to write, sent again (same id) before anything newer.
        self._retry: tuple[str, list[Raw]] | None = None

    def offer(self, item: Raw) -> bool:
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
        """Beacons accepted and not yet written (queued, or in a batch to send again)."""
        return len(self._queue) + (len(self._retry[1]) if self._retry else 0)

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
        while self.pending:
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
                while self.pending:
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
        """Write one batch (up to `max_batch` items); on failure it is kept, to be sent
        again with the same id (the writer recognises a batch it already wrote)."""
        async with self._write_lock:
            if self._retry is not None:
                batch_id, batch = self._retry
            else:
                take = min(self.max_batch, len(self._queue))
                batch_id, batch = uuid.uuid4().hex, [self._queue.popleft() for _ in range(take)]
            if not batch:
                return 0
            self._retry = (batch_id, batch)
            try:
                settled = await self.sink.write(batch_id, batch)
            except BaseException:
                self.metrics.queued.set(self.pending)
                raise
            self._retry = None
            self.metrics.queued.set(self.pending)
            self.metrics.settled.labels("stored").inc(settled.stored)
            self.metrics.settled.labels("duplicate").inc(settled.duplicates)
            self.metrics.settled.labels("bot").inc(settled.bots)
            self.metrics.settled.labels("dropped").inc(settled.dropped)
            return len(batch)


def new_event_id() -> int:
    """A random 63-bit id: unique enough across workers without a sequence round trip."""
    return secrets.randbits(63)


__all__ = ["Ingestor", "Raw", "Sink", "new_event_id"]
