"""The embedded backend: tantivy, with its index on disk, no server to run.

Layout under `path`: one directory per index build (`index-<hex>`) and a `CURRENT` file
naming the live one. `replace_all` builds a new directory while the old one keeps answering,
then swaps by atomically replacing `CURRENT` and removes the old directory.

tantivy only sees text that `normalize` already folded, split on whitespace; the originals
live in one stored JSON field (`src`) used for hits and snippets. Per searchable field:

    title / text / number   plain folded words, with positions (phrases)
    codes_title / codes_text  compounds such as `3216/bhxh-tt` (see `normalize`)
    number_key              the document number's `number_key`, one raw term
    key, key_version        raw terms; `key\\0version` lets versions come from the term
                            dictionary instead of loading stored documents
    portal … locale, year   raw, fast: filters and facet aggregations
    published_at            fast date: sort by newest

Ranking mimics Meilisearch's bucket sort with constant scores (see `_word_query`): each query
word scores the best of its matches (document number ≫ no typo ≫ one typo ≫ two typos,
title above body, exact above prefix), a document's score is the sum over words plus a
phrase bonus and a tiny BM25 tie-break. Every word must match; if no document matches them
all, the documents matching the most words are returned instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tantivy

from services.common.text import nfc
from services.search.highlight import Highlighter
from services.search.model import (
    Filters,
    Hit,
    SearchDocument,
    SearchQuery,
    SearchResults,
    Sort,
    Suggestion,
)
from services.search.normalize import (
    allowed_typos,
    is_compound,
    last_word_is_prefix,
    number_key,
    parts,
    split_words,
    words,
)

CURRENT = "CURRENT"
_FACET_TEXT_FIELDS = ("portal", "type", "category", "doc_type", "issuer", "locale")
_MAX_TOKEN = 64
_FACET_SIZE = 100  # values returned per facet, as Meilisearch's maxValuesPerFacet

# Constant scores of one word's best match; see the module docstring.
_NUMBER = 100_000.0
_TYPO_TIER = {0: 1000.0, 1: 500.0, 2: 250.0}
_TITLE_BONUS = 10.0
_EXACT_BONUS = 2.0
_PHRASE_BONUS = 50.0
_BM25_WEIGHT = 0.01
_SUGGEST_OVERFETCH = 5


def _schema() -> Any:
    b = tantivy.SchemaBuilder()
    b.add_text_field("key", tokenizer_name="raw", index_option="basic")
    b.add_text_field("key_version", tokenizer_name="raw", index_option="basic")
    for name in _FACET_TEXT_FIELDS:
        b.add_text_field(name, tokenizer_name="raw", fast=True, index_option="basic")
    b.add_integer_field("year", indexed=True, fast=True)
    b.add_date_field("published_at", indexed=True, fast=True)
    for name in ("title", "text", "number"):
        b.add_text_field(name, tokenizer_name="whitespace")
    for name in ("codes_title", "codes_text"):
        b.add_text_field(name, tokenizer_name="whitespace", index_option="freq")
    b.add_text_field("number_key", tokenizer_name="raw", index_option="basic")
    b.add_bytes_field("src", stored=True)
    return b.build()


class EmbeddedBackend:
    """`SearchBackend` on a tantivy index under `path` (the service passes `data_dir/search`)."""

    def __init__(self, path: Path, *, writer_heap: int = 128_000_000, writer_threads: int = 0):
        self.path = Path(path)
        self._writer_heap = writer_heap
        self._writer_threads = writer_threads
        self._schema = _schema()
        self._index: Any = None
        self._writer: Any = None
        self._lock = asyncio.Lock()  # one writer per index
        self._rebuild_lock = asyncio.Lock()
        self._replay: list[tuple[str, Any]] | None = None  # writes during replace_all

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open the live index, creating an empty one the first time (idempotent)."""
        async with self._lock:
            if self._index is None:
                await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        current = self.path / CURRENT
        name = current.read_text().strip() if current.exists() else ""
        if not name or not (self.path / name).is_dir():
            name = self._new_dir_name()
            (self.path / name).mkdir()
            tantivy.Index(self._schema, path=str(self.path / name))
            self._point_to(name)
        for stale in self.path.glob("index-*"):  # a build that died half-way
            if stale.name != name:
                shutil.rmtree(stale, ignore_errors=True)
        self._index = tantivy.Index(self._schema, path=str(self.path / name), reuse=True)
        self._writer = self._index.writer(self._writer_heap, self._writer_threads)

    async def close(self) -> None:
        async with self._lock:
            writer, self._writer, self._index = self._writer, None, None
            if writer is not None:
                await asyncio.to_thread(writer.wait_merging_threads)

    @staticmethod
    def _new_dir_name() -> str:
        return f"index-{uuid.uuid4().hex}"

    def _point_to(self, name: str) -> None:
        tmp = self.path / f"{CURRENT}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.path / CURRENT)

    def _live(self) -> Any:
        if self._index is None:
            raise RuntimeError("EmbeddedBackend.open() was not awaited")
        return self._index

    # -- writes ------------------------------------------------------------------------

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        """Add or replace documents by key, in one commit; visible to the next search."""
        if not documents:
            return
        prepared = [self._to_tantivy(d) for d in documents]
        async with self._lock:
            self._live()
            await asyncio.to_thread(self._write, self._writer, self._index, prepared, ())
            if self._replay is not None:
                self._replay.append(("upsert", prepared))

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove documents by key at once (hits and facets); unknown keys are ignored."""
        if not keys:
            return
        async with self._lock:
            self._live()
            await asyncio.to_thread(self._write, self._writer, self._index, (), keys)
            if self._replay is not None:
                self._replay.append(("delete", list(keys)))

    async def clear(self) -> None:
        """Remove every document."""
        async with self._lock:
            self._live()
            await asyncio.to_thread(self._clear)
            if self._replay is not None:
                self._replay.append(("clear", None))

    def _clear(self) -> None:
        self._writer.delete_all_documents()
        self._writer.commit()
        self._index.reload()

    @staticmethod
    def _write(
        writer: Any, index: Any, docs: Iterable[tuple[str, Any]], keys: Iterable[str]
    ) -> None:
        for key in keys:
            writer.delete_documents_by_term("key", key)
        for key, doc in docs:
            writer.delete_documents_by_term("key", key)
            writer.add_document(doc)
        writer.commit()
        index.reload()

    def _to_tantivy(self, d: SearchDocument) -> tuple[str, Any]:
        doc = tantivy.Document()
        doc.add_text("key", d.key)
        doc.add_text("key_version", f"{d.key}\0{d.version}")
        values = {
            "portal": d.portal,
            "type": str(d.type),
            "category": d.category,
            "doc_type": d.doc_type,
            "issuer": d.issuer,
            "locale": d.locale,
        }
        for name, value in values.items():
            if value:
                doc.add_text(name, nfc(value))
        if d.year is not None:
            doc.add_integer("year", d.year)
        doc.add_date("published_at", _utc(d.published_at))
        title, title_codes = split_words(d.title)
        extra = " ".join([d.lead, d.body, *d.tags, d.doc_type or "", d.issuer or ""])
        text, text_codes = split_words(extra)
        doc.add_text("title", _join(title))
        doc.add_text("text", _join(text))
        doc.add_text("codes_title", _join(title_codes))
        doc.add_text("codes_text", _join(text_codes))
        if d.number:
            number, _ = split_words(d.number)
            doc.add_text("number", _join(number))
            doc.add_text("number_key", number_key(d.number))
        doc.add_bytes("src", json.dumps(_source(d), ensure_ascii=False).encode())
        return d.key, doc

    async def replace_all(
        self,
        batches: AsyncIterator[Sequence[SearchDocument]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Build a new index directory from `batches`, then swap it in atomically.

        The live index keeps answering (and taking writes, replayed onto the new one before
        the swap) during the build; if the build fails, the new directory is removed.
        """
        async with self._rebuild_lock:
            self._live()
            name = self._new_dir_name()
            new_path = self.path / name
            new_path.mkdir()
            index: Any = None
            writer: Any = None
            self._replay = []
            try:
                index = tantivy.Index(self._schema, path=str(new_path))
                writer = index.writer(self._writer_heap, self._writer_threads)
                count = 0
                async for batch in batches:
                    prepared = [self._to_tantivy(d) for d in batch]
                    await asyncio.to_thread(_add_all, writer, prepared)
                    count += len(prepared)
                    if progress is not None:
                        progress(count)
                await asyncio.to_thread(writer.commit)
                async with self._lock:
                    await asyncio.to_thread(self._replay_onto, writer, index, self._replay)
                    old_writer, old_dir = self._writer, self.path / self._current_name()
                    self._point_to(name)
                    self._index, self._writer = index, writer
                    self._replay = None
                total: int = index.searcher().num_docs
            except BaseException:
                self._replay = None
                if writer is not None and self._writer is not writer:
                    await asyncio.to_thread(writer.rollback)
                    await asyncio.to_thread(writer.wait_merging_threads)
                if self._index is not index:
                    shutil.rmtree(new_path, ignore_errors=True)
                raise
            await asyncio.to_thread(old_writer.wait_merging_threads)
            await asyncio.to_thread(shutil.rmtree, old_dir, True)
            return total

    def _current_name(self) -> str:
        return (self.path / CURRENT).read_text().strip()

    def _replay_onto(self, writer: Any, index: Any, ops: list[tuple[str, Any]]) -> None:
        for op, payload in ops:
            if op == "upsert":
                self._write(writer, index, payload, ())
            elif op == "delete":
                self._write(writer, index, (), payload)
            else:
                writer.delete_all_documents()
        writer.commit()
        index.reload()

    # -- reads -------------------------------------------------------------------------

    async def versions(self, keys: Sequence[str]) -> dict[str, int]:
        """The indexed version of each present key, read from the term dictionary."""
        index = self._live()
        return await asyncio.to_thread(self._versions, index, list(keys))

    @staticmethod
    def _versions(index: Any, keys: list[str]) -> dict[str, int]:
        searcher = index.searcher()
        live = tantivy.Query.all_query()
        out: dict[str, int] = {}
        for key in keys:
            for term, _ in searcher.terms_with_prefix("key_version", f"{key}\0", live):
                out[key] = int(term.rpartition("\0")[2])
        return out

    async def all_keys(self) -> dict[str, int]:
        """Every indexed key with its version."""
        index = self._live()

        def run() -> dict[str, int]:
            terms = index.searcher().terms_with_prefix("key_version", "", tantivy.Query.all_query())
            pairs = (term.rpartition("\0") for term, _ in terms)
            return {key: int(version) for key, _, version in pairs}

        return await asyncio.to_thread(run)

    async def search(self, query: SearchQuery) -> SearchResults:
        index = self._live()
        return await asyncio.to_thread(self._search, index, query)

    def _search(self, index: Any, query: SearchQuery) -> SearchResults:
        searcher = index.searcher()
        filters = self._filter_query(query.filters)
        query_words = words(query.q)
        prefix_last = last_word_is_prefix(query.q)
        word_queries = [
            self._word_query(w, prefix=prefix_last and n == len(query_words) - 1)
            for n, w in enumerate(query_words)
        ]
        offset = (max(query.page, 1) - 1) * query.per_page
        limit = max(query.per_page, 1)  # tantivy refuses a limit of 0
        order = "published_at" if query.sort is Sort.NEWEST or not word_queries else None

        def run(q: Any) -> Any:
            return searcher.search(q, limit, count=True, order_by_field=order, offset=offset)

        if not word_queries:
            matching = filters if filters is not None else tantivy.Query.all_query()
            result = run(matching)
        else:
            extras = self._bonus_queries(query_words, prefix_last)
            needed = len(word_queries)
            result = run(self._combine(word_queries, needed, extras, filters))
            # No document has every word: fall back to those with the most words.
            while result.count == 0 and needed > 1:
                needed -= 1
                result = run(self._combine(word_queries, needed, extras, filters))
            # The scoring extras never change which documents match: facets go without them.
            matching = self._combine(word_queries, needed, [], filters)
        highlighter = Highlighter(query.q)
        hits = [
            _hit(json.loads(searcher.doc(address).get_first("src")), score, highlighter)
            for score, address in result.hits[: query.per_page]
        ]
        if order is not None:
            hits = [replace(h, score=0.0) for h in hits]
        facets = self._facets(searcher, matching, query.facets) if query.facets else {}
        return SearchResults(hits=hits, total=result.count, facets=facets)

    async def suggest(self, prefix: str, filters: Filters, limit: int) -> list[Suggestion]:
        """Title completions: every word in the title, the last one as a prefix."""
        index = self._live()
        return await asyncio.to_thread(self._suggest, index, prefix, filters, limit)

    def _suggest(self, index: Any, prefix: str, filters: Filters, limit: int) -> list[Suggestion]:
        query_words = words(prefix)
        if not query_words or limit <= 0:
            return []
        prefix_last = last_word_is_prefix(prefix)
        word_queries = [
            self._word_query(w, prefix=prefix_last and n == len(query_words) - 1, body=False)
            for n, w in enumerate(query_words)
        ]
        full = self._combine(word_queries, len(word_queries), [], self._filter_query(filters))
        searcher = index.searcher()
        result = searcher.search(full, limit * _SUGGEST_OVERFETCH, count=False)
        found = [(score, json.loads(searcher.doc(a).get_first("src"))) for score, a in result.hits]
        # Best tier first (the BM25-free scores are round numbers), newest within a tier.
        found.sort(key=lambda sf: (-round(sf[0]), _neg_time(sf[1])))
        seen: set[str] = set()
        out: list[Suggestion] = []
        for _, src in found:
            folded = " ".join(words(src["title"]))
            if folded in seen:
                continue
            seen.add(folded)
            out.append(Suggestion(src["title"], src["url"], src["type"], src["portal"]))
            if len(out) == limit:
                break
        return out

    # -- query building ----------------------------------------------------------------

    def _word_query(self, word: str, *, prefix: bool, body: bool = True) -> Any:
        """One query word: the best-scoring of its possible matches (constant scores)."""
        Q, s = tantivy.Query, self._schema
        subqueries: list[Any] = []

        def add(q: Any, score: float) -> None:
            subqueries.append(Q.const_score_query(q, score))

        def exact_and_prefix(field: str, text: str, score: float) -> None:
            add(Q.term_query(s, field, text), score + _EXACT_BONUS)
            if prefix:
                add(Q.fuzzy_term_query(s, field, text, distance=0, prefix=True), score)

        if is_compound(word):
            add(Q.term_query(s, "number_key", word), _NUMBER + _EXACT_BONUS)
            if prefix:
                add(Q.fuzzy_term_query(s, "number_key", word, distance=0, prefix=True), _NUMBER)
            exact_and_prefix("codes_title", word, _TYPO_TIER[0] + _TITLE_BONUS)
            if body:
                exact_and_prefix("codes_text", word, _TYPO_TIER[0])
                words_: list[str | tuple[int, str]] = list(parts(word))
                phrase = Q.phrase_prefix_query if prefix else Q.phrase_query
                add(phrase(s, "text", words_), _TYPO_TIER[0])
            return Q.disjunction_max_query(subqueries)
        if any(c.isdigit() for c in word):
            add(Q.term_query(s, "number", word), _NUMBER)
        else:
            exact_and_prefix("number", word, _TYPO_TIER[0] + _TITLE_BONUS)
        fields = [("title", _TITLE_BONUS), ("text", 0.0)] if body else [("title", _TITLE_BONUS)]
        for field, bonus in fields:
            exact_and_prefix(field, word, _TYPO_TIER[0] + bonus)
            for typos in range(1, allowed_typos(word) + 1):
                fuzzy = Q.fuzzy_term_query(
                    s, field, word, distance=typos, transposition_cost_one=True, prefix=prefix
                )
                add(fuzzy, _TYPO_TIER[typos] + bonus)
        return Q.disjunction_max_query(subqueries)

    def _bonus_queries(self, query_words: list[str], prefix_last: bool) -> list[Any]:
        """Optional scorers: the complete words as a phrase, and BM25 as a tie-break.

        The word being typed stays out of the phrase: a phrase prefix expands to every term
        with that prefix, which costs more than the whole rest of the query.
        """
        Q, s = tantivy.Query, self._schema
        complete = query_words[:-1] if prefix_last else query_words
        plain: list[str | tuple[int, str]] = [w for w in complete if w.isalnum()]
        extras: list[Any] = []
        if len(plain) == len(complete) >= 2:
            for field, bonus in (("title", _TITLE_BONUS), ("text", 0.0)):
                phrase = Q.phrase_query(s, field, plain)
                extras.append(Q.const_score_query(phrase, _PHRASE_BONUS + bonus))
        tie_break = [
            Q.term_query(s, f, w) for w in query_words if w.isalnum() for f in ("title", "text")
        ]
        if tie_break:
            bm25 = Q.boolean_query([(tantivy.Occur.Should, q) for q in tie_break])
            extras.append(Q.boost_query(bm25, _BM25_WEIGHT))
        return extras

    @staticmethod
    def _combine(word_queries: list[Any], needed: int, extras: list[Any], filters: Any) -> Any:
        Q, Occur = tantivy.Query, tantivy.Occur
        if needed >= len(word_queries):
            clauses = [(Occur.Must, q) for q in word_queries]
            matching = Q.boolean_query(clauses)
        else:
            clauses = [(Occur.Should, q) for q in word_queries]
            matching = Q.boolean_query(clauses, needed)
        top = [(Occur.Must, matching)] + [(Occur.Should, q) for q in extras]
        if filters is not None:
            top.append((Occur.Must, Q.const_score_query(filters, 0.0)))
        return Q.boolean_query(top)

    def _filter_query(self, filters: Filters) -> Any | None:
        """`Filters` as a tantivy query (a conjunction of term sets), or None if empty."""
        Q, s = tantivy.Query, self._schema
        clauses = [
            (tantivy.Occur.Must, Q.term_set_query(s, name, [nfc(v) for v in values]))
            for name in _FACET_TEXT_FIELDS
            if (values := getattr(filters, name))
        ]
        if filters.year:
            clauses.append((tantivy.Occur.Must, Q.term_set_query(s, "year", list(filters.year))))
        return Q.boolean_query(clauses) if clauses else None

    @staticmethod
    def _facets(searcher: Any, query: Any, names: Sequence[str]) -> dict[str, dict[str, int]]:
        """Value counts of each facet over every matching document (one aggregation pass)."""
        spec = {
            name: {"terms": {"field": name, "size": _FACET_SIZE, "segment_size": 65_000}}
            for name in names
        }
        result = searcher.aggregate(query, spec)
        return {
            name: {str(b["key"]): int(b["doc_count"]) for b in result[name]["buckets"]}
            for name in names
        }


def _add_all(writer: Any, docs: list[tuple[str, Any]]) -> None:
    for key, doc in docs:
        writer.delete_documents_by_term("key", key)
        writer.add_document(doc)


def _join(tokens: list[str]) -> str:
    if not tokens or max(map(len, tokens)) <= _MAX_TOKEN:  # the usual case, at C speed
        return " ".join(tokens)
    return " ".join(t for t in tokens if len(t) <= _MAX_TOKEN)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _neg_time(src: dict[str, Any]) -> float:
    return -datetime.fromisoformat(src["published_at"]).timestamp()


def _source(d: SearchDocument) -> dict[str, Any]:
    return {
        "key": d.key,
        "id": d.id,
        "type": str(d.type),
        "portal": d.portal,
        "title": nfc(d.title),
        "url": d.url,
        "published_at": _utc(d.published_at).isoformat(),
        "version": d.version,
        "lead": nfc(d.lead),
        "body": nfc(d.body),
        "category": d.category,
        "number": d.number,
        "doc_type": d.doc_type,
        "issuer": d.issuer,
    }


def _hit(src: dict[str, Any], score: float, highlighter: Highlighter) -> Hit:
    # One crop over lead and body together: the best stretch wherever it is, for one pass.
    text = "\n".join(part for part in (src["lead"], src["body"]) if part)
    best = highlighter.crop(text) if text else None
    return Hit(
        key=src["key"],
        id=src["id"],
        type=src["type"],
        portal=src["portal"],
        title=src["title"],
        url=src["url"],
        published_at=datetime.fromisoformat(src["published_at"]),
        snippet=best.html if best is not None else "",
        title_highlighted=highlighter.mark(src["title"]),
        number=src["number"],
        doc_type=src["doc_type"],
        issuer=src["issuer"],
        category=src["category"],
        score=float(score),
    )
