"""Vietnamese-aware text helpers: NFC normalisation, diacritic folding and slugs.

Input arrives in both Unicode forms (macOS and some Vietnamese keyboards send NFD) and with
both tone-mark placements (`hoà` and `hòa`); everything stored goes through `nfc`, and
everything compared or put in a URL goes through `fold`, so all of them meet.
"""

from __future__ import annotations

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def nfc(s: str) -> str:
    """Return `s` in Unicode normalisation form C."""
    return unicodedata.normalize("NFC", s)


def fold(s: str) -> str:
    """Lower-case `s` and drop tone marks and diacritics, `đ` becoming `d`."""
    # `đ` is a letter of its own, not `d` plus a combining mark, so NFD does not split it.
    decomposed = unicodedata.normalize("NFD", s.lower().replace("đ", "d").replace("Đ", "d"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def slugify(s: str, max_length: int = 120) -> str:
    """Return a URL slug of `s` (`[a-z0-9-]`, at most `max_length` long), or "" if none."""
    slug = _NON_SLUG.sub("-", fold(s)).strip("-")
    if len(slug) <= max_length:
        return slug
    cut = slug[: max_length + 1]
    # Cut at the last word boundary that fits; a single over-long word is cut hard.
    boundary = cut.rfind("-")
    return (cut[:boundary] if boundary > 0 else slug[:max_length]).strip("-")
