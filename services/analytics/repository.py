"""Every SQL statement of the analytics service: the batch write, salts, upkeep, reports."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics.models import (
    beacon_ids,
    bot_daily,
    daily,
    events,
    hourly,
    ingest_batches,
    salts,
    top_daily,
    visitor_days,
    visitor_state,
)
from services.analytics.sessions import ROLLUP_FIELDS, VisitorState

# Rows go through executemany: SQLAlchemy's "insertmanyvalues" sends them as multi-row
# INSERT ... VALUES statements (1,000 rows each) from one cached compiled form, where
# `.values([...])` would compile a new statement for every batch (most of the cost).
CHUNK = 2000  # rows per IN (...) lookup
FLUSH_LOCK = 0x616E616C  # "anal": one flusher at a time across workers (PostgreSQL)


def _insert(session: AsyncSession, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(
    rows: Sequence[dict[str, Any]], size: int = CHUNK
) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def lock_for_flush(session: AsyncSession) -> None:
    """Serialise batch writes of several workers (visitor states are read-modify-write)."""
    if is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FLUSH_LOCK})


# --- salts -----------------------------------------------------------------------------


async def salt_for(session: AsyncSession, day: date, now: datetime) -> bytes:
    """The salt of `day`, created (randomly) by whoever asks first."""
    stmt = _insert(session, salts).values(day=day, salt=secrets.token_bytes(32), created_at=now)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["day"]))
    value = await session.scalar(select(salts.c.salt).where(salts.c.day == day))
    assert value is not None
    return bytes(value)


# --- the batch write -------------------------------------------------------------------


async def batch_written(session: AsyncSession, batch_id: str) -> tuple[int, int, int, int] | None:
    """(stored, duplicates, bots, dropped) of a batch already written, or None."""
    t = ingest_batches.c
    row = (
        await session.execute(
            select(t.stored, t.duplicates, t.bots, t.dropped).where(t.id == batch_id)
        )
    ).first()
    return None if row is None else (row.stored, row.duplicates, row.bots, row.dropped)


async def record_batch(
    session: AsyncSession,
    batch_id: str,
    at: datetime,
    stored: int,
    duplicates: int,
    bots: int,
    dropped: int,
) -> None:
    await session.execute(
        ingest_batches.insert().values(
            id=batch_id,
            written_at=at,
            stored=stored,
            duplicates=duplicates,
            bots=bots,
            dropped=dropped,
        )
    )


async def claim_client_ids(
    session: AsyncSession, ids: set[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Record beacon ids; return those not seen before (the others are retries)."""
    rows = [{"portal": p, "client_id": c, "seen_at": now} for p, c in sorted(ids)]
    if not rows:
        return set()
    stmt = (
        _insert(session, beacon_ids)
        .on_conflict_do_nothing(index_elements=["portal", "client_id"])
        .returning(beacon_ids.c.portal, beacon_ids.c.client_id)
    )
    return {(r.portal, r.client_id) for r in await session.execute(stmt, rows)}


async def load_states(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], VisitorState]:
    states: dict[tuple[str, str], VisitorState] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        part = ordered[start : start + CHUNK]
        result = await session.execute(
            select(visitor_state).where(
                tuple_(visitor_state.c.portal, visitor_state.c.visitor).in_(part)
            )
        )
        for row in result:
            states[(row.portal, row.visitor)] = VisitorState(
                last_ts=row.last_ts,
                last_page_ts=row.last_page_ts,
                last_path=row.last_path,
                visit_start=row.visit_start,
                visit_pageviews=row.visit_pageviews,
                visit_events=row.visit_events,
            )
    return states


PARTITIONS = "analytics_partitions"


async def ensure_partitions(session: AsyncSession, months: set[date], known: set[date]) -> None:
    """PostgreSQL: create the monthly partitions of `events` these rows need.

    They live in their own schema, so that schema comparisons (`alembic check`) see only
    the parent table the migrations own.
    """
    if not is_postgres(session):
        return
    missing = sorted(months - known)
    if missing:
        await session.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PARTITIONS}"))
    for month in missing:
        upper = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        name = f"{PARTITIONS}.events_{month:%Y_%m}"
        # Partition DDL takes a lock on the parent; IF NOT EXISTS makes workers' races harmless.
        await session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                f"FOR VALUES FROM ('{month.isoformat()} 00:00+00') "
                f"TO ('{upper.isoformat()} 00:00+00')"
            )
        )
        known.add(month)


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(events.insert(), list(rows))


async def save_states(session: AsyncSession, states: dict[tuple[str, str], VisitorState]) -> None:
    rows = [
        {
            "portal": portal,
            "visitor": visitor,
            "last_ts": s.last_ts,
            "last_page_ts": s.last_page_ts,
            "last_path": s.last_path,
            "visit_start": s.visit_start,
            "visit_pageviews": s.visit_pageviews,
            "visit_events": s.visit_events,
        }
        for (portal, visitor), s in states.items()
    ]
    if rows:
        stmt = _insert(session, visitor_state)
        stmt = stmt.on_conflict_do_update(
            index_elements=["portal", "visitor"],
            set_={
                name: stmt.excluded[name]
                for name in (
                    "last_ts",
                    "last_page_ts",
                    "last_path",
                    "visit_start",
                    "visit_pageviews",
                    "visit_events",
                )
            },
        )
        await session.execute(stmt, rows)


async def add_visitor_days(
    session: AsyncSession, keys: set[tuple[str, date, str]]
) -> Counter[tuple[str, date]]:
    """Insert (portal, day, visitor); count the new ones per (portal, day)."""
    new: Counter[tuple[str, date]] = Counter()
    rows = [{"portal": p, "day": d, "visitor": v} for p, d, v in sorted(keys)]
    if rows:
        stmt = (
            _insert(session, visitor_days)
            .on_conflict_do_nothing(index_elements=["portal", "day", "visitor"])
            .returning(visitor_days.c.portal, visitor_days.c.day)
        )
        for row in await session.execute(stmt, rows):
            new[(row.portal, row.day)] += 1
    return new


async def add_counts(
    session: AsyncSession,
    table: Table,
    keys: Sequence[str],
    rows: list[dict[str, Any]],
    fields: Sequence[str],
) -> None:
    """Upsert rows adding `fields` to what is there (rollups are sums)."""
    if not rows:
        return
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={f: table.c[f] + stmt.excluded[f] for f in fields},
    )
    await session.execute(stmt, rows)


async def add_rollups(
    session: AsyncSession,
    hourly_deltas: dict[tuple[str, datetime], dict[str, int]],
    daily_deltas: dict[tuple[str, date], dict[str, int]],
) -> None:
    await add_counts(
        session,
        hourly,
        ("portal", "hour"),
        [{"portal": p, "hour": h, **c} for (p, h), c in sorted(hourly_deltas.items())],
        ROLLUP_FIELDS,
    )
    await add_counts(
        session,
        daily,
        ("portal", "day"),
        [{"portal": p, "day": d, **c} for (p, d), c in sorted(daily_deltas.items())],
        ROLLUP_FIELDS,
    )


async def add_top(
    session: AsyncSession, deltas: dict[tuple[str, date, str, str], list[int]]
) -> None:
    rows = [
        {"portal": p, "day": d, "dimension": dim, "key": k, "pageviews": pv, "visits": vi}
        for (p, d, dim, k), (pv, vi) in sorted(deltas.items())
    ]
    await add_counts(
        session, top_daily, ("portal", "day", "dimension", "key"), rows, ("pageviews", "visits")
    )


async def add_bots(session: AsyncSession, counts: Counter[tuple[str, date, str]]) -> None:
    rows = [
        {"portal": p, "day": d, "reason": r, "count": n} for (p, d, r), n in sorted(counts.items())
    ]
    await add_counts(session, bot_daily, ("portal", "day", "reason"), rows, ("count",))


# --- upkeep ----------------------------------------------------------------------------


async def purge(
    session: AsyncSession, *, events_before: datetime, keys_before: date, state_before: datetime
) -> dict[str, int]:
    """Delete what has outlived its purpose; returns rows deleted per table."""
    deleted: dict[str, int] = {}
    if is_postgres(session):
        deleted["partitions"] = await _drop_old_partitions(session, events_before)
    for name, stmt in (
        ("events", delete(events).where(events.c.ts < events_before)),
        ("salts", delete(salts).where(salts.c.day < keys_before)),
        ("visitor_days", delete(visitor_days).where(visitor_days.c.day < keys_before)),
        ("visitor_state", delete(visitor_state).where(visitor_state.c.last_ts < state_before)),
        ("beacon_ids", delete(beacon_ids).where(beacon_ids.c.seen_at < state_before)),
        (
            "ingest_batches",
            delete(ingest_batches).where(ingest_batches.c.written_at < state_before),
        ),
    ):
        result: Any = await session.execute(stmt)
        deleted[name] = int(result.rowcount or 0)
    return deleted


async def _drop_old_partitions(session: AsyncSession, before: datetime) -> int:
    names = (
        await session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
            )
        )
    ).all()
    dropped = 0
    for name in names:
        try:
            year, month = int(name[7:11]), int(name[12:14])
        except ValueError:
            continue
        upper = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        if upper <= before:
            await session.execute(text(f'DROP TABLE IF EXISTS {PARTITIONS}."{name}"'))
            dropped += 1
    return dropped


# --- reports ---------------------------------------------------------------------------


async def daily_rows(
    session: AsyncSession, portal: str | None, first: date, last: date
) -> list[Any]:
    stmt = select(daily).where(daily.c.day >= first, daily.c.day <= last).order_by(daily.c.day)
    if portal is not None:
        stmt = stmt.where(daily.c.portal == portal)
    return list(await session.execute(stmt))


async def hourly_rows(
    session: AsyncSession, portal: str, start: datetime, end: datetime
) -> list[Any]:
    stmt = (
        select(hourly)
        .where(hourly.c.portal == portal, hourly.c.hour >= start, hourly.c.hour < end)
        .order_by(hourly.c.hour)
    )
    return list(await session.execute(stmt))


async def top_rows(
    session: AsyncSession, portal: str, dimension: str, first: date, last: date, limit: int
) -> list[Any]:
    by = "visits" if dimension in {"referrer", "device", "browser"} else "pageviews"
    measure = func.sum(top_daily.c[by]).label("value")
    stmt = (
        select(top_daily.c.key, measure)
        .where(
            top_daily.c.portal == portal,
            top_daily.c.dimension == dimension,
            top_daily.c.day >= first,
            top_daily.c.day <= last,
        )
        .group_by(top_daily.c.key)
        .order_by(measure.desc(), top_daily.c.key)
        .limit(limit)
    )
    return list(await session.execute(stmt))


async def online(session: AsyncSession, portal: str, since: datetime) -> int:
    stmt = select(func.count()).where(
        visitor_state.c.portal == portal, visitor_state.c.last_ts >= since
    )
    return int(await session.scalar(stmt) or 0)


async def total_visits(session: AsyncSession, portal: str) -> int:
    stmt = select(func.coalesce(func.sum(daily.c.visits), 0)).where(daily.c.portal == portal)
    return int(await session.scalar(stmt) or 0)


async def bot_rows(session: AsyncSession, portal: str, first: date, last: date) -> list[Any]:
    stmt = (
        select(bot_daily.c.day, bot_daily.c.reason, bot_daily.c.count)
        .where(bot_daily.c.portal == portal, bot_daily.c.day >= first, bot_daily.c.day <= last)
        .order_by(bot_daily.c.day, bot_daily.c.reason)
    )
    return list(await session.execute(stmt))
