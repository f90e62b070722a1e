"""The search service's own vocabulary, shared by every backend and the API.

A backend receives `SearchDocument`s to index and `SearchQuery`s to answer, and returns
`SearchResults`; filters are a neutral structure (`Filters`) that each backend translates
to its own language (a tantivy query, a Meilisearch filter string), so the API and its
results are the same whichever backend is configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

FACETS = ("portal", "type", "category", "doc_type", "issuer", "year", "locale")
"""Filterable and facetable fields."""


class DocType(StrEnum):
    ARTICLE = "article"
    DOCUMENT = "document"


class Sort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


@dataclass(frozen=True)
class SearchDocument:
    """One searchable item: an article or a legal document, as the public sees it.

    `key` is unique across portals and types (`"{type}:{id}"`); `version` orders updates so
    an older event never overwrites a newer one.
    """

    key: str
    id: str
    type: DocType
    portal: str
    title: str
    url: str
    published_at: datetime
    version: int
    locale: str = "vi"
    lead: str = ""
    body: str = ""
    category: str | None = None  # category slug
    tags: Sequence[str] = ()
    # legal documents
    number: str | None = None  # e.g. 3216/BHXH-TT
    doc_type: str | None = None  # Công văn, Quyết định…
    issuer: str | None = None
    year: int | None = None  # year issued (documents) or published (articles)


@dataclass(frozen=True)
class Filters:
    """Conjunction of per-field disjunctions: `portal in (a, b) AND type = article AND …`.

    An empty tuple means "no constraint on this field".
    """

    portal: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    doc_type: tuple[str, ...] = ()
    issuer: tuple[str, ...] = ()
    year: tuple[int, ...] = ()
    locale: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    filters: Filters = field(default_factory=Filters)
    sort: Sort = Sort.RELEVANCE
    page: int = 1
    per_page: int = 20
    facets: tuple[str, ...] = FACETS


@dataclass(frozen=True)
class Hit:
    key: str
    id: str
    type: str
    portal: str
    title: str
    url: str
    published_at: datetime
    snippet: str  # original text, matches wrapped in <mark>…</mark>, HTML-escaped otherwise
    title_highlighted: str
    number: str | None = None
    doc_type: str | None = None
    issuer: str | None = None
    category: str | None = None
    score: float = 0.0


@dataclass(frozen=True)
class SearchResults:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Suggestion:
    title: str
    url: str
    type: str
    portal: str


class SearchBackend(Protocol):
    """What every backend does; the contract suite in tests/search holds them to it."""

    rebuild_needed: bool
    """Set by `open()` when the stored index could not be used and started empty."""

    async def open(self) -> None:
        """Create or connect the index (idempotent)."""

    async def close(self) -> None: ...

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        """Add or replace documents by `key`; replacing never duplicates."""

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove documents by key; unknown keys are ignored."""

    async def versions(self, keys: Sequence[str]) -> dict[str, int]:
        """The indexed `version` of each key that is present."""

    async def search(self, query: SearchQuery) -> SearchResults: ...

    async def suggest(self, prefix: str, filters: Filters, limit: int) -> list[Suggestion]:
        """Title completions for what a person is typing."""

    async def all_keys(self) -> dict[str, int]:
        """Every indexed key with its version (for reconcile)."""

    async def clear(self) -> None:
        """Remove every document (tests)."""

    async def replace_all(
        self,
        batches: AsyncIterator[Sequence[SearchDocument]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Build a fresh index from `batches` and swap it in atomically; return the count.

        Searches keep answering from the old index until the swap (no downtime); if the
        build fails, the old index stays in place.
        """
