"""The beacon a page sends: its shape, limits and what is kept of its URLs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeGuard
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.common.paths import PORTAL_ID_MAX, PORTAL_ID_MIN, SLUG_PATTERN, is_portal_id

MAX_URL = 2048
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def _absolute_http_url(value: str) -> str:
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError("not a URL") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if _BLANK_OR_CONTROL.search(value):
        raise ValueError("must not contain spaces or control characters")
    return value


def _optional_url(value: str | None) -> str | None:
    # `document.referrer` is "" when there is none.
    if value is None or not value.strip():
        return None
    return _absolute_http_url(value)


Url = Annotated[str, Field(min_length=1, max_length=MAX_URL), AfterValidator(_absolute_http_url)]
PortalId = Annotated[
    str, Field(min_length=PORTAL_ID_MIN, max_length=PORTAL_ID_MAX, pattern=SLUG_PATTERN)
]
Label = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Beacon(BaseModel):
    """`POST /v1/analytics/events`: one page view or one named event."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    portal: PortalId
    url: Url
    referrer: Annotated[
        str | None, Field(default=None, max_length=MAX_URL), AfterValidator(_optional_url)
    ] = None
    type: Literal["pageview", "event"] = "pageview"
    name: str | None = Field(default=None, min_length=1, max_length=100)
    screen_width: int | None = Field(default=None, ge=0, le=20_000)
    id: Label | None = Field(
        default=None, description="A random id per beacon: a retried beacon counts once."
    )
    article: Label | None = Field(default=None, description="The article shown, if any.")
    category: Label | None = Field(default=None, description="Its category, if any.")
    webdriver: bool = Field(default=False, description="`navigator.webdriver` on the page.")

    @model_validator(mode="after")
    def _event_has_a_name(self) -> Beacon:
        if self.type == "event" and not self.name:
            raise ValueError("an event needs a name")
        return self


_LABEL = re.compile(r"[A-Za-z0-9_.:-]+")
_FIELDS = frozenset(Beacon.model_fields)


def _plain(value: object, longest: int) -> TypeGuard[str]:
    """A string the model would keep as it is: no surrounding whitespace, 1..longest long."""
    return type(value) is str and 0 < len(value) <= longest and value == value.strip()


def _label(value: Any) -> bool:
    return value is None or (_plain(value, 64) and _LABEL.fullmatch(value) is not None)


@dataclass(frozen=True, slots=True)
class QuickBeacon:
    """A beacon `quick_beacon` accepted: the model's fields, without the model's cost."""

    portal: str
    url: str
    referrer: str | None
    type: Literal["pageview", "event"]
    name: str | None
    screen_width: int | None
    id: str | None
    article: str | None
    category: str | None
    webdriver: bool


def quick_beacon(body: bytes) -> QuickBeacon | None:
    """The beacon when `body` is plainly valid, else None: then `Beacon.model_validate_json`
    decides (and words the errors). Same result as the model for every body it accepts,
    at a fraction of the cost: one `json.loads` and the checks below. Anything unusual
    (coercions, escapes, surrounding whitespace, unknown fields) is left to the model."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\\u" in text:  # escapes may hide lone surrogates: the model rejects those
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if type(data) is not dict or not _FIELDS.issuperset(data):
        return None
    portal = data.get("portal")
    url = data.get("url")
    if not (_plain(portal, PORTAL_ID_MAX) and _plain(url, MAX_URL)) or not is_portal_id(portal):
        return None
    referrer = data.get("referrer")
    kind = data.get("type", "pageview")
    name = data.get("name")
    width = data.get("screen_width")
    webdriver = data.get("webdriver", False)
    if (
        (referrer is not None and not (type(referrer) is str and len(referrer) <= MAX_URL))
        or (kind != "pageview" and kind != "event")
        or (name is not None and not _plain(name, 100))
        or (kind == "event" and name is None)
        or (width is not None and not (type(width) is int and 0 <= width <= 20_000))
        or type(webdriver) is not bool
        or not (_label(data.get("id")) and _label(data.get("article")))
        or not _label(data.get("category"))
    ):
        return None
    try:
        url = _absolute_http_url(url)
        if referrer is not None:
            if referrer != referrer.strip():
                return None
            referrer = _optional_url(referrer)
    except ValueError:
        return None
    return QuickBeacon(
        portal,
        url,
        referrer,
        kind,
        name,
        width,
        data.get("id"),
        data.get("article"),
        data.get("category"),
        webdriver,
    )


def parse_beacon(body: bytes) -> Beacon | QuickBeacon:
    """The beacon in `body`; raises pydantic's ValidationError when it is not one."""
    return quick_beacon(body) or Beacon.model_validate_json(body)


def page_path(url: str) -> str:
    """What a report shows of a page URL: its path, without query or fragment (they carry
    session tokens and search terms), at most 1024 characters."""
    path = urlsplit(url).path or "/"
    return path[:1024]


def referrer_host(referrer: str | None, page_url: str) -> str | None:
    """The referring host, or None when there is none or it is the site itself."""
    if not referrer:
        return None
    host = (urlsplit(referrer).hostname or "").lower().removeprefix("www.")
    own = (urlsplit(page_url).hostname or "").lower().removeprefix("www.")
    if not host or host == own:
        return None
    return host[:255]
