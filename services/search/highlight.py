"""Snippets and highlighted titles: the original text, its matches in `<mark>…</mark>`.

Matching happens on the folded form (`normalize.fold_text`), so the query `bao hiem` marks
`Bảo hiểm`, with the same rules as the search itself: whole words, the last query word as a
prefix while it is being typed, and typos (`normalize.allowed_typos`). What is shown is the
original text, HTML-escaped everywhere but the `<mark>` tags.

Folding keeps offsets for ordinary (NFC) Vietnamese text, where each character folds to one
character; for anything else (NFD input, `ß`…) an offset map is built character by
character, so a mark always covers the whole original letters, combining marks included.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from services.common.text import fold
from services.search.normalize import (
    allowed_typos,
    fold_one_to_one,
    is_compound,
    is_one_to_one,
    last_word_is_prefix,
    parts,
    words,
)

SNIPPET_WORDS = 30
"""How many words a body snippet shows around its best match."""
ELLIPSIS = "…"

_TOKEN = re.compile(r"[^\W_]+")
_WORD_CHAR = re.compile(r"[^\W_]")
# Marks on the parts of `3216/BHXH-TT` join into one mark.
_JOINABLE_GAP = frozenset("/-.")
# Cluster matches within this many folded characters (≈ 30 Vietnamese words).
_CLUSTER_CHARS = 160
_MAX_MATCHES = 500
# Long bodies are folded and scanned from the start in growing chunks, until every query word
# is found or the text ends: a snippet of a 20-page letter costs about as much as a short one.
_FIRST_CHUNK = 2_000
_CHUNK_GROWTH = 4
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Term:
    """One query word as matched against text: exact, prefix and typo rules."""

    text: str
    typos: int
    prefix: bool

    def matches(self, token: str) -> bool:
        if token == self.text:
            return True
        if self.prefix and token.startswith(self.text):
            return True
        if not self.typos:
            return False
        # A cheap necessary condition: each typo loses at most one letter of the word.
        head = token[: len(self.text) + self.typos] if self.prefix else token
        if len(set(self.text).difference(head)) > self.typos:
            return False
        if self.prefix:
            low = max(1, len(self.text) - self.typos)
            high = min(len(token), len(self.text) + self.typos)
            return any(
                _distance(token[:k], self.text, self.typos) <= self.typos
                for k in range(low, high + 1)
            )
        if abs(len(token) - len(self.text)) > self.typos:
            return False
        return _distance(token, self.text, self.typos) <= self.typos


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a transposition costs one), capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def query_terms(query: str) -> list[Term]:
    """The terms of `query` for highlighting; a document number contributes its parts."""
    query_words = words(query)
    prefix_last = last_word_is_prefix(query)
    terms: list[Term] = []
    for n, word in enumerate(query_words):
        last = prefix_last and n == len(query_words) - 1
        if is_compound(word):
            word_parts = parts(word)
            for m, part in enumerate(word_parts):
                terms.append(Term(part, 0, last and m == len(word_parts) - 1))
        else:
            terms.append(Term(word, allowed_typos(word), last))
    return terms


@dataclass(frozen=True)
class Snippet:
    html: str
    matched: int  # distinct query terms shown marked


@dataclass(frozen=True)
class _Matches:
    matches: list[tuple[int, int, int]]
    scanned_to: int  # folded offset up to which `matches` is complete


@dataclass(frozen=True)
class _Folded:
    """The start of `original` folded, and where each folded character comes from.

    `end` is the original offset the folded text reaches (all of it unless `complete` is
    false); `origin` is None when offsets are the same in both.
    """

    original: str
    folded: str
    origin: list[int] | None
    end: int

    @property
    def complete(self) -> bool:
        return self.end >= len(self.original)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        if self.origin is None:
            return start, min(end, self.end)
        o_start = self.origin[start] if start < len(self.origin) else self.end
        o_end = self.origin[end] if end < len(self.origin) else self.end
        return o_start, o_end


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    return fold(c)


def _fold(text: str, limit: int | None = None) -> _Folded:
    """Fold `text`, or its start up to the first whitespace after `limit` characters."""
    end = len(text)
    if limit is not None and limit < end:
        space = _SPACE.search(text, limit)
        end = space.start() if space else end
    source = text[:end] if end < len(text) else text
    if is_one_to_one(source):
        return _Folded(text, fold_one_to_one(source), None, end)
    chunks: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(source):
        f = _fold_char(c)
        if f:
            chunks.append(f)
            origin.extend([i] * len(f))
    return _Folded(text, "".join(chunks), origin, end)


class Highlighter:
    """Marks the matches of one query in any number of texts (verdicts are shared)."""

    def __init__(self, query: str) -> None:
        self.terms = query_terms(query)
        self._matching: dict[str, int] = {}  # token -> index of the term it matches
        self._judged: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._pattern_size = 0
        # Without typos the pattern alone finds every match: no need to list a text's words.
        self._exact_only = not any(term.typos for term in self.terms)

    def _judge(self, tokens: set[str]) -> None:
        """Record which of `tokens` match a term (the first term that matches wins)."""
        remaining = tokens
        for n, term in enumerate(self.terms):
            if not remaining:
                return
            found = [term.text] if term.text in remaining else []
            if term.prefix:
                found += [t for t in remaining if t.startswith(term.text)]
            if term.typos:
                low = len(term.text) - term.typos
                high = len(term.text) + term.typos
                found += [
                    t
                    for t in remaining
                    if (term.prefix or low <= len(t) <= high) and len(t) >= low and term.matches(t)
                ]
            if found:
                self._matching.update(dict.fromkeys(found, n))
                remaining = remaining.difference(found)

    def _compile(self) -> re.Pattern[str]:
        """One pattern for the words matching any term: the terms themselves (with any
        ending for a prefix) and the typo variants found so far, so it is compiled again
        only when a text brings a new typo, not for every text.
        """
        shapes = {re.escape(t.text) + (r"[^\W_]*" if t.prefix else "") for t in self.terms}
        typos = [token for token in self._matching if not self._plain_match(token)]
        # Longest first, so the alternation never stops at a shorter matching word.
        alternation = "|".join(sorted([*shapes, *map(re.escape, typos)], key=len, reverse=True))
        # No look-behind for the word's start: with one, the engine tries the pattern at
        # every character, five times slower; a match inside a word is skipped instead.
        return re.compile(rf"(?:{alternation})(?![^\W_])")

    def _term_of(self, token: str) -> int:
        """The index of the first term `token` matches (the pattern found it)."""
        term = self._matching.get(token)
        if term is None:  # only exact and prefix matches: typo matches were judged
            term = next(
                n
                for n, t in enumerate(self.terms)
                if t.text == token or (t.prefix and token.startswith(t.text))
            )
            self._matching[token] = term
        return term

    def _plain_match(self, token: str) -> bool:
        return any(token == t.text or (t.prefix and token.startswith(t.text)) for t in self.terms)

    def _matches(self, folded: str, *, first_cluster: bool = False) -> _Matches:
        """(start, end, term) of the matching words of `folded`, in order.

        With `first_cluster`, the scan stops once a stretch of `_CLUSTER_CHARS` holding
        every term has been seen and no stretch starting before it can still grow: the best
        cluster is then known (`_best_cluster` takes the first of the best), and a long
        text full of common words is not scanned to its end.
        """
        if not self.terms:
            return _Matches([], len(folded))
        if self._exact_only:
            if self._pattern is None:
                self._pattern = self._compile()
        else:
            present = set(_TOKEN.findall(folded))
            new = present.difference(self._judged)
            if new:
                self._judge(new)
                self._judged |= new
            if present.isdisjoint(self._matching):
                return _Matches([], len(folded))
            if self._pattern is None or self._pattern_size != len(self._matching):
                self._pattern = self._compile()
                self._pattern_size = len(self._matching)
        matching, wanted = self._matching, len(self.terms)
        out: list[tuple[int, int, int]] = []
        last: dict[int, int] = {}
        stop_after = -1
        for m in self._pattern.finditer(folded):
            start = m.start()
            if start and _WORD_CHAR.match(folded, start - 1):
                continue  # the end of a longer word
            if 0 <= stop_after < start:
                return _Matches(out, start)
            token = m.group()
            term = matching.get(token)
            if term is None:
                term = self._term_of(token)
            out.append((start, m.end(), term))
            if len(out) >= _MAX_MATCHES:
                return _Matches(out, m.end())
            if first_cluster and stop_after < 0:
                last[term] = start
                if len(last) == wanted and start - min(last.values()) <= _CLUSTER_CHARS:
                    stop_after = start + _CLUSTER_CHARS
        return _Matches(out, len(folded))

    def _more(self, folded: str, start: int, end: int) -> list[tuple[int, int, int]]:
        """The matches between `start` and `end` (after a scan stopped early)."""
        assert self._pattern is not None
        return [
            (m.start(), m.end(), self._term_of(m.group()))
            for m in self._pattern.finditer(folded, start, end)
            if not (m.start() and _WORD_CHAR.match(folded, m.start() - 1))
        ]

    def mark(self, text: str) -> str:
        """All of `text`, HTML-escaped, with every match in `<mark>`."""
        folded = _fold(text)
        return _render(folded, 0, len(folded.folded), self._matches(folded.folded).matches)

    def crop(self, text: str, words: int = SNIPPET_WORDS) -> Snippet:
        """About `words` words of `text` around its best match, HTML-escaped and marked.

        The best match is the stretch showing the most distinct query words; without any
        match the snippet is the beginning of the text.
        """
        limit = _FIRST_CHUNK
        while True:
            folded = _fold(text, limit)
            found = self._matches(folded.folded, first_cluster=True)
            matches = found.matches
            if folded.complete or len({m[2] for m in matches}) == len(self.terms):
                break
            limit *= _CHUNK_GROWTH
        if not matches:
            start, end = _window(folded.folded, 0, words)
            return Snippet(_render(folded, start, end, []), 0)
        anchor = _best_cluster(matches)
        start, end = _window(folded.folded, anchor, words)
        if found.scanned_to < end:
            matches = matches + self._more(folded.folded, found.scanned_to, end)
        shown = [m for m in matches if m[0] >= start and m[1] <= end]
        return Snippet(_render(folded, start, end, shown), len({m[2] for m in shown}))


def _best_cluster(matches: list[tuple[int, int, int]]) -> int:
    """Start of the first stretch of `_CLUSTER_CHARS` holding the most distinct terms."""
    counts: dict[int, int] = {}
    best_at, best = matches[0][0], 0
    j = 0
    for start, _, term in matches:
        while j < len(matches) and matches[j][0] - start <= _CLUSTER_CHARS:
            counts[matches[j][2]] = counts.get(matches[j][2], 0) + 1
            j += 1
        if len(counts) > best:
            best_at, best = start, len(counts)
        counts[term] -= 1
        if not counts[term]:
            del counts[term]
    return best_at


@lru_cache(maxsize=16)
def _words_after(words: int) -> re.Pattern[str]:
    return re.compile(rf"(?:[\W_]*[^\W_]+){{1,{words}}}")


def _window(folded: str, anchor: int, words: int) -> tuple[int, int]:
    """Folded offsets of about `words` words, the one at `anchor` a few words in."""
    lead_words = min(5, words // 4)
    start = anchor
    for _ in range(lead_words):
        space = folded.rfind(" ", 0, start - 1) if start > 1 else -1
        if space < 0:
            start = 0
            break
        start = space + 1
    if start > 0 and not folded[:start].strip():
        start = 0
    m = _words_after(words).match(folded, start)
    end = m.end() if m else len(folded)
    if _TOKEN.search(folded, end) is None:  # no word left: show the text to its end
        end = len(folded)
    return start, end


def _render(folded: _Folded, start: int, end: int, matches: list[tuple[int, int, int]]) -> str:
    """Original text between folded offsets `start` and `end`, matches marked, escaped."""
    spans: list[list[int]] = []
    for m_start, m_end, _ in matches:
        gap = folded.folded[spans[-1][1] : m_start] if spans else ""
        if spans and len(gap) <= 1 and set(gap) <= _JOINABLE_GAP:
            spans[-1][1] = m_end
        else:
            spans.append([m_start, m_end])
    o_start, o_end = folded.to_original(start, end)
    original = folded.original
    out: list[str] = [ELLIPSIS] if o_start > 0 and original[:o_start].strip() else []
    cursor = o_start
    for s, e in spans:
        a, b = folded.to_original(s, e)
        out.append(html.escape(original[cursor:a]))
        out.append(f"<mark>{html.escape(original[a:b])}</mark>")
        cursor = b
    out.append(html.escape(original[cursor:o_end]))
    if original[o_end:].strip():
        out.append(ELLIPSIS)
    return "".join(out)


def highlight(text: str, query: str) -> str:
    """`text` HTML-escaped with the matches of `query` in `<mark>` (titles)."""
    return Highlighter(query).mark(text)


def snippet(text: str, query: str, words: int = SNIPPET_WORDS) -> str:
    """About `words` words of `text` around the best match of `query`, marked and escaped."""
    return Highlighter(query).crop(text, words).html
