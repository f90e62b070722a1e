"""The last-admin rule under concurrency (finding 4: two admins demoting each other at once
both succeeded in 3 of 4 rounds on SQLite, leaving the portal without an admin).

Real concurrent requests against a real engine (not the rolled-back test connection, which
serves one transaction at a time), on SQLite and PostgreSQL. The interleaving is forced, so
the test cannot pass by luck: both requests are inside their transactions and have read
before either may write or commit.

- SQLite: both have read the portal's admins (the whole check) before either goes on. This
  is exactly the race of the finding; FOR UPDATE does nothing there.
- PostgreSQL: both have read the membership in their open transactions before either
  locks the admins; a rendezvous after the lock cannot be reached, since the second
  request rightly waits for the first one's lock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from factories import make_portal, make_user
from sqlalchemy import delete, select

from services.common.db import Database
from services.common.migrate import upgrade
from services.content.accounts import repository
from services.content.app import create_app
from services.content.models import Membership, Portal, User

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'content.db'}"
        await asyncio.to_thread(upgrade, "content", url)
    else:
        url = request.getfixturevalue("pg_url")
    made = Database.from_url(url)
    yield made
    await made.dispose()


@pytest.fixture
async def portal(database) -> AsyncIterator[str]:
    """A portal of this test only; it and its users are deleted afterwards (these rows
    are committed for real)."""
    portal_id = f"race-{uuid.uuid4().hex[:8]}"
    async with database.transaction() as session:
        before = set(await session.scalars(select(User.id)))
    await make_portal(database, portal_id)
    yield portal_id
    async with database.transaction() as session:
        await session.execute(delete(Portal).where(Portal.id == portal_id))
        await session.execute(delete(User).where(User.id.not_in(before)))


@pytest.fixture
async def app(content_settings, database) -> AsyncIterator:
    made = create_app(content_settings, database=database)
    async with made.router.lifespan_context(made):
        yield made


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        yield http


@pytest.fixture
def interleaved(monkeypatch, database):
    """Hold each request at the admin check until both have reached it."""
    dialect = database.engine.dialect.name
    real = repository.lock_admins
    arrived: list[str] = []
    both_there = asyncio.Event()

    async def rendezvous(portal: str) -> None:
        arrived.append(portal)
        if len(arrived) == 2:
            both_there.set()
        # Not a timing assertion: without a partner the test would hang instead of failing.
        await asyncio.wait_for(both_there.wait(), timeout=30)

    async def lock_admins(session, portal):
        if dialect == "sqlite":
            admins = await real(session, portal)
            await rendezvous(portal)
            return admins
        await rendezvous(portal)
        return await real(session, portal)

    monkeypatch.setattr(repository, "lock_admins", lock_admins)
    return arrived


async def admins_of(database: Database, portal: str) -> set[str]:
    async with database.transaction() as session:
        rows = await session.scalars(
            select(Membership.user_id).where(
                Membership.portal_id == portal, Membership.role == "admin"
            )
        )
        return set(rows)


def member_url(portal: str, user_id: str) -> str:
    return f"/v1/portals/{portal}/members/{user_id}"


class TestTwoAdminsAtOnce:
    async def test_demoting_each_other_one_wins(self, client, app, database, portal, interleaved):
        a = await make_user(app, database, roles={portal: "admin"})
        b = await make_user(app, database, roles={portal: "admin"})
        responses = await asyncio.gather(
            client.put(member_url(portal, b.id), json={"role": "editor"}, headers=a.headers),
            client.put(member_url(portal, a.id), json={"role": "editor"}, headers=b.headers),
        )
        assert len(interleaved) == 2, "the requests did not meet"
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 409)
        assert refused.json()["type"].endswith("/last-admin")
        assert len(await admins_of(database, portal)) == 1

    async def test_removing_each_other_one_wins(self, client, app, database, portal, interleaved):
        a = await make_user(app, database, roles={portal: "admin"})
        b = await make_user(app, database, roles={portal: "admin"})
        responses = await asyncio.gather(
            client.delete(member_url(portal, b.id), headers=a.headers),
            client.delete(member_url(portal, a.id), headers=b.headers),
        )
        assert len(interleaved) == 2, "the requests did not meet"
        assert sorted(r.status_code for r in responses) == [204, 409], [r.text for r in responses]
        assert len(await admins_of(database, portal)) == 1

    async def test_one_demotes_the_other_removes(self, client, app, database, portal, interleaved):
        a = await make_user(app, database, roles={portal: "admin"})
        b = await make_user(app, database, roles={portal: "admin"})
        responses = await asyncio.gather(
            client.put(member_url(portal, b.id), json={"role": "head"}, headers=a.headers),
            client.delete(member_url(portal, a.id), headers=b.headers),
        )
        assert sorted(r.status_code for r in responses) in ([200, 409], [204, 409])
        assert len(await admins_of(database, portal)) == 1


class TestOneAdminAlone:
    async def test_with_a_third_admin_both_demotions_succeed(
        self, client, app, database, portal, interleaved
    ):
        """The rule refuses only what would leave no admin."""
        a = await make_user(app, database, roles={portal: "admin"})
        b = await make_user(app, database, roles={portal: "admin"})
        c = await make_user(app, database, roles={portal: "admin"})
        responses = await asyncio.gather(
            client.put(member_url(portal, b.id), json={"role": "editor"}, headers=a.headers),
            client.put(member_url(portal, a.id), json={"role": "editor"}, headers=b.headers),
        )
        assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
        assert await admins_of(database, portal) == {c.id}
