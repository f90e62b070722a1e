"""The Meilisearch backend (production), on `meilisearch-python-sdk`'s async client.

Articles and legal documents share one index, `{prefix}_items`. Meilisearch folds most
diacritics itself, but to behave exactly like the embedded backend the searchable fields are
copies folded by our own normaliser (`title_folded`…), and queries are folded the same way.
Highlighting and cropping run on the original fields, so snippets show the text as written.

Everything that can be checked without a server is a pure function here (`to_filter`,
`to_record`, `encode_key`, `mark`, `index_settings`…); the shared contract suite proves the
behaviour against a real Meilisearch when `MEILI_URL` is set.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from meilisearch_python_sdk import AsyncClient, AsyncIndex
from meilisearch_python_sdk.errors import MeilisearchApiError, MeilisearchTimeoutError
from meilisearch_python_sdk.models.settings import (
    MeilisearchSettings,
    MinWordSizeForTypos,
    Pagination,
    TypoTolerance,
)

from services.search.model import (
    FACETS,
    Filters,
    Hit,
    SearchDocument,
    SearchQuery,
    SearchResults,
    Sort,
    Suggestion,
)
from services.search.normalize import ONE_TYPO_FROM, TWO_TYPOS_FROM, normalize, number_key

log = logging.getLogger("portal.search.meili")

PRIMARY_KEY = "key"
SEARCHABLE = [
    "number_key",
    "title_folded",
    "lead_folded",
    "body_folded",
    "number_folded",
    "issuer_folded",
]
"""Folded copies, in ranking order: an exact document number first, then title before body."""
DISPLAYED = [
    *("doc_key", "id", "type", "portal", "locale", "title", "url", "published_iso", "version"),
    *("lead", "body", "category", "tags", "number", "doc_type", "issuer", "year"),
]
"""What Meilisearch may return; the folded copies never leave the server."""
RETRIEVED = [
    *("doc_key", "id", "type", "portal", "title", "url", "published_iso"),
    *("number", "doc_type", "issuer", "category"),
]
RANKING_RULES = ["words", "sort", "typo", "proximity", "attribute", "exactness"]
"""Meilisearch's rules, with `sort` right after `words`.

`sort` does nothing unless a search asks for it, so relevance ranking is Meilisearch's
default; when a search asks for newest, documents matching every word still come first and
are then ordered by date rather than by typo count or proximity.
"""
MAX_TOTAL_HITS = 100_000
"""The API allows page 1000 of 100; Meilisearch's default cap (1000) would cut `total`."""
CROP_WORDS = 30
ELLIPSIS = "…"
BATCH = 500

# Meilisearch inserts these around matches; they are private-use characters, removed from
# indexed text, so after HTML-escaping they can only be our marks (a literal "<mark>" typed
# in an article stays escaped).
PRE, POST = "\ue000", "\ue001"
_SENTINELS = str.maketrans({PRE: "", POST: ""})
_KEY_SAFE = re.compile(r"[A-Za-z0-9]")
_ESCAPED = re.compile(r"_([0-9a-f]{2})|-")
_UID = re.compile(r"[A-Za-z0-9_-]+")


class MeiliError(RuntimeError):
    """Meilisearch refused or failed a task, or did not finish it in time."""


# --- pure translation ---------------------------------------------------------------------


def index_settings() -> MeilisearchSettings:
    """The settings `open()` applies to every index it manages."""
    return MeilisearchSettings(
        searchable_attributes=SEARCHABLE,
        displayed_attributes=DISPLAYED,
        filterable_attributes=list(FACETS),
        sortable_attributes=["published_at"],
        ranking_rules=RANKING_RULES,
        typo_tolerance=TypoTolerance(
            enabled=True,
            min_word_size_for_typos=MinWordSizeForTypos(
                one_typo=ONE_TYPO_FROM, two_typos=TWO_TYPOS_FROM
            ),
            disable_on_attributes=["number_key", "number_folded"],
            disable_on_numbers=True,
        ),
        pagination=Pagination(max_total_hits=MAX_TOTAL_HITS),
    )


def encode_key(key: str) -> str:
    """A Meilisearch document id for `key` (ids allow only `[A-Za-z0-9_-]`).

    `:` becomes `-` (`article:ab12` → `article-ab12`); every other character outside
    `[A-Za-z0-9]`, `-` and `_` included, becomes `_` and its UTF-8 bytes in hex, so the
    encoding is reversible and two keys never share an id.
    """
    out: list[str] = []
    for char in key:
        if _KEY_SAFE.match(char):
            out.append(char)
        elif char == ":":
            out.append("-")
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode())
    encoded = "".join(out)
    if not encoded or len(encoded) > 511:
        raise ValueError(f"cannot index a key of that length: {key!r}")
    return encoded


def decode_key(encoded: str) -> str:
    """The key that `encode_key` turned into `encoded`."""
    raw = bytearray()
    position = 0
    for found in _ESCAPED.finditer(encoded):
        raw += encoded[position : found.start()].encode()
        raw += bytes.fromhex(found.group(1)) if found.group(1) else b":"
        position = found.end()
    raw += encoded[position:].encode()
    return raw.decode()


def quote(value: str) -> str:
    """A Meilisearch filter string literal: double quotes, `\\` and `"` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_filter(filters: Filters) -> str | None:
    """`Filters` as a Meilisearch filter expression, or None when nothing is constrained.

    `portal IN ["a", "b"] AND type = "article" AND year IN [2023, 2024]`.
    """
    clauses: list[str] = []
    for name in FACETS:
        values = list(dict.fromkeys(getattr(filters, name)))
        if not values:
            continue
        if name == "year":
            literals = [str(int(value)) for value in values]
        else:
            literals = [quote(str(value)) for value in values]
        if len(literals) == 1:
            clauses.append(f"{name} = {literals[0]}")
        else:
            clauses.append(f"{name} IN [{', '.join(literals)}]")
    return " AND ".join(clauses) or None


def _clean(text: str | None) -> str | None:
    return None if text is None else text.translate(_SENTINELS)


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def to_record(document: SearchDocument) -> dict[str, Any]:
    """The Meilisearch record of a document: original fields, folded copies, a sort key."""
    published = _utc(document.published_at)
    title, lead, body = _clean(document.title), _clean(document.lead), _clean(document.body)
    number, issuer = _clean(document.number), _clean(document.issuer)
    return {
        PRIMARY_KEY: encode_key(document.key),
        "doc_key": document.key,
        "id": document.id,
        "type": str(document.type),
        "portal": document.portal,
        "locale": document.locale,
        "title": title,
        "url": document.url,
        "published_at": int(published.timestamp()),
        "published_iso": published.isoformat(),
        "version": document.version,
        "lead": lead,
        "body": body,
        "category": document.category,
        "tags": list(document.tags),
        "number": number,
        "doc_type": document.doc_type,
        "issuer": issuer,
        "year": document.year,
        "number_key": number_key(number) if number else None,
        "title_folded": normalize(title or ""),
        "lead_folded": normalize(lead or ""),
        "body_folded": normalize(body or ""),
        "number_folded": normalize(number) if number else None,
        "issuer_folded": normalize(issuer) if issuer else None,
    }


def query_text(q: str) -> str:
    """The query as Meilisearch receives it: folded like the documents.

    Quotes and a leading `-` are dropped (Meilisearch would read a phrase or a negation,
    which the embedded backend does not); a trailing space is kept, because it tells
    Meilisearch the last word is complete rather than a prefix.
    """
    words = (word.lstrip("-") for word in normalize(q).replace('"', " ").split())
    text = " ".join(word for word in words if word)
    return f"{text} " if text and q[-1:].isspace() else text


def mark(formatted: str) -> str:
    """HTML-escape Meilisearch's formatted text and turn its match sentinels into `<mark>`."""
    escaped = html.escape(formatted)
    return escaped.replace(PRE, "<mark>").replace(POST, "</mark>")


def snippet(formatted: dict[str, Any], raw: dict[str, Any]) -> str:
    """The lead or the body cropped around its matches: the one with more, the lead on a tie."""
    crops = [str(formatted.get(name) or raw.get(name) or "") for name in ("lead", "body")]
    best = max((crop for crop in crops if crop), key=lambda crop: crop.count(PRE), default="")
    return mark(best)


def to_hit(raw: dict[str, Any]) -> Hit:
    """A Meilisearch hit (with `_formatted`) as the neutral `Hit`."""
    formatted: dict[str, Any] = raw.get("_formatted") or {}
    return Hit(
        key=str(raw["doc_key"]),
        id=str(raw["id"]),
        type=str(raw["type"]),
        portal=str(raw["portal"]),
        title=str(raw["title"]),
        url=str(raw["url"]),
        published_at=datetime.fromisoformat(str(raw["published_iso"])),
        snippet=snippet(formatted, raw),
        title_highlighted=mark(str(formatted.get("title") or raw["title"])),
        number=raw.get("number"),
        doc_type=raw.get("doc_type"),
        issuer=raw.get("issuer"),
        category=raw.get("category"),
        score=float(raw.get("_rankingScore") or 0.0),
    )


def facet_counts(
    distribution: dict[str, Any] | None, wanted: Iterable[str]
) -> dict[str, dict[str, int]]:
    """`facetDistribution` for the wanted facets; every facet present, years as `"2024"`."""
    counts: dict[str, dict[str, int]] = {}
    for name in wanted:
        values: dict[str, Any] = (distribution or {}).get(name) or {}
        counts[name] = {
            (_year(value) if name == "year" else str(value)): int(count)
            for value, count in values.items()
        }
    return counts


def _year(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else value


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the backend --------------------------------------------------------------------------


class MeiliBackend:
    """`SearchBackend` on a Meilisearch server (see the module docstring)."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        index_prefix: str = "portal",
        *,
        task_timeout: float = 120.0,
    ) -> None:
        if not _UID.fullmatch(index_prefix):
            raise ValueError("index_prefix may hold only letters, digits, '_' and '-'")
        self.url = url
        self.api_key = api_key
        self.uid = f"{index_prefix}_items"
        self.staging_uid = f"{self.uid}_next"
        self.task_timeout = task_timeout
        self._client: AsyncClient | None = None
        # Settings are (re)applied on open and Meilisearch re-indexes by itself.
        self.rebuild_needed = False

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("MeiliBackend is not open; call open() first")
        return self._client

    def _index(self, uid: str | None = None) -> AsyncIndex:
        return self.client.index(uid or self.uid)

    async def open(self) -> None:
        """Connect, create the index if missing and apply its settings (idempotent)."""
        if self._client is None:
            self._client = AsyncClient(self.url, self.api_key, timeout=30)
        await self._prepare(self.uid)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        """Add or replace documents by key, waiting until they are searchable."""
        await self._add(self.uid, documents)

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove documents by key; unknown keys are ignored."""
        for chunk in _chunks(list(dict.fromkeys(keys)), BATCH):
            task = await self._index().delete_documents([encode_key(key) for key in chunk])
            await self._wait(task.task_uid)

    async def versions(self, keys: Sequence[str]) -> dict[str, int]:
        """The indexed version of each key that is present."""
        found: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(keys)), BATCH):
            page = await self._index().get_documents(
                ids=[encode_key(key) for key in chunk],
                fields=["doc_key", "version"],
                limit=len(chunk),
            )
            found.update((str(doc["doc_key"]), int(doc["version"])) for doc in page.results)
        return found

    async def all_keys(self) -> dict[str, int]:
        """Every indexed key with its version, a page of documents at a time."""
        found: dict[str, int] = {}
        offset = 0
        while True:
            page = await self._index().get_documents(
                offset=offset, limit=1000, fields=["doc_key", "version"]
            )
            found.update((str(doc["doc_key"]), int(doc["version"])) for doc in page.results)
            offset += len(page.results)
            if not page.results or offset >= page.total:
                return found

    async def search(self, query: SearchQuery) -> SearchResults:
        """Documents holding every query word; if none does, those holding the most.

        The second pass is Meilisearch's default `last` strategy (drop words from the end),
        the first is `all`, so the total counts only full matches whenever there are some,
        as the embedded backend does.
        """
        text = query_text(query.q)
        newest = query.sort is Sort.NEWEST or not text.strip()
        facets = [name for name in query.facets if name in FACETS]
        params: dict[str, Any] = {
            "filter": to_filter(query.filters),
            "facets": facets or None,
            "sort": ["published_at:desc"] if newest else None,
            "page": query.page,
            "hits_per_page": query.per_page,
            "attributes_to_retrieve": RETRIEVED,
            "attributes_to_highlight": ["title", "lead", "body"],
            "attributes_to_crop": ["lead", "body"],
            "crop_length": CROP_WORDS,
            "crop_marker": ELLIPSIS,
            "highlight_pre_tag": PRE,
            "highlight_post_tag": POST,
            "show_ranking_score": not newest,
        }
        index = self._index()
        found = await index.search(text, matching_strategy="all", **params)
        if not found.total_hits and len(text.split()) > 1:
            found = await index.search(text, matching_strategy="last", **params)
        return SearchResults(
            hits=[to_hit(raw) for raw in found.hits],
            total=found.total_hits or 0,
            facets=facet_counts(found.facet_distribution, facets),
        )

    async def suggest(self, prefix: str, filters: Filters, limit: int) -> list[Suggestion]:
        """Titles holding every typed word, the last one as a prefix; one per title."""
        text = query_text(prefix)
        if not text.strip() or limit <= 0:
            return []
        found = await self._index().search(
            text,
            filter=to_filter(filters),
            limit=limit * 3,  # room for titles that repeat
            attributes_to_search_on=["title_folded"],
            attributes_to_retrieve=["title", "url", "type", "portal"],
            matching_strategy="all",
        )
        seen: set[str] = set()
        out: list[Suggestion] = []
        for hit in found.hits:
            folded = normalize(str(hit["title"]))
            if folded in seen:
                continue
            seen.add(folded)
            out.append(Suggestion(hit["title"], hit["url"], hit["type"], hit["portal"]))
            if len(out) == limit:
                break
        return out

    async def clear(self) -> None:
        task = await self._index().delete_all_documents()
        await self._wait(task.task_uid)

    async def replace_all(
        self,
        batches: AsyncIterator[Sequence[SearchDocument]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Build `{prefix}_items_next`, swap it with the live index, drop the old one.

        Searches keep answering from the live index until the swap, which Meilisearch
        makes atomic; if anything fails before it, the live index is untouched.
        """
        await self._prepare(self.uid)
        await self._drop(self.staging_uid)  # a leftover of an interrupted rebuild
        await self._prepare(self.staging_uid)
        count = 0
        try:
            async for batch in batches:
                await self._add(self.staging_uid, batch)
                count += len(batch)
                if progress is not None:
                    progress(count)
            swap = await self.client.swap_indexes([(self.uid, self.staging_uid)])
            await self._wait(swap.task_uid, timeout=max(self.task_timeout, 600.0))
        except BaseException:
            try:
                await self._drop(self.staging_uid)
            except Exception:
                log.exception("could not drop %s after a failed rebuild", self.staging_uid)
            raise
        try:
            await self._drop(self.staging_uid)  # it now holds the previous documents
        except MeiliError:
            # The new index is live; the next rebuild drops this leftover first.
            log.exception("rebuilt %s but could not drop the old copy", self.uid)
        return count

    # --- helpers ---------------------------------------------------------------------------

    async def _prepare(self, uid: str) -> None:
        """Create `uid` if missing (primary key `key`), then apply the settings."""
        try:
            index = await self.client.get_index(uid)
        except MeilisearchApiError as error:
            if error.code != "index_not_found":
                raise
            index = await self.client.create_index(
                uid, PRIMARY_KEY, timeout_in_ms=int(self.task_timeout * 1000)
            )
        if index.primary_key not in (None, PRIMARY_KEY):
            raise MeiliError(
                f"index {uid} has primary key {index.primary_key!r}, expected {PRIMARY_KEY!r}"
            )
        task = await index.update_settings(index_settings())
        await self._wait(task.task_uid)

    async def _add(self, uid: str, documents: Sequence[SearchDocument]) -> None:
        for chunk in _chunks(documents, BATCH):
            records = [to_record(document) for document in chunk]
            task = await self._index(uid).add_documents(records, primary_key=PRIMARY_KEY)
            await self._wait(task.task_uid)

    async def _drop(self, uid: str) -> None:
        """Delete `uid` if it exists."""
        try:
            task = await self._index(uid).delete()
        except MeilisearchApiError as error:
            if error.code == "index_not_found":
                return
            raise
        await self._wait(task.task_uid, missing_ok=True)

    async def _wait(
        self, task_uid: int, *, timeout: float | None = None, missing_ok: bool = False
    ) -> None:
        """Wait for a task; raise `MeiliError` unless it succeeded."""
        seconds = timeout or self.task_timeout
        try:
            result = await self.client.wait_for_task(
                task_uid, timeout_in_ms=int(seconds * 1000), interval_in_ms=20
            )
        except MeilisearchTimeoutError as timeout_error:
            raise MeiliError(
                f"Meilisearch task {task_uid} did not finish within {seconds:g}s"
            ) from timeout_error
        if result.status == "succeeded":
            return
        failure = result.error or {}
        if missing_ok and failure.get("code") == "index_not_found":
            return
        raise MeiliError(
            f"Meilisearch task {task_uid} ({result.task_type} on {result.index_uid}) "
            f"{result.status}: {failure.get('message') or 'no reason given'} "
            f"[{failure.get('code') or '-'}]"
        )
