"""Bilingual messages: Vietnamese first, English second.

Every message a person reads (problem details, standards errors) is a `Msg` pair; the
problem handler picks one by the request's `Accept-Language`, Vietnamese by default.
"""

from __future__ import annotations

from typing import NamedTuple


class Msg(NamedTuple):
    """A message in Vietnamese and English."""

    vi: str
    en: str

    def format(self, **values: object) -> Msg:
        return Msg(self.vi.format(**values), self.en.format(**values))

    def pick(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


def negotiate_language(accept_language: str | None) -> str:
    """Return "vi" or "en" from an Accept-Language header (q-values honoured)."""
    if not accept_language:
        return "vi"
    best, best_q = "vi", -1.0
    for part in accept_language.split(","):
        token, _, params = part.strip().partition(";")
        tag = token.strip().lower().split("-")[0]
        if tag not in {"vi", "en"}:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = tag, q
    return best
