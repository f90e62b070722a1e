"""Async SQLAlchemy for every service: one engine, one transaction per request.

`Database` owns the engine and the session factory. The request dependency opens a session
inside a transaction that commits when the endpoint succeeds and rolls back when it raises,
so a failure half-way leaves nothing half written; services and repositories only `flush()`.
Tests bind a `Database` to a connection inside an outer transaction instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator, event, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    """A MetaData with the explicit constraint naming convention (stable migrations)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine with the right options for PostgreSQL or embedded SQLite."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it costs a round trip per request; a dead connection raises instead and
    # the pool discards it, and recycling bounds how long one connection lives.
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_recycle=1800)


class Database:
    """The engine and session factory of one service."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        engine = create_engine(url, echo=echo)
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False))

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        """Sessions that join an outer transaction on `connection` (tests roll it back)."""
        return cls(
            None,
            async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
            ),
        )

    @property
    def dialect(self) -> str:
        bind = self.sessionmaker.kw.get("bind")
        return str(bind.dialect.name) if bind is not None else "unknown"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: commit on success, roll back on any error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps the zone (timestamptz); SQLite keeps none, so values are converted
    to UTC on the way in and marked UTC on the way out: the API always says `…Z`/`+00:00`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
