"""Helpers the analytics tests import (a module of its own: `conftest` names collide
across test folders when the whole suite runs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from services.analytics.models import metadata
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
