"""Pydantic field types shared by the services' API models."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints


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
