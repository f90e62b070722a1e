"""Fill a content database with N synthetic published articles for the load scenario.

The words come from the real BHXH texts shipped with the demo data, so titles, leads and
bodies look like the portals' own (Vietnamese, diacritics, realistic lengths). Rows are
written in bulk through the content service's own tables after its real migrations.

    python bench/populate.py postgresql+asyncpg://postgres@127.0.0.1/portal_bench 100000
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from rich.progress import Progress
from sqlalchemy import insert, text

from services.common.db import Database
from services.common.migrate import upgrade
from services.common.text import fold, slugify
from services.content.models import Category, Item, Portal, Revision, User

CORPUS = Path(__file__).resolve().parent.parent / "services/content/demo/corpus"
BATCH = 2000


def vocabulary() -> list[str]:
    words: list[str] = []
    for path in sorted(CORPUS.glob("*.txt")):
        words += re.findall(r"\w+", path.read_text(encoding="utf-8"))
    return [w for w in words if len(w) > 1]


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    start = rng.randrange(0, len(words) - n)
    return " ".join(words[start : start + n]).capitalize()


async def populate(url: str, count: int, portal: str = "phu-yen", seed: int = 7) -> None:
    upgrade("content", url)
    db = Database.from_url(url)
    rng = random.Random(seed)
    words = vocabulary()
    async with db.transaction() as session:
        await session.execute(text("DELETE FROM item_tags"))
        await session.execute(text("DELETE FROM revisions"))
        await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await session.execute(text("DELETE FROM audit_log"))
        await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        await session.execute(text("DELETE FROM items"))
        await session.execute(text("DELETE FROM categories"))
        await session.execute(text("DELETE FROM memberships"))
        await session.execute(text("DELETE FROM users"))
        await session.execute(text("DELETE FROM portals"))
        session.add(Portal(id=portal, name="BHXH tỉnh Phú Yên", kind="provincial", links=[]))
        author = User(username="bench", password_hash="x", full_name="Bench")
        session.add(author)
        await session.flush()
        categories = []
        for name in ("Tin tức", "Chính sách BHXH", "Chính sách BHYT", "Truyền thông"):
            category = Category(portal_id=portal, name=name, slug=slugify(name))
            session.add(category)
            await session.flush()
            categories.append(category.id)
        author_id = author.id
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with Progress() as progress:
        task = progress.add_task(f"{count:,} articles", total=count)
        for offset in range(0, count, BATCH):
            items, revisions = [], []
            for i in range(offset, min(count, offset + BATCH)):
                item_id = uuid.uuid4().hex
                title = sentence(rng, words, rng.randint(8, 16))
                lead = sentence(rng, words, rng.randint(25, 45)) + "."
                body = "".join(
                    f"<p>{sentence(rng, words, rng.randint(40, 90))}.</p>" for _ in range(6)
                )
                published = start + timedelta(minutes=17 * i)
                category = rng.choice(categories)
                items.append(
                    {
                        "id": item_id,
                        "portal_id": portal,
                        "kind": "article",
                        "locale": "vi",
                        "slug": f"{slugify(title)[:100]}-{i}",
                        "status": "published",
                        "is_live": True,
                        "author_id": author_id,
                        "current_revision": 1,
                        "live_revision": 1,
                        "version": 1,
                        "published_at": published,
                        "created_at": published,
                        "updated_at": published,
                        "live_category_id": category,
                        "live_search": fold(f"{title} {lead}")[:2000],
                        "working_category_id": category,
                        "working_search": fold(f"{title} {lead}")[:2000],
                    }
                )
                revisions.append(
                    {
                        "id": uuid.uuid4().hex,
                        "item_id": item_id,
                        "number": 1,
                        "created_by": author_id,
                        "created_at": published,
                        "data": {
                            "title": title,
                            "lead": lead,
                            "body": body,
                            "category_id": category,
                            "tags": [],
                            "featured_media_id": None,
                            "featured_caption": None,
                            "featured_credit": None,
                            "author": "Phóng viên",
                            "source": "BHXH Phú Yên",
                        },
                    }
                )
            async with db.transaction() as session:
                await session.execute(insert(Item), items)
                await session.execute(insert(Revision), revisions)
            progress.advance(task, len(items))
    await db.dispose()
    # Settle the tables (visibility map, statistics) so autovacuum does not run during the
    # measurement; VACUUM cannot run inside a transaction, hence a plain connection.
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(populate(sys.argv[1], int(sys.argv[2])))
