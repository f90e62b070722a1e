"""The transactional outbox and its relay.

A service writes an event row with `emit()` in the same transaction as the change it
describes, so an event exists if and only if the change committed. `OutboxRelay` delivers
events to each subscriber in order, at least once: a per-subscriber cursor advances only
after a delivery succeeds, and a failure backs off exponentially (1 s … 5 min) and retries
the same event, so a consumer that was down converges when it is back. Consumers are
idempotent on `(id)` and ignore versions older than what they hold.

Ids are taken when an event is inserted, but transactions commit in any order; a relay
reading past its cursor could then pass over an event whose transaction commits late. So
on PostgreSQL `emit()` holds a transaction-scoped advisory lock from the first event to
the commit: writers of events commit in id order. (SQLite has one writer at a time.)
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, UtcDateTime

log = logging.getLogger("portal.outbox")
EventId = BigInteger().with_variant(Integer, "sqlite")


@dataclass(frozen=True)
class OutboxTables:
    events: Table
    cursors: Table


def outbox_tables(metadata: MetaData) -> OutboxTables:
    """Declare the outbox tables in a service's metadata (its migrations create them)."""
    events = Table(
        "outbox_events",
        metadata,
        Column("id", EventId, primary_key=True, autoincrement=True),
        Column("topic", String(64), nullable=False),
        Column("key", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("payload", JSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
    )
    cursors = Table(
        "outbox_cursors",
        metadata,
        Column("subscriber", String(100), primary_key=True),
        Column("last_event_id", EventId, nullable=False, default=0),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UtcDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("updated_at", UtcDateTime, nullable=True),
    )
    return OutboxTables(events, cursors)


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    topic: str
    key: str
    version: int
    payload: dict[str, Any]
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "key": self.key,
            "version": self.version,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }


async def emit(
    session: AsyncSession,
    tables: OutboxTables,
    *,
    topic: str,
    key: str,
    version: int,
    payload: Mapping[str, Any],
) -> None:
    """Record an event in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Held until commit (re-entrant): events commit in the order of their ids.
        lock = zlib.crc32(tables.events.fullname.encode())
        await session.execute(select(func.pg_advisory_xact_lock(lock)))
    await session.execute(
        insert(tables.events).values(
            topic=topic,
            key=key,
            version=version,
            payload=dict(payload),
            created_at=datetime.now(UTC),
        )
    )


class Subscriber(Protocol):
    name: str
    topics: Collection[str] | None

    async def deliver(self, event: OutboxEvent) -> None: ...


class HttpSubscriber:
    """POSTs each event as JSON to a URL; any non-2xx answer is a failure to retry."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        client: httpx.AsyncClient,
        topics: Collection[str] | None = None,
        token: str | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.client = client
        self.topics = topics
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def deliver(self, event: OutboxEvent) -> None:
        response = await self.client.post(
            self.url,
            json=event.as_json(),
            headers={"Outbox-Event-Id": str(event.id), **self.headers},
        )
        response.raise_for_status()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** max(0, attempts - 1)))


class OutboxRelay:
    """Delivers outbox events to subscribers; `run_once()` is one pass, `run()` loops."""

    def __init__(
        self,
        db: Database,
        tables: OutboxTables,
        subscribers: list[Subscriber],
        *,
        batch_size: int = 100,
        interval: float = 1.0,
    ) -> None:
        self.db = db
        self.tables = tables
        self.subscribers = subscribers
        self.batch_size = batch_size
        self.interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the loop must survive a bad pass; the next one retries
                log.exception("outbox relay pass failed")
            await asyncio.sleep(self.interval)

    async def run_once(self, now: datetime | None = None) -> int:
        """Deliver what is due; return the number of events delivered."""
        delivered = 0
        for subscriber in self.subscribers:
            delivered += await self._pump(subscriber, now or datetime.now(UTC))
        return delivered

    async def _ensure_cursor(self, name: str) -> None:
        """Create the subscriber's cursor (at the start) unless another relay already has."""
        cursors_t = self.tables.cursors
        async with self.db.transaction() as session:
            if await session.scalar(
                select(cursors_t.c.subscriber).where(cursors_t.c.subscriber == name)
            ):
                return
            dialect = session.get_bind().dialect.name
            dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            await session.execute(
                dialect_insert(cursors_t)
                .values(subscriber=name, last_event_id=0, attempts=0)
                .on_conflict_do_nothing()
            )

    async def _pump(self, subscriber: Subscriber, now: datetime) -> int:
        events_t, cursors_t = self.tables.events, self.tables.cursors
        await self._ensure_cursor(subscriber.name)
        async with self.db.transaction() as session:
            # Locked for the whole pass; a relay in another process skips this subscriber.
            cursor = (
                await session.execute(
                    select(cursors_t)
                    .where(cursors_t.c.subscriber == subscriber.name)
                    .with_for_update(skip_locked=True)
                )
            ).one_or_none()
            if cursor is None:
                return 0
            last_id, attempts, due = cursor.last_event_id, cursor.attempts, cursor.next_attempt_at
            if due is not None and _aware(due) > now:
                return 0
            rows = (
                await session.execute(
                    select(events_t)
                    .where(events_t.c.id > last_id)
                    .order_by(events_t.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            delivered = 0
            error: str | None = None
            for row in rows:
                event = OutboxEvent(
                    row.id, row.topic, row.key, row.version, row.payload, _aware(row.created_at)
                )
                if subscriber.topics is None or event.topic in subscriber.topics:
                    try:
                        await subscriber.deliver(event)
                    except Exception as exc:  # any failure of a subscriber means retry later
                        error = f"{type(exc).__name__}: {exc}"[:1000]
                        break
                    delivered += 1
                last_id = event.id
            values: dict[str, Any] = {"last_event_id": last_id, "updated_at": now}
            if error is None:
                values.update(attempts=0, next_attempt_at=None, last_error=None)
            else:
                attempts += 1
                values.update(
                    attempts=attempts, next_attempt_at=now + backoff(attempts), last_error=error
                )
                log.warning(
                    "outbox delivery to %s failed (attempt %d): %s",
                    subscriber.name,
                    attempts,
                    error,
                )
            await session.execute(
                update(cursors_t).where(cursors_t.c.subscriber == subscriber.name).values(**values)
            )
            return delivered


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
