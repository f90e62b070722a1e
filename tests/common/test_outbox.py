"""The outbox relay: in order, at least once, with backoff, per subscriber.

Events are written with `emit` into the content service's outbox tables (the real
migrated schema). Subscribers are faked with `httpx.MockTransport`, except in one test
that delivers to a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from factories import fresh_database
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.common.db import Database
from services.common.outbox import (
    HttpSubscriber,
    OutboxEvent,
    OutboxRelay,
    backoff,
    emit,
)
from services.content.models import OUTBOX

pytestmark = pytest.mark.postgres

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
Reply = int | type[Exception]


class Receiver:
    """A fake subscriber endpoint: answers from a script (default 200), records every call."""

    def __init__(self, *script: Reply) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []
        self.accepted: list[int] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        self.headers.append(request.headers)
        reply = self.script.pop(0) if self.script else 200
        if isinstance(reply, type):
            raise reply("connection refused", request=request)  # type: ignore[call-arg]
        if 200 <= reply < 300:
            self.accepted.append(body["id"])
        return httpx.Response(reply, json={})

    def subscriber(self, name: str, topics: set[str] | None = None) -> HttpSubscriber:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return HttpSubscriber(name, f"http://{name}.test/events", client=client, topics=topics)


async def publish(db: Database, *topics: str) -> list[int]:
    """Commit one event per topic; return their ids."""
    async with db.transaction() as session:
        for n, topic in enumerate(topics):
            await emit(
                session,
                OUTBOX,
                topic=topic,
                key=f"item-{n}",
                version=n + 1,
                payload={"title": f"Bài số {n}", "n": n},
            )
    async with db.transaction() as session:
        rows = await session.execute(
            select(OUTBOX.events.c.id).order_by(OUTBOX.events.c.id.desc()).limit(len(topics))
        )
        return sorted(rows.scalars().all())


async def cursor(db: Database, name: str) -> Any:
    async with db.transaction() as session:
        rows = await session.execute(
            select(OUTBOX.cursors).where(OUTBOX.cursors.c.subscriber == name)
        )
        return rows.one()


class TestBackoff:
    def test_doubles_from_one_second_up_to_five_minutes(self):
        assert [backoff(n).total_seconds() for n in range(1, 11)] == [
            1,
            2,
            4,
            8,
            16,
            32,
            64,
            128,
            256,
            300,
        ]
        assert backoff(50) == timedelta(minutes=5)


class TestRunOnce:
    async def test_delivers_in_order(self, db):
        ids = await publish(db, "article.published", "document.published", "article.updated")
        receiver = Receiver()
        relay = OutboxRelay(db, OUTBOX, [receiver.subscriber("search")])

        assert await relay.run_once(now=T0) == 3

        assert [c["id"] for c in receiver.calls] == ids
        assert [c["topic"] for c in receiver.calls] == [
            "article.published",
            "document.published",
            "article.updated",
        ]
        first = receiver.calls[0]
        assert first["key"] == "item-0"
        assert first["version"] == 1
        assert first["payload"] == {"title": "Bài số 0", "n": 0}
        assert datetime.fromisoformat(first["created_at"]).tzinfo is not None
        assert [h["outbox-event-id"] for h in receiver.headers] == [str(i) for i in ids]
        state = await cursor(db, "search")
        assert state.last_event_id == ids[-1]
        assert (state.attempts, state.next_attempt_at, state.last_error) == (0, None, None)

    async def test_nothing_new_delivers_nothing(self, db):
        await publish(db, "article.published")
        receiver = Receiver()
        relay = OutboxRelay(db, OUTBOX, [receiver.subscriber("search")])
        assert await relay.run_once(now=T0) == 1

        assert await relay.run_once(now=T0 + timedelta(seconds=1)) == 0
        assert len(receiver.calls) == 1

        [new] = await publish(db, "article.unpublished")
        assert await relay.run_once(now=T0 + timedelta(seconds=2)) == 1
        assert [c["id"] for c in receiver.calls[1:]] == [new]

    async def test_an_empty_outbox_delivers_nothing(self, db):
        receiver = Receiver()
        relay = OutboxRelay(db, OUTBOX, [receiver.subscriber("search")])
        assert await relay.run_once(now=T0) == 0
        assert receiver.calls == []
        assert (await cursor(db, "search")).last_event_id == 0

    async def test_batches_until_caught_up(self, db):
        ids = await publish(db, *["article.published"] * 5)
        receiver = Receiver()
        relay = OutboxRelay(db, OUTBOX, [receiver.subscriber("search")], batch_size=2)
        assert [await relay.run_once(now=T0) for _ in range(4)] == [2, 2, 1, 0]
        assert receiver.accepted == ids


class TestFailures:
    async def test_retries_the_same_event_with_backoff_never_skipping(self, db):
        ids = await publish(db, "article.published", "article.updated", "article.unpublished")
        # Event 1 goes through; event 2 meets a 500, then a refused connection, then 200.
        receiver = Receiver(200, 500, httpx.ConnectError)
        relay = OutboxRelay(db, OUTBOX, [receiver.subscriber("search")])

        assert await relay.run_once(now=T0) == 1
        state = await cursor(db, "search")
        assert state.last_event_id == ids[0], "the cursor stays before the failed event"
        assert state.attempts == 1
        assert state.next_attempt_at == T0 + timedelta(seconds=1)
        assert "500" in state.last_error

        assert await relay.run_once(now=T0 + timedelta(milliseconds=500)) == 0
        assert len(receiver.calls) == 2, "no attempt before next_attempt_at"

        second = T0 + timedelta(seconds=1)
        assert await relay.run_once(now=second) == 0
        state = await cursor(db, "search")
        assert state.last_event_id == ids[0]
        assert state.attempts == 2
        assert state.next_attempt_at == second + timedelta(seconds=2)
        assert "ConnectError" in state.last_error

        assert await relay.run_once(now=second + timedelta(seconds=1)) == 0
        third = second + timedelta(seconds=2)
        assert await relay.run_once(now=third) == 2

        assert [c["id"] for c in receiver.calls] == [ids[0], ids[1], ids[1], ids[1], ids[2]]
        assert receiver.accepted == ids
        state = await cursor(db, "search")
        assert state.last_event_id == ids[-1]
        assert (state.attempts, state.next_attempt_at, state.last_error) == (0, None, None)

    async def test_a_failing_subscriber_does_not_hold_up_another(self, db):
        ids = await publish(db, "article.published", "page.published")
        down = Receiver(*[503] * 10)
        up = Receiver()
        relay = OutboxRelay(db, OUTBOX, [down.subscriber("webhook"), up.subscriber("search")])

        assert await relay.run_once(now=T0) == 2

        assert up.accepted == ids
        assert down.accepted == []
        assert (await cursor(db, "webhook")).last_event_id == 0
        assert (await cursor(db, "search")).last_event_id == ids[-1]

        later = T0 + timedelta(minutes=10)
        assert await relay.run_once(now=later) == 0
        assert [c["id"] for c in down.calls] == [ids[0], ids[0]]

    async def test_a_broken_subscriber_object_is_retried_too(self, db):
        ids = await publish(db, "article.published")

        class Flaky:
            name = "flaky"
            topics = None

            def __init__(self) -> None:
                self.seen: list[int] = []
                self.fail = True

            async def deliver(self, event: OutboxEvent) -> None:
                if self.fail:
                    self.fail = False
                    raise ValueError("bug in the consumer")
                self.seen.append(event.id)

        flaky = Flaky()
        relay = OutboxRelay(db, OUTBOX, [flaky])
        assert await relay.run_once(now=T0) == 0
        assert "ValueError: bug in the consumer" in (await cursor(db, "flaky")).last_error
        assert await relay.run_once(now=T0 + timedelta(seconds=1)) == 1
        assert flaky.seen == ids


class TestTopics:
    async def test_only_subscribed_topics_are_delivered(self, db):
        ids = await publish(db, "article.published", "page.published", "article.unpublished")
        receiver = Receiver()
        relay = OutboxRelay(
            db,
            OUTBOX,
            [receiver.subscriber("articles", {"article.published", "article.unpublished"})],
        )

        assert await relay.run_once(now=T0) == 2

        assert receiver.accepted == [ids[0], ids[2]]
        assert (await cursor(db, "articles")).last_event_id == ids[-1]
        assert await relay.run_once(now=T0) == 0
        assert len(receiver.calls) == 2

    async def test_skipped_topics_do_not_need_the_subscriber_up(self, db):
        await publish(db, "page.published", "page.updated")
        receiver = Receiver(*[500] * 5)
        relay = OutboxRelay(db, OUTBOX, [receiver.subscriber("articles", {"article.published"})])
        assert await relay.run_once(now=T0) == 0
        assert receiver.calls == []
        state = await cursor(db, "articles")
        assert state.attempts == 0


# ---------------------------------------------------------------- a real HTTP receiver


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A tiny webhook receiver served by uvicorn on a free port of 127.0.0.1."""
    received: list[dict[str, Any]] = []

    async def events(request: Request) -> JSONResponse:
        body = await request.json()
        body["header_id"] = request.headers.get("outbox-event-id")
        received.append(body)
        return JSONResponse({"ok": True}, status_code=202)

    app = Starlette(routes=[Route("/events", events, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", ws="none", http="h11", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the receiver did not start"
        assert time.monotonic() < deadline, "the receiver did not start within 10 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/events", received
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class TestRealHttpDelivery:
    async def test_events_reach_a_real_server(self, db, http_receiver):
        url, received = http_receiver
        ids = await publish(db, "article.published", "article.updated")
        async with httpx.AsyncClient(timeout=5) as client:
            relay = OutboxRelay(db, OUTBOX, [HttpSubscriber("webhook", url, client=client)])
            assert await relay.run_once() == 2
        assert [r["id"] for r in received] == ids
        assert [r["header_id"] for r in received] == [str(i) for i in ids]
        assert received[0]["payload"] == {"title": "Bài số 0", "n": 0}
        assert received[1]["topic"] == "article.updated"

    async def test_a_server_that_is_down_gets_it_later(self, db):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{probe.getsockname()[1]}/events"
        await publish(db, "article.published")
        async with httpx.AsyncClient(timeout=2) as client:
            relay = OutboxRelay(db, OUTBOX, [HttpSubscriber("webhook", dead, client=client)])
            assert await relay.run_once(now=T0) == 0
        state = await cursor(db, "webhook")
        assert state.attempts == 1
        assert state.last_event_id == 0
        assert "ConnectError" in state.last_error


# ------------------------------------------------------- concurrent writers, real commits


@pytest.fixture
async def own_db(pg_server) -> AsyncIterator[Database]:
    with fresh_database(pg_server, "outbox") as url:
        database = Database.from_url(url)
        try:
            yield database
        finally:
            await database.dispose()


async def _wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


class TestConcurrency:
    async def test_an_event_committed_late_is_not_passed_over(self, own_db):
        """Ids are taken at insert, commits land in any order: the relay must not skip one.

        Transaction A writes its event first but commits last; B writes and commits in
        between while the relay runs. Every event must still reach the subscriber.
        """
        receiver = Receiver()
        relay = OutboxRelay(own_db, OUTBOX, [receiver.subscriber("search")])

        async def write_b() -> None:
            async with own_db.transaction() as session:
                await emit(
                    session, OUTBOX, topic="article.published", key="b", version=1, payload={}
                )

        async with own_db.transaction() as a:
            await emit(a, OUTBOX, topic="article.published", key="a", version=1, payload={})
            b = asyncio.create_task(write_b())
            await asyncio.sleep(0.3)  # B commits now unless writers are kept in id order
            await relay.run_once()
        await asyncio.wait_for(b, 10)
        await relay.run_once()
        await relay.run_once()

        assert sorted(c["key"] for c in receiver.calls) == ["a", "b"]
        assert [c["key"] for c in receiver.calls] == ["a", "b"]
        assert receiver.accepted == sorted(receiver.accepted)

    async def test_two_relays_share_a_subscriber_without_clashing(self, own_db):
        """A second relay process skips a subscriber another one is delivering to."""
        async with own_db.transaction() as session:
            await emit(session, OUTBOX, topic="article.published", key="x", version=1, payload={})
        entered, release = asyncio.Event(), asyncio.Event()
        delivered: list[int] = []

        class Slow:
            name = "search"
            topics = None

            async def deliver(self, event: OutboxEvent) -> None:
                entered.set()
                await release.wait()
                delivered.append(event.id)

        class Fast:
            name = "search"
            topics = None

            async def deliver(self, event: OutboxEvent) -> None:
                delivered.append(event.id)

        first = OutboxRelay(own_db, OUTBOX, [Slow()])
        second = OutboxRelay(own_db, OUTBOX, [Fast()])
        busy = asyncio.create_task(first.run_once())
        await asyncio.wait_for(entered.wait(), 5)

        assert await asyncio.wait_for(second.run_once(), 10) == 0

        release.set()
        assert await busy == 1
        assert await second.run_once() == 0
        assert len(delivered) == 1
