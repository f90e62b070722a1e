"""Scheduled publish and unpublish, run by the content service itself.

Due work is found by time (`publish_at`/`unpublish_at` ≤ now), not by timers held in
memory, so a restart loses nothing and a service that was down catches up on its next
pass. Each item runs in its own transaction through the same workflow as the API, as the
`system` actor, and writes the audit log and outbox like any other transition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.errors import ProblemError
from services.content.items import repository as repo
from services.content.items.kinds import KINDS
from services.content.items.service import apply_transition
from services.content.models import Item, Portal
from services.content.workflow import Action, Actor, Status, TransitionRequest

log = logging.getLogger("portal.content.scheduler")
SYSTEM = Actor(user_id="system", role=None, is_system=True)
SYSTEM_NAME = "Hệ thống (lịch tự động)"
UNPUBLISH_REASON = "Gỡ theo lịch đã đặt / Scheduled unpublish"


async def run_due(db: Database, now: datetime | None = None) -> int:
    """Run every scheduled publish/unpublish that is due; return how many ran."""
    now = now or datetime.now(UTC)
    async with db.transaction() as session:
        due_ids = [item.id for item in await repo.due_items(session, now, limit=500)]
    done = 0
    for item_id in due_ids:
        try:
            async with db.transaction() as session:
                item = await session.get(Item, item_id, with_for_update=True)
                if item is None:
                    continue
                portal = await session.get(Portal, item.portal_id)
                assert portal is not None
                done += await _run_item(session, item, portal, now)
        except ProblemError as exc:  # e.g. a state changed by an editor meanwhile
            log.warning("scheduled transition of %s skipped: %s", item_id, exc)
        except Exception:  # one broken item must not hold up every item after it
            log.exception("scheduled transition of %s failed", item_id)
    return done


async def _run_item(session: AsyncSession, item: Item, portal: Portal, now: datetime) -> int:
    spec = KINDS[item.kind]
    ran = 0
    if item.status == Status.SCHEDULED and item.publish_at and _aware(item.publish_at) <= now:
        keep_unpublish = item.unpublish_at
        # A deferred unpublish that is already due runs right after, in this pass.
        ahead = keep_unpublish if keep_unpublish and _aware(keep_unpublish) > now else None
        await apply_transition(
            session,
            spec,
            item,
            portal=portal,
            actor=SYSTEM,
            actor_name=SYSTEM_NAME,
            request=TransitionRequest(action=Action.PUBLISH, now=now, unpublish_at=ahead),
        )
        item.unpublish_at = keep_unpublish
        ran += 1
    if item.is_live and item.unpublish_at and _aware(item.unpublish_at) <= now:
        await apply_transition(
            session,
            spec,
            item,
            portal=portal,
            actor=SYSTEM,
            actor_name=SYSTEM_NAME,
            request=TransitionRequest(action=Action.UNPUBLISH, now=now, comment=UNPUBLISH_REASON),
        )
        ran += 1
    return ran


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def run_forever(
    db: Database, interval: float, *, on_change: Callable[[], None] | None = None
) -> None:
    """The background loop; one failed pass is logged and the next one retries."""
    while True:
        try:
            count = await run_due(db)
            if count:
                log.info("scheduler ran %d transition(s)", count)
                if on_change is not None:
                    on_change()
        except Exception:  # the loop must outlive a bad pass (database restart, …)
            log.exception("scheduler pass failed")
        await asyncio.sleep(interval)
