"""Fixtures of the media tests: a migrated database per xdist worker, storage backends
(local always; S3 against moto's standalone server started here, over real HTTP; and a
real S3/MinIO when `S3_ENDPOINT`, `S3_ACCESS_KEY`, `S3_SECRET_KEY` are set), the app
in-process and tokens for users with roles.

    S3_ENDPOINT=127.0.0.1:9000 S3_ACCESS_KEY=… S3_SECRET_KEY=… [S3_SECURE=1] \\
        .venv/bin/pytest tests/media
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pgserver
import pytest
from databases import migrated_database, rolled_back
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.common.db import Database
from services.common.security import TokenIssuer, private_key_from_pem
from services.media.app import create_app
from services.media.av import AvTools
from services.media.settings import MediaSettings
from services.media.storage import LocalStorage, S3Storage, Storage

STORAGES = ["local", "s3-moto", *(["s3-real"] if os.environ.get("S3_ENDPOINT") else [])]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free port of this machine, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def s3_storage(kind: str, request: pytest.FixtureRequest) -> S3Storage:
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    if kind == "s3-moto":
        endpoint = request.getfixturevalue("moto_endpoint")
        return S3Storage(
            endpoint=endpoint, access_key="test", secret_key="test", bucket=bucket, secure=False
        )
    return S3Storage(
        endpoint=os.environ["S3_ENDPOINT"],
        access_key=os.environ["S3_ACCESS_KEY"],
        secret_key=os.environ["S3_SECRET_KEY"],
        bucket=bucket,
        secure=os.environ.get("S3_SECURE", "") == "1",
        region=os.environ.get("S3_REGION", "us-east-1"),
    )


async def _drop(storage: Storage) -> None:
    if isinstance(storage, S3Storage):
        for key in await storage.keys():
            await storage.delete(key)
        storage.client.remove_bucket(storage.bucket)


@pytest.fixture(params=STORAGES)
async def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, empty storage of each configured kind."""
    storage: Storage
    if request.param == "local":
        storage = LocalStorage(tmp_path / "media")
    else:
        storage = s3_storage(request.param, request)
    await storage.open()
    try:
        yield storage
    finally:
        await _drop(storage)


@pytest.fixture(scope="session")
def media_pg_url(pg_server: pgserver.PgServer) -> Iterator[str]:
    """A migrated media database of this xdist worker."""
    with migrated_database(pg_server, "media", "media_test") as url:
        yield url


@pytest.fixture(scope="session")
async def media_engine(media_pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(media_pg_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def media_connection(media_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with rolled_back(media_engine) as conn:
        yield conn


@pytest.fixture
def media_db(media_connection: AsyncConnection) -> Database:
    return Database.bound_to(media_connection)


@pytest.fixture
def media_settings(tmp_path: Path, signing_key_pem: str) -> MediaSettings:
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "signing.pem").write_text(signing_key_pem)
    return MediaSettings(data_dir=tmp_path)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return LocalStorage(tmp_path / "media")


@pytest.fixture
def av_tools() -> AvTools:
    """No ffprobe/ffmpeg unless a test asks for them (`installed_av_tools`)."""
    return AvTools(None, None)


UNKNOWN_PORTAL = "khong-co"


def _trusting(request: httpx.Request) -> httpx.Response:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if request.url.path == "/v1/me":
        claims = jwt.decode(token, options={"verify_signature": False})
        memberships = [{"portal": p, "role": r} for p, r in claims["roles"].items()]
        return httpx.Response(
            200,
            json={
                "id": claims["sub"],
                "username": claims["name"],
                "is_superadmin": claims["sa"],
                "memberships": memberships,
            },
        )
    portal = request.url.path.removeprefix("/v1/portals/")
    if portal == UNKNOWN_PORTAL:
        return httpx.Response(404)
    return httpx.Response(200, json={"id": portal, "name": portal, "kind": "provincial"})


@pytest.fixture
async def trusting_content() -> AsyncIterator[httpx.AsyncClient]:
    """A stand-in for the content service in media's own tests: `/v1/me` answers with the
    roles inside the token (the tokens here name users no content database holds), and
    every portal but `khong-co` exists. Roles read fresh from the real content service
    are tested in tests/test_fresh_roles.py."""
    transport = httpx.MockTransport(_trusting)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        yield http


@pytest.fixture
async def media_app(
    media_settings: MediaSettings,
    media_db: Database,
    storage: Storage,
    av_tools: AvTools,
    trusting_content: httpx.AsyncClient,
) -> AsyncIterator[FastAPI]:
    app = create_app(
        media_settings,
        database=media_db,
        storage=storage,
        tools=av_tools,
        content=trusting_content,
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(media_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The media service in-process."""
    transport = httpx.ASGITransport(app=media_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://media") as http:
        yield http


Headers = dict[str, str]


@pytest.fixture
def token_for(signing_key_pem: str, media_settings: MediaSettings) -> Callable[..., Headers]:
    """`token_for(roles={"phu-yen": "editor"})` → headers with a bearer token."""
    issuer = TokenIssuer(
        private_key_from_pem(signing_key_pem),
        issuer=media_settings.jwt_issuer,
        audience=media_settings.jwt_audience,
    )

    def make(roles: dict[str, str] | None = None, *, superadmin: bool = False) -> Headers:
        subject = uuid.uuid4().hex
        token, _ = issuer.issue(
            subject=subject,
            username=f"u-{subject[:8]}",
            roles=roles or {},
            is_superadmin=superadmin,
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def editor(token_for: Callable[..., Headers]) -> Headers:
    return token_for({"phu-yen": "editor"})


@pytest.fixture
def admin(token_for: Callable[..., Headers]) -> Headers:
    return token_for({"phu-yen": "admin"})


@pytest.fixture
def outsider(token_for: Callable[..., Headers]) -> Headers:
    """An editor of another portal."""
    return token_for({"ha-noi": "editor"})


@pytest.fixture
def upload(api: httpx.AsyncClient, editor: Headers) -> Callable[..., Any]:
    """`await upload(name, data, portal="phu-yen", headers=..., **fields)` → response."""

    async def send(
        name: str,
        data: bytes,
        *,
        portal: str = "phu-yen",
        headers: Headers | None = None,
        **fields: str,
    ) -> httpx.Response:
        return await api.post(
            "/v1/media",
            data={"portal": portal, **fields},
            files={"file": (name, data, "application/octet-stream")},
            headers=editor if headers is None else headers,
        )

    return send
