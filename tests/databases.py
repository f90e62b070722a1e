"""Per-worker migrated databases and rolled-back connections, for every service's tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pgserver
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.migrate import upgrade


@contextmanager
def migrated_database(server: pgserver.PgServer, service: str, label: str) -> Iterator[str]:
    """A database of this xdist worker with `service`'s migrations applied; dropped after."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{label}_{worker}_{os.getpid()}"
    pgserver.create_database(server, name)
    url = server.url(name)
    try:
        upgrade(service, url)
        yield url
    finally:
        pgserver.drop_database(server, name)


@asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back at the end: tests share no rows."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            if transaction.is_active:
                await transaction.rollback()
