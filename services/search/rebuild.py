"""Rebuilding the index from content (`reindex`) and repairing drift (`reconcile`).

Both read content's published set from its internal export (`/internal/published`), the
source of truth. `reindex` builds a fresh index and swaps it in (searches keep answering
from the old one meanwhile); `reconcile` compares keys and versions and writes only the
difference. One job runs at a time; its progress is visible to the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.search.model import SearchBackend, SearchDocument
from services.search.sync import INDEXED_KINDS, document_from_payload, key_of

log = logging.getLogger("portal.search.rebuild")


class ContentSource:
    """Pages through content's published set over HTTP (in-process in embedded mode)."""

    def __init__(self, client: httpx.AsyncClient, token: str | None = None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.total: int | None = None

    async def pages(self, size: int = 500) -> AsyncIterator[list[dict[str, Any]]]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": size}
            if after:
                params["after"] = after
            response = await self.client.get(
                "/internal/published", params=params, headers=self.headers
            )
            response.raise_for_status()
            page = response.json()
            if page.get("total") is not None:
                self.total = int(page["total"])
            yield page["items"]
            after = page.get("next_cursor")
            if not after:
                return


def to_documents(events: Sequence[dict[str, Any]]) -> list[SearchDocument]:
    documents = []
    for event in events:
        kind = INDEXED_KINDS.get(str(event["topic"]).partition(".")[0])
        if kind is not None:
            documents.append(document_from_payload(kind, event["payload"], int(event["version"])))
    return documents


@dataclass
class Job:
    """The state of the running or last rebuild job, as the CLI polls it."""

    kind: str = "none"
    state: str = "idle"  # idle | running | done | failed
    done: int = 0
    total: int | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "error": self.error,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


async def reindex(backend: SearchBackend, source: ContentSource, job: Job) -> None:
    """Build a new index from content and swap it in."""

    async def batches() -> AsyncIterator[Sequence[SearchDocument]]:
        async for events in source.pages():
            job.total = source.total
            yield to_documents(events)

    def progress(count: int) -> None:
        job.done = count

    job.added = await backend.replace_all(batches(), progress)
    job.done = job.added


async def reconcile(backend: SearchBackend, source: ContentSource, job: Job) -> None:
    """Write what differs between content's published set and the index."""
    indexed = await backend.all_keys()
    seen: set[str] = set()
    async for events in source.pages():
        job.total = source.total
        documents = to_documents(events)
        stale = []
        for document in documents:
            seen.add(document.key)
            have = indexed.get(document.key)
            if have is None:
                job.added += 1
                stale.append(document)
            elif have < document.version:
                job.updated += 1
                stale.append(document)
        if stale:
            await backend.upsert(stale)
        job.done += len(events)
    extra = [key for key in indexed if key not in seen]
    if extra:
        await backend.delete(extra)
    job.removed = len(extra)


async def reindex_when_content_answers(
    backend: SearchBackend, source: ContentSource, job: Job, *, attempts: int = 6
) -> None:
    """`reindex`, retried with backoff (1, 2, 4… s) while content is not answering yet:
    a service refilling its index at start may come up before content does."""
    for attempt in range(attempts):
        try:
            await reindex(backend, source, job)
            return
        except httpx.HTTPError:
            if attempt == attempts - 1:
                raise
            log.warning("content is not answering; retrying the reindex", exc_info=True)
            await asyncio.sleep(2**attempt)


def start(job: Job, kind: str, work: Any) -> None:
    """Run `work` (a coroutine) as the job in the background."""
    job.kind, job.state, job.error = kind, "running", None
    job.done = job.added = job.updated = job.removed = 0
    job.total = None
    job.started_at, job.finished_at = datetime.now(UTC), None

    async def run() -> None:
        try:
            await work
            job.state = "done"
        except Exception as exc:  # the job reports its failure; the service keeps serving
            log.exception("%s failed", kind)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        finally:
            job.finished_at = datetime.now(UTC)

    job.task = asyncio.create_task(run())


__all__ = [
    "ContentSource",
    "Job",
    "key_of",
    "reconcile",
    "reindex",
    "reindex_when_content_answers",
    "start",
]
