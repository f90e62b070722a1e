"""Helpers the analytics tests import (a module of its own: `conftest` names collide
across test folders when the whole suite runs)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.analytics.models import metadata
from services.analytics.runtime import Runtime
from services.analytics.writer import BatchWriter
from services.common.db import Database

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


async def empty_tables(database: Database) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    async with database.transaction() as session:
        await session.execute(text(f"TRUNCATE {names}"))


def beacon(path: str = "/", portal: str = "phu-yen", **extra: Any) -> dict[str, Any]:
    return {"portal": portal, "url": f"https://bhxh.phuyen.gov.vn{path}", **extra}


class Clock:
    """A controllable clock: tests move time with `.at = ...` or `.advance(...)`."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Analytics:
    app: FastAPI
    clock: Clock
    database: Database
    stack: contextlib.AsyncExitStack
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.analytics
        return runtime

    @property
    def writer(self) -> BatchWriter:
        """The batch writer (inline: tests hand the app their database)."""
        writer = self.runtime.writer
        assert writer is not None
        return writer

    async def drain(self) -> None:
        await self.runtime.ingestor.drain()

    async def client(self, ip: str = "203.0.113.7") -> httpx.AsyncClient:
        """An HTTP client whose socket address is `ip`."""
        if ip not in self.clients:
            transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
            self.clients[ip] = await self.stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://analytics")
            )
        return self.clients[ip]

    async def send(
        self,
        body: Any,
        *,
        ua: str = BROWSER_UA,
        ip: str = "203.0.113.7",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a beacon as JSON (or raw bytes/str) from `ip` with user agent `ua`."""
        http = await self.client(ip)
        all_headers = {"User-Agent": ua, **(headers or {})}
        if isinstance(body, bytes | str):
            return await http.post("/v1/analytics/events", content=body, headers=all_headers)
        return await http.post("/v1/analytics/events", json=body, headers=all_headers)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        # /metrics answers only loopback peers when no PORTAL_METRICS_TOKEN is set.
        peer = "127.0.0.1" if path == "/metrics" else "203.0.113.7"
        return await (await self.client(peer)).get(path, **kw)


def write_key(data_dir: Path, pem: str) -> None:
    (data_dir / "keys").mkdir(parents=True, exist_ok=True)
    (data_dir / "keys" / "signing.pem").write_text(pem)


async def empty_sqlite(database: Database) -> None:
    async with database.transaction() as session:
        for table in metadata.sorted_tables:
            await session.execute(table.delete())
