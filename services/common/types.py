"""Pydantic field types shared by the services' API models."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, AwareDatetime, StringConstraints, UrlConstraints
from pydantic_core import PydanticCustomError


def _nfc(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here (422), not in the database (500).
    if "\x00" in value:
        raise ValueError("the text contains a NUL character")
    return unicodedata.normalize("NFC", value)


def _nfc_strip(value: str) -> str:
    return _nfc(value).strip()


Nfc = Annotated[str, AfterValidator(_nfc)]
"""Any text: normalised to NFC so `hoà` typed on two keyboards is one string."""

NfcLine = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_nfc_strip)]
"""A one-line text, NFC and stripped."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise ValueError("the time is out of range once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A time that states its zone (a 422 otherwise), converted to UTC."""

UtcQueryDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A time in a query string, converted to UTC; one without a zone is taken as UTC."""


HttpUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]
"""A link stored for others to follow: absolute `http://` or `https://` only (any case), so
`javascript:`, `data:`, `vbscript:` and relative references are a 422 (`url_scheme`,
`url_parsing`)."""

# What a browser takes for a URL's scheme (WHATWG URL): leading controls and spaces are
# dropped and tabs and newlines removed anywhere, so "\tjava\nscript:" is "javascript:".
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


# Schemes a browser runs or renders as a document of its own when followed as a link.
_ACTIVE_SCHEMES = frozenset({"javascript", "vbscript", "livescript", "data", "blob", "file"})


def _no_foreign_scheme(value: str) -> str:
    probe = re.sub(r"[\t\n\r]", "", value).lstrip(_C0_AND_SPACE)
    found = _SCHEME.match(probe)
    if found is None:
        return value
    scheme = found.group(1).lower()
    if scheme in ("http", "https"):
        return value
    # "Theo: Báo Nhân Dân" is a name (a word, a colon, a space); "ftp://x" or "mailto:x" is
    # a link of another scheme, and "javascript: alert(1)" runs whatever follows it.
    if scheme in _ACTIVE_SCHEMES or not any(c.isspace() for c in probe):
        raise PydanticCustomError(
            "link_scheme", "a link must use http or https; write a name without 'word:'"
        )
    return value


TextOrHttpLink = Annotated[NfcLine, AfterValidator(_no_foreign_scheme)]
"""A one-line text that a page may show as a link when it is one (an article's `source`:
"BHXH Phú Yên" or "https://baophuyen.vn/..."): when it starts with a scheme, the scheme is
http or https."""
