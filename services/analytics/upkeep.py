"""The background upkeep: retention, salt deletion, partitions ahead of time."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta

from services.analytics import repository as repo
from services.analytics.runtime import Runtime
from services.common.db import Database

log = logging.getLogger("analytics.upkeep")
KEYS_KEPT = timedelta(hours=48)


def _month(day: date, ahead: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + ahead
    return date(index // 12, index % 12 + 1, 1)


async def run_upkeep(
    database: Database, rt: Runtime, *, now: datetime | None = None
) -> dict[str, int]:
    """One pass: purge what has expired and create next month's partition."""
    now = now or rt.now()
    today = now.astimezone(rt.zone).date()
    # The salt of day D is made at D's midnight; deleting days before yesterday deletes
    # every salt once it is 48 hours old, and with it the ability to link that day's ids.
    keys_before = today - timedelta(days=1)
    async with database.transaction() as session:
        deleted = await repo.purge(
            session,
            events_before=now - timedelta(days=rt.settings.retention_days),
            keys_before=keys_before,
            state_before=now - KEYS_KEPT,
        )
        utc_today = now.date()
        await repo.ensure_partitions(
            session, {_month(utc_today), _month(utc_today, 1)}, rt.ingestor.known_partitions
        )
    rt.salts.forget_before(keys_before)
    return deleted


async def upkeep_loop(database: Database, rt: Runtime, every: float = 600.0) -> None:
    while True:
        try:
            deleted = await run_upkeep(database, rt)
            if any(deleted.values()):
                log.info("analytics upkeep", extra={"deleted": deleted})
        except Exception:
            log.exception("analytics upkeep failed; next pass in %s s", every)
        await asyncio.sleep(every)
