"""Fixtures shared by every test: PostgreSQL, the apps in-process, tokens.

PostgreSQL comes from `pgserver.postgres_server()` (TEST_DATABASE_URL, the local server,
or a throwaway cluster) and is never skipped. Each xdist worker gets its own database,
built once by running the real migrations; each test runs inside an outer transaction
that is rolled back at the end, so tests never share rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pgserver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import migrated_database, rolled_back
from fastapi import FastAPI
from redisserver import NO_REDIS, redis_server
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.common.db import Database
from services.content.app import create_app as create_content_app
from services.content.settings import ContentSettings


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer]:
    with pgserver.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(pg_server: pgserver.PgServer) -> Iterator[str]:
    """A migrated database of this xdist worker."""
    with migrated_database(pg_server, "content", "portal_test") as url:
        yield url


@pytest.fixture(scope="session")
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(pg_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(pg_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with rolled_back(pg_engine) as conn:
        yield conn


@pytest.fixture
def db(connection: AsyncConnection) -> Database:
    return Database.bound_to(connection)


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def content_settings(tmp_path: Path, signing_key_pem: str) -> ContentSettings:
    return ContentSettings(
        data_dir=tmp_path,
        jwt_private_key_pem=signing_key_pem,
        run_background=False,
    )


@pytest.fixture
async def content_app(content_settings: ContentSettings, db: Database) -> AsyncIterator[FastAPI]:
    app = create_content_app(content_settings, database=db)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(content_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The content service in-process, as an HTTP client."""
    transport = httpx.ASGITransport(app=content_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        yield http


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server (see tests/redisserver.py); the test skips, saying why, without one."""
    with redis_server() as url:
        if url is None:
            pytest.skip(NO_REDIS)
        yield url
