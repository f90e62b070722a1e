"""The one Vietnamese normaliser of search, used for documents and queries on every backend.

Text is compared in its *folded* form: NFC, lower case, tone marks and diacritics removed,
`đ` → `d` (`services.common.text.fold`). So `Bảo hiểm`, `bao hiem`, `BẢO HIỂM`, old and new
tone placement (`hoà`/`hòa`) and NFD input (macOS keyboards) all meet.

Words are runs of letters and digits. A run of words joined by `/`, `-` or `.` that holds a
digit is also a *compound* — a legal document number (`3216/BHXH-TT`, `12/2024/NĐ-CP`), a
date or an amount — kept whole next to its parts, so `3216/bhxh-tt`, `3216` and `bhxh` all
find `3216/BHXH-TT`:

    >>> words("Công văn số 3216/BHXH-TT.")
    ['cong', 'van', 'so', '3216/bhxh-tt']
    >>> tokens("Công văn số 3216/BHXH-TT.")
    ['cong', 'van', 'so', '3216', 'bhxh', 'tt', '3216/bhxh-tt']

Typo tolerance follows Meilisearch's defaults, so both backends agree: no typo in words of
fewer than 5 letters, one from 5, two from 9; never in words with digits (numbers are exact).
"""

from __future__ import annotations

import re
import unicodedata

from services.common.text import fold

ONE_TYPO_FROM = 5
"""Words of at least this many characters tolerate one typo (Meilisearch's default)."""
TWO_TYPOS_FROM = 9
"""Words of at least this many characters tolerate two typos (Meilisearch's default)."""

# A word, or words joined by single separators: `3216/bhxh-tt`, `12/2024/nd-cp`, `1.000`.
_WORD_RUN = re.compile(r"[^\W_]+(?:[/.\-][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"\s+")
# Dashes and slashes people type in document numbers, and spaces around separators.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212_"
_NUMBER_DASHES = str.maketrans(dict.fromkeys(_DASHES, "-") | {"\\": "/"})
_SPACED_SEPARATOR = re.compile(r"\s*([/.\-])\s*")


def _one_to_one_table() -> tuple[list[str | None], str]:
    """A `str.translate` table equal to `fold` for every character that folds to one character.

    Vietnamese text in NFC is almost entirely made of such characters (Latin, Latin Extended
    Additional, general punctuation), so folding it is one C-speed `translate` instead of a
    Python loop, and offsets in the folded text are offsets in the original. The table is a
    list indexed by code point and lists every such character, identities included: lookups
    that miss cost an exception each inside `translate`.
    """
    table: list[str | None] = [None] * _TABLE_END
    safe: list[str] = []
    for lo, hi in _TABLE_RANGES:
        for cp in range(lo, hi):
            c = chr(cp)
            if unicodedata.combining(c) or unicodedata.category(c) == "Cs":
                continue
            folded = fold(c)
            if len(folded) == 1:
                table[cp] = folded
                safe.append(re.escape(c))
    return table, "".join(safe)


_TABLE_RANGES = ((0x00, 0x250), (0x1E00, 0x1F00), (0x2000, 0x2070), (0x20A0, 0x20C0))
_TABLE_END = 0x20C0
_FOLD_TABLE, _SAFE_CHARS = _one_to_one_table()
_UNSAFE = re.compile(f"[^{_SAFE_CHARS}]")


def is_one_to_one(text: str) -> bool:
    """Whether folding `text` maps each character to exactly one character.

    True for NFC Vietnamese; false for NFD input and for characters such as `ß` or `İ`.
    """
    return _UNSAFE.search(text) is None


def fold_one_to_one(text: str) -> str:
    """`fold(text)` for text that `is_one_to_one` accepted: one `translate` call."""
    return text.translate(_FOLD_TABLE)


def fold_text(text: str) -> str:
    """`fold(text)`, fast: identical result, one `translate` call for ordinary text."""
    if is_one_to_one(text):
        return text.translate(_FOLD_TABLE)
    return fold(text)


def normalize(text: str) -> str:
    """The folded form of `text`: NFC, lower case, no tone marks or diacritics, `đ` → `d`.

    Whitespace runs become one space; punctuation is kept (the tokenizer decides).
    """
    return _SPACES.sub(" ", fold_text(text)).strip()


def words(text: str) -> list[str]:
    """The folded words of `text`, each compound (`3216/bhxh-tt`) kept as one word.

    This is how a query is read: one entry per word a person typed. Joined words without a
    digit (`NĐ-CP`, `kinh-tế`) are not compounds and come out as their parts.
    """
    out: list[str] = []
    for word in _WORD_RUN.findall(_prepare(text)):
        if word.isalnum() or _DIGIT.search(word):
            out.append(word)
        else:
            out.extend(_PART.findall(word))
    return out


def _prepare(text: str) -> str:
    """Folded, with the dash variants and backslashes of document numbers unified."""
    return fold_text(text).translate(_NUMBER_DASHES)


def is_compound(word: str) -> bool:
    """Whether `word` (from `words`) is a compound such as a document number."""
    return not word.isalnum()


def parts(word: str) -> list[str]:
    """The plain words inside `word`: `3216/bhxh-tt` → `['3216', 'bhxh', 'tt']`."""
    return _PART.findall(word)


def split_words(text: str) -> tuple[list[str], list[str]]:
    """`text` as (plain words in order, compounds): what an index stores for a field.

    Plain words keep their positions (for phrases and snippets); compounds such as
    `3216/bhxh-tt` go beside them so a whole document number matches as one term.
    """
    runs = _WORD_RUN.findall(_prepare(text))
    if all(map(str.isalnum, runs)):  # the usual case: no joined words at all
        return runs, []
    plain: list[str] = []
    compounds: list[str] = []
    for word in words(text):
        if word.isalnum():
            plain.append(word)
        else:
            plain.extend(_PART.findall(word))
            compounds.append(word)
    return plain, compounds


def tokens(text: str) -> list[str]:
    """Every searchable token of `text`: each word's parts, then the compound itself.

    `12/2024/NĐ-CP` → `['12', '2024', 'nd', 'cp', '12/2024/nd-cp']`.
    """
    out: list[str] = []
    for word in words(text):
        if word.isalnum():
            out.append(word)
        else:
            out.extend(_PART.findall(word))
            out.append(word)
    return out


def number_key(text: str) -> str:
    """The canonical form of a document number, to compare numbers however they are typed.

    Folded, with dash variants unified to `-`, `\\` to `/`, spaces around separators and at
    the ends removed: `" 12 / 2024 / NĐ - CP "` (any dash) → `"12/2024/nd-cp"`,
    `3216/BHXH-TT` → `3216/bhxh-tt`.
    """
    folded = normalize(text.translate(_NUMBER_DASHES))
    return _SPACED_SEPARATOR.sub(r"\1", folded).strip(" /.-")


def allowed_typos(word: str) -> int:
    """How many typos a query word tolerates: 0 below 5 characters, 1 from 5, 2 from 9.

    Words holding a digit (numbers, document numbers) tolerate none.
    """
    if _DIGIT.search(word) or not word.isalnum():
        return 0
    if len(word) >= TWO_TYPOS_FROM:
        return 2
    if len(word) >= ONE_TYPO_FROM:
        return 1
    return 0


def last_word_is_prefix(query: str) -> bool:
    """Whether the last query word is still being typed (no space after it), as in Meilisearch."""
    return bool(query) and not query[-1].isspace()
