"""Pydantic field types shared by the services' API models."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _nfc_strip(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


Nfc = Annotated[str, AfterValidator(_nfc)]
"""Any text: normalised to NFC so `hoà` typed on two keyboards is one string."""

NfcLine = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_nfc_strip)]
"""A one-line text, NFC and stripped."""
