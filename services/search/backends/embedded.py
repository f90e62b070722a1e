"""The embedded backend: tantivy, with its index on disk, no server to run.

Layout under `path`: one directory per index build (`index-v<format>-<hex>`) and a `CURRENT` file
naming the live one. `replace_all` builds a new directory while the old one keeps answering,
then swaps by atomically replacing `CURRENT` and removes the old directory.

tantivy only sees text that `normalize` already folded, split on whitespace; the originals
live in one stored JSON field (`src`) used for hits and snippets. Per searchable field:

    text                    every searchable word (title, number, lead, body, tags…):
                            a query word is matched here, one posting list per word
    title / number          the words of the title and the number (attribute bonus)
    pairs_title / pairs_text  adjacent words as one term, `bao_hiem` (proximity)
    prefixes_title / _text  the one- and two-letter beginnings of the words (a typed prefix)
    codes_title / codes_text  compounds such as `3216/bhxh-tt` (see `normalize`)
    number_key              the document number's `number_key`, one raw term
    key, key_version        raw terms; `key\\0version` lets versions come from the term
                            dictionary instead of loading stored documents
    portal … locale, year   raw, fast: filters and facet aggregations
    published_at            fast date: sort by newest

Ranking follows Meilisearch's rules — words, typo, proximity, attribute, exactness — with
integer constant scores where each rule outweighs all later ones (see the weights below and
`_word_query`), and ranks bucket by bucket when the best documents fill the page
(`_Plan.buckets`). Every word must match; if no document matches them all, the documents
matching the most words are returned instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import tantivy

from services.common.text import nfc
from services.search.backends.counts import CountCache, Counts
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

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
# The layout of the fields below. An index written in another format is not opened: the
# backend starts an empty one and says so (`rebuild_needed`), and the service refills it.
INDEX_FORMAT = 2
_FACET_TEXT_FIELDS = ("portal", "type", "category", "doc_type", "issuer", "locale")
_MAX_TOKEN = 64
_FACET_SIZE = 100  # values returned per facet, as Meilisearch's maxValuesPerFacet
_TOTAL = "__total"  # the count beside the facets in one aggregation

# Constant scores, Meilisearch's rules in order (see `_word_query`): each query word scores
# its typo tier; each pair of adjacent query words found side by side adds _PAIR_BONUS
# (proximity); each word found in the title or the number adds _ATTRIBUTE_BONUS; the word
# being typed, found as typed, adds _EXACT_BONUS. A document number's match scores _NUMBER.
# All are integers, exact in tantivy's float32 sums, so every way of summing them agrees.
_NUMBER = 1_000_000.0
_TYPO_TIER = {0: 10_000.0, 1: 5_000.0, 2: 2_500.0}
_PAIR_BONUS = 100.0
_ATTRIBUTE_BONUS = 10.0
_EXACT_BONUS = 2.0
# Up to this many words, each rule outweighs all the rules after it together (checked in
# tests/search/test_embedded_buckets.py), so ranking can go bucket by bucket.
_BUCKET_WORDS = 8
_SUGGEST_OVERFETCH = 5
# Beginnings of words up to this length are indexed as terms of their own (as Meilisearch
# keeps the documents of frequent prefixes): `t` would otherwise expand to every word
# starting with `t`, and read all their posting lists, while the user types.
_SHORT_PREFIX = 2


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
    for name in ("pairs_title", "pairs_text", "prefixes_title", "prefixes_text"):
        b.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    b.add_text_field("number_key", tokenizer_name="raw", index_option="basic")
    b.add_bytes_field("src", stored=True)
    return b.build()


@dataclass(frozen=True)
class _Word:
    """One query word: the query that matches it, and the one that also scores it."""

    match: Any
    scored: Any
    # By number of typos (none; then one, if the word allows a typo): the word scored for
    # the documents matching it with that many typos, and for those of them that also have
    # it in the title or the number. Empty where buckets do not apply.
    best: tuple[Any, ...] = ()
    placed: tuple[Any, ...] = ()
    typed: str = ""  # the word as typed
    prefix: bool = False

    def fewest_typos(self, searcher: Any) -> int | None:
        """The fewest typos any document can match this word with, as far as the term
        dictionary tells cheaply: none if the word is there as typed, else one if it allows
        one (None if it does not: no bucket can fill).

        A word with a typo is usually in no document as typed: then its best documents
        are those matching it with one typo. Deleted documents' terms may still be listed,
        which only makes a bucket come out smaller, never wrong.
        """
        if not self.prefix:
            present = searcher.doc_freq("text", self.typed) > 0
        elif len(self.typed) <= _SHORT_PREFIX:
            present = searcher.doc_freq("prefixes_text", self.typed) > 0
        else:
            present = bool(searcher.terms_with_prefix("text", self.typed, None, 1))
        if present:
            return 0
        return 1 if len(self.best) > 1 else None


@dataclass(frozen=True)
class _Plan:
    """One search as tantivy queries: every word's query, the scoring extras, the filters."""

    words: list[_Word]
    extras: list[Any]
    filters: Any | None
    combine: Callable[[list[Any], int, list[Any], Any], Any]

    def matching(self, needed: int) -> Any:
        """The documents with `needed` of the words (all documents for an empty query).

        The scoring extras never change which documents match: facets go without them.
        """
        if not self.words:
            return self.filters if self.filters is not None else tantivy.Query.all_query()
        return self.combine([w.match for w in self.words], needed, [], self.filters)

    @property
    def has_buckets(self) -> bool:
        """Whether ranking may go bucket by bucket: up to `_BUCKET_WORDS` plain words.

        A document number or a number (whose match scores `_NUMBER`) turns it off.
        """
        return 0 < len(self.words) <= _BUCKET_WORDS and all(w.best for w in self.words)

    def buckets(self, typos: list[int]) -> list[Any]:
        """Queries for ever larger sets of the best documents, each ranked as the full query
        ranks them: every word with its fewest possible `typos` (usually none), side by side
        (if the query has pairs of whole words) and in the title or number; then side by
        side; then merely with those typos.

        No document can match a word with fewer typos than `typos` says, so every document
        outside a bucket ranks below every document in it (each rule outweighs all the later
        rules; without pairs, proximity is the same for all)."""
        Q, Occur = tantivy.Query, tantivy.Occur

        def build(words: list[Any], pairs: Any) -> Any:
            clauses = [(Occur.Must, q) for q in words]
            clauses += [(pairs, q) for q in self.extras]
            if self.filters is not None:
                clauses.append((Occur.Must, Q.const_score_query(self.filters, 0.0)))
            return Q.boolean_query(clauses)

        best = [w.best[n] for w, n in zip(self.words, typos, strict=True)]
        placed = [w.placed[n] for w, n in zip(self.words, typos, strict=True)]
        out = [build(placed, Occur.Must)]
        if self.extras:
            out.append(build(best, Occur.Must))
        return [*out, build(best, Occur.Should)]

    def scored(self, needed: int) -> Any:
        if not self.words:
            return self.matching(needed)
        return self.combine([w.scored for w in self.words], needed, self.extras, self.filters)


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
        self._counts = CountCache()  # (total, facets) per query, until the next write
        self.rebuild_needed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open the live index, creating an empty one the first time (idempotent)."""
        async with self._lock:
            if self._index is None:
                with self._counts.writing():
                    await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        current = self.path / CURRENT
        name = current.read_text().strip() if current.exists() else ""
        if name and (self.path / name).is_dir() and not name.startswith(_dir_prefix()):
            log.warning(
                "search index %s is in an older format; starting an empty one "
                "(it is refilled from content, or run `portal reindex`)",
                self.path / name,
            )
            self.rebuild_needed = True
            name = ""
        if not name or not (self.path / name).is_dir():
            name = self._new_dir_name()
            (self.path / name).mkdir()
            tantivy.Index(self._schema, path=str(self.path / name))
            self._point_to(name)
        for stale in self.path.glob("index-*"):  # a build that died half-way, an old format
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
        return f"{_dir_prefix()}{uuid.uuid4().hex}"

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
        prepared: list[tuple[str, Any]] = []
        async with self._lock:
            self._live()
            docs = self._prepared(documents, prepared)
            with self._counts.writing():
                await asyncio.to_thread(self._write, self._writer, self._index, docs, ())
            if self._replay is not None:
                self._replay.append(("upsert", prepared))

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove documents by key at once (hits and facets); unknown keys are ignored."""
        if not keys:
            return
        async with self._lock:
            self._live()
            with self._counts.writing():
                await asyncio.to_thread(self._write, self._writer, self._index, (), keys)
            if self._replay is not None:
                self._replay.append(("delete", list(keys)))

    async def clear(self) -> None:
        """Remove every document."""
        async with self._lock:
            self._live()
            with self._counts.writing():
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

    def _prepared(
        self, documents: Sequence[SearchDocument], keep: list[tuple[str, Any]]
    ) -> Iterator[tuple[str, Any]]:
        """Documents for tantivy, made one at a time as the writer takes them (in the
        writer's thread): tantivy indexes each on its own threads while Python makes the
        next one, instead of waiting for the whole batch. Each is also kept in `keep`."""
        for d in documents:
            item = self._to_tantivy(d)
            keep.append(item)
            yield item

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
        number = split_words(d.number)[0] if d.number else []
        doc.add_text("title", _join(title))
        # Every searchable word, so that matching a query word reads one posting list.
        every = [*title, *number, *text]
        doc.add_text("text", _join(every))
        doc.add_text("codes_title", _join(title_codes))
        doc.add_text("codes_text", _join(text_codes))
        doc.add_text("pairs_title", _pairs(title))
        doc.add_text("pairs_text", _pairs(text))
        doc.add_text("prefixes_title", _prefixes(title))
        doc.add_text("prefixes_text", _prefixes(every))
        if d.number:
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
                    docs = self._prepared(batch, [])
                    await asyncio.to_thread(_add_all, writer, docs)
                    count += len(batch)
                    if progress is not None:
                        progress(count)
                await asyncio.to_thread(writer.commit)
                async with self._lock:
                    await asyncio.to_thread(self._replay_onto, writer, index, self._replay)
                    old_writer, old_dir = self._writer, self.path / self._current_name()
                    with self._counts.writing():
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
        """Ranked hits, total and facet counts, from one consistent view of the index.

        tantivy releases the GIL while it searches and aggregates, so counting the matches
        (total and facets, one aggregation pass) runs in a second thread beside the ranked
        search and the (Python) snippets: a query costs the longer of the two, not their sum.
        """
        generation = self._counts.generation  # before the view: see `CountCache.put`
        searcher = self._live().searcher()
        plan = self._plan(query)
        everything = len(plan.words)
        tally = asyncio.ensure_future(
            self._tally_once(searcher, generation, plan, query, everything)
        )
        try:
            hits, count, needed = await asyncio.to_thread(self._ranked, searcher, plan, query)
            total, facets = await tally
        except BaseException:
            tally.cancel()
            raise
        if needed < everything:  # the fallback matched fewer words
            total, facets = await self._tally_once(searcher, generation, plan, query, needed)
        return SearchResults(hits=hits, total=count if count is not None else total, facets=facets)

    async def _tally_once(
        self, searcher: Any, generation: int, plan: _Plan, query: SearchQuery, needed: int
    ) -> Counts:
        """The counts of the documents with `needed` of the words, kept until the next write
        (pages of one query, and a portal's listing, count the same matches)."""
        key = (
            tuple(words(query.q)),
            last_word_is_prefix(query.q),
            query.filters,
            query.facets,
            needed,
        )
        counts = self._counts.get(key)
        if counts is None:
            matching = plan.matching(needed)
            counts = await asyncio.to_thread(self._tally, searcher, matching, query.facets)
            self._counts.put(key, generation, counts)
        return counts

    def _plan(self, query: SearchQuery) -> _Plan:
        query_words = words(query.q)
        prefix_last = last_word_is_prefix(query.q)
        plan_words = [
            self._word_query(w, prefix=prefix_last and n == len(query_words) - 1)
            for n, w in enumerate(query_words)
        ]
        extras = self._bonus_queries(query_words, prefix_last) if plan_words else []
        return _Plan(plan_words, extras, self._filter_query(query.filters), self._combine)

    def _ranked(
        self, searcher: Any, plan: _Plan, query: SearchQuery
    ) -> tuple[list[Hit], int | None, int]:
        """The page of hits, the total if this pass counted it, and how many query words
        the matches have."""
        offset = (max(query.page, 1) - 1) * query.per_page
        limit = max(query.per_page, 1)  # tantivy refuses a limit of 0
        order = "published_at" if query.sort is Sort.NEWEST or not plan.words else None

        def run(q: Any) -> Any:
            return searcher.search(q, limit, count=True, order_by_field=order, offset=offset)

        needed = len(plan.words)
        result, count = None, None
        typos = [w.fewest_typos(searcher) for w in plan.words] if plan.has_buckets else []
        if order is None and typos and None not in typos:
            # Meilisearch's bucket sort: when a bucket of the best documents fills the page,
            # nothing else can rank on it; the total comes from the count beside (`_tally`).
            for bucket in plan.buckets([n for n in typos if n is not None]):
                found = run(bucket)
                if found.count >= offset + limit:
                    result = found
                    break
        if result is None:
            result = run(plan.scored(needed))
            # No document has every word: fall back to those with the most words.
            while result.count == 0 and needed > 1:
                needed -= 1
                result = run(plan.scored(needed))
            count = result.count
        highlighter = Highlighter(query.q)
        hits = [
            _hit(json.loads(searcher.doc(address).get_first("src")), score, highlighter)
            for score, address in result.hits[: query.per_page]
        ]
        if order is not None:
            hits = [replace(h, score=0.0) for h in hits]
        return hits, count, needed

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
            self._word_query(w, prefix=prefix_last and n == len(query_words) - 1, body=False).scored
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

    def _word_query(self, word: str, *, prefix: bool, body: bool = True) -> _Word:
        """One query word: which documents it matches, and the score of its best match.

        A plain word matches in one field (`text`, which holds every searchable word;
        `title` for suggestions) with as many typos as it allows, so a query walks one
        posting list per word. Its score is built from constant-score tiers: the match
        itself scores the loosest tier, and optional clauses lift documents that match with
        fewer typos, exactly, in the title, or by document number. Optional clauses only
        look at the documents that already match, and mostly read short lists.
        """
        Q, s = tantivy.Query, self._schema
        if is_compound(word):
            return self._compound_query(word, prefix=prefix, body=body)
        field = "text" if body else "title"
        typos = allowed_typos(word)

        def within(target: str, distance: int) -> Any:
            if distance == 0 and not prefix:
                return Q.term_query(s, target, word)
            if distance == 0 and len(word) <= _SHORT_PREFIX and target in ("title", "text"):
                # One term for every word beginning with `word`, `word` itself included.
                return Q.term_query(s, f"prefixes_{target}", word)
            return Q.fuzzy_term_query(
                s, target, word, distance=distance, transposition_cost_one=True, prefix=prefix
            )

        base = _TYPO_TIER[typos] + (_EXACT_BONUS if typos == 0 and not prefix else 0.0)
        match = within(field, typos)
        typo_lifts: list[Any] = []
        lifts: list[Any] = []
        for fewer in range(typos - 1, -1, -1):  # fewer typos: the next tier up
            typo_lifts.append(
                Q.const_score_query(within(field, fewer), _TYPO_TIER[fewer] - _TYPO_TIER[fewer + 1])
            )
        if prefix:  # the whole word as typed beats a longer word it begins
            lifts.append(Q.const_score_query(Q.term_query(s, field, word), _EXACT_BONUS))
        attribute = None
        if body:
            if any(c.isdigit() for c in word):
                lifts.append(Q.const_score_query(Q.term_query(s, "number", word), _NUMBER))
                places = [within("title", typos)]
            else:
                places = [within("title", typos), within("number", 0)]
            attribute = Q.disjunction_max_query(
                [Q.const_score_query(q, _ATTRIBUTE_BONUS) for q in places]
            )
            lifts.append(attribute)

        def scoring(must: list[Any], optional: list[Any]) -> Any:
            return Q.boolean_query(
                [(tantivy.Occur.Must, q) for q in must]
                + [(tantivy.Occur.Should, q) for q in optional]
            )

        scored = scoring([Q.const_score_query(match, base)], [*typo_lifts, *lifts])
        if any(c.isdigit() for c in word) or attribute is None:
            return _Word(match, scored)
        # The buckets: without a typo, or with one when the word allows it (the typo tier
        # is the same for all); and also in the title or the number (the attribute bonus is
        # the same for all). A one-typo bucket scores every match at the one-typo tier, so
        # it is only ranked when no document has the word as typed (`fewest_typos`).
        other_lifts = [q for q in lifts if q is not attribute]
        best: list[Any] = []
        placed: list[Any] = []
        for n in range(min(typos, 1) + 1):
            tier = Q.const_score_query(within(field, n), base if n == typos else _TYPO_TIER[n])
            best.append(scoring([tier], lifts))
            placed.append(scoring([tier, attribute], other_lifts))
        return _Word(match, scored, tuple(best), tuple(placed), word, prefix)

    def _compound_query(self, word: str, *, prefix: bool, body: bool) -> _Word:
        """A word such as `3216/bhxh-tt`: the document number, the compound, its parts."""
        Q, s = tantivy.Query, self._schema
        subqueries: list[Any] = []

        def add(q: Any, score: float) -> None:
            subqueries.append(Q.const_score_query(q, score))

        def exact_and_prefix(field: str, score: float) -> None:
            add(Q.term_query(s, field, word), score + _EXACT_BONUS)
            if prefix:
                add(Q.fuzzy_term_query(s, field, word, distance=0, prefix=True), score)

        exact_and_prefix("number_key", _NUMBER)
        exact_and_prefix("codes_title", _TYPO_TIER[0] + _ATTRIBUTE_BONUS)
        if body:
            exact_and_prefix("codes_text", _TYPO_TIER[0])
            words_: list[str | tuple[int, str]] = list(parts(word))
            phrase = Q.phrase_prefix_query if prefix else Q.phrase_query
            add(phrase(s, "text", words_), _TYPO_TIER[0])
        query = Q.disjunction_max_query(subqueries)
        return _Word(query, query)

    def _bonus_queries(self, query_words: list[str], prefix_last: bool) -> list[Any]:
        """Optional scorers: proximity, from the pairs of adjacent query words.

        Like Meilisearch's proximity rule, it rewards documents where the query's words
        stand next to each other, pair by pair; the pairs are indexed as terms
        (`pairs_title`, `pairs_text`), so this costs a few term lookups instead of a phrase
        query over the positions of the most common words. The word being typed stays out.
        """
        Q, s = tantivy.Query, self._schema
        complete = query_words[:-1] if prefix_last else query_words
        pairs = [_pair(a, b) for a, b in itertools.pairwise(complete)]
        pairs = [p for p in pairs if p is not None]
        return [
            Q.disjunction_max_query(
                [
                    Q.const_score_query(Q.term_query(s, field, pair), _PAIR_BONUS)
                    for field in ("pairs_text", "pairs_title")
                ]
            )
            for pair in pairs
        ]

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
    def _tally(
        searcher: Any, query: Any, names: Sequence[str]
    ) -> tuple[int, dict[str, dict[str, int]]]:
        """How many documents match, and the value counts of each facet: one pass."""
        spec: dict[str, Any] = {
            name: {"terms": {"field": name, "size": _FACET_SIZE, "segment_size": 65_000}}
            for name in names
        }
        spec[_TOTAL] = {"value_count": {"field": "published_at"}}  # every document has one
        result = searcher.aggregate(query, spec)
        facets = {
            name: {str(b["key"]): int(b["doc_count"]) for b in result[name]["buckets"]}
            for name in names
        }
        return int(result[_TOTAL]["value"]), facets


def _dir_prefix() -> str:
    return f"index-v{INDEX_FORMAT}-"


def _add_all(writer: Any, docs: Iterable[tuple[str, Any]]) -> None:
    for key, doc in docs:
        writer.delete_documents_by_term("key", key)
        writer.add_document(doc)


def _join(tokens: list[str]) -> str:
    if not tokens or max(map(len, tokens)) <= _MAX_TOKEN:  # the usual case, at C speed
        return " ".join(tokens)
    return " ".join(t for t in tokens if len(t) <= _MAX_TOKEN)


def _pair(a: str, b: str) -> str | None:
    """The term of two adjacent words (`_` never occurs inside a word), if both are plain."""
    return f"{a}_{b}" if a.isalnum() and b.isalnum() else None


def _prefixes(tokens: list[str]) -> str:
    """The short beginnings of the words (see `_SHORT_PREFIX`), each once.

    `w[:2]` of a shorter word is the word itself, which is right: `x` begins `x`. The
    shorter beginnings are cut from the longest ones, a few dozen instead of every word.
    """
    heads = set(map(itemgetter(slice(0, _SHORT_PREFIX)), tokens))
    for n in range(_SHORT_PREFIX - 1, 0, -1):
        heads |= {head[:n] for head in heads}
    return " ".join(heads)


def _pairs(tokens: list[str]) -> str:
    return " ".join(map("_".join, itertools.pairwise(tokens)))


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
