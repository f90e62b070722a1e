"""Ids and slugs in a URL path, checked before any use: one that cannot exist is a 404.

A path parameter reaches SQL, caches, log lines and, in analytics, the URL of a request to
another service. Unchecked, `/v1/analytics/portals/phu-yen%3Fx=1/counter` put a query string
into the request analytics made to content (`/v1/portals/phu-yen?x=1`), `%19x` and `.`
made it fail with a 500. Every service therefore declares its path parameters with the
types below instead of `str`:

    PortalPath      a portal id: 2-64 of `a-z 0-9`, words joined by single hyphens (phu-yen)
    SlugPath        an item's slug: the same alphabet, at most 140 characters
    ItemIdPath      content's ids (items, categories, users) and media ids: 32 lower-case
    CategoryIdPath  hexadecimal digits (uuid4().hex)
    UserIdPath
    MediaIdPath

A value that does not fit names nothing that can exist, so the answer is what an unknown
one gets: **404** (`not-found`), with a message saying what such an id looks like, and not
422 (there is no input to correct: there is nothing at that address). A NUL character is
the one exception: 400, as everywhere else in a path or query (`deps.reject_nul_bytes`).
The check is a dependency, so it runs before the endpoint, before any other use of the value,
and before a request body is read.

The same rules are used where these ids are created (content's `PortalId`, the beacon's
`portal`), so a portal that can be created can always be addressed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path

from services.common.deps import NUL_IN_REQUEST
from services.common.errors import BadRequest, NotFound
from services.common.i18n import Msg

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
PORTAL_ID_MIN, PORTAL_ID_MAX = 2, 64
SLUG_MAX = 140  # 120 chosen or folded from the title, and a "-N" suffix when taken
HEX_ID_PATTERN = r"^[0-9a-f]{32}$"
ECHOED = 64  # characters of a refused value repeated in the message


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    min_length: int
    max_length: int
    message: Msg  # formatted with {value}

    def check(self, value: str) -> str:
        if "\x00" in value:
            raise BadRequest(NUL_IN_REQUEST)
        if not (self.min_length <= len(value) <= self.max_length and self.pattern.fullmatch(value)):
            shown = "".join(c if c.isprintable() else "\ufffd" for c in value[:ECHOED])
            raise NotFound(self.message.format(value=shown))
        return value

    def schema(self) -> dict[str, object]:
        """Documented in OpenAPI; enforced by `check` (FastAPI would answer 422)."""
        return {
            "pattern": self.pattern.pattern,
            "minLength": self.min_length,
            "maxLength": self.max_length,
        }


def _hex_id(vi: str, en: str) -> _Rule:
    return _Rule(
        re.compile(HEX_ID_PATTERN),
        32,
        32,
        Msg(
            f"Không có {vi} '{{value}}': mã là 32 chữ số thập lục phân (0-9, a-f).",
            f"There is no {en} '{{value}}': an id is 32 hexadecimal digits (0-9, a-f).",
        ),
    )


PORTAL_ID = _Rule(
    re.compile(SLUG_PATTERN),
    PORTAL_ID_MIN,
    PORTAL_ID_MAX,
    Msg(
        "Không có cổng thông tin '{value}': mã cổng gồm 2-64 chữ thường không dấu, chữ số "
        "và dấu gạch ngang, ví dụ phu-yen.",
        "There is no portal '{value}': a portal id is 2-64 lower-case letters, digits and "
        "hyphens, such as phu-yen.",
    ),
)
SLUG = _Rule(
    re.compile(SLUG_PATTERN),
    1,
    SLUG_MAX,
    Msg(
        "Không có nội dung nào có đường dẫn '{value}': đường dẫn gồm chữ thường không dấu, "
        "chữ số và dấu gạch ngang.",
        "Nothing has the slug '{value}': a slug is lower-case letters, digits and hyphens.",
    ),
)
ITEM_ID = _hex_id("nội dung", "item")
CATEGORY_ID = _hex_id("chuyên mục", "category")
USER_ID = _hex_id("người dùng", "user")
MEDIA_ID = _hex_id("tệp", "media")


def is_portal_id(value: str) -> bool:
    """Whether `value` can be a portal id."""
    return PORTAL_ID_MIN <= len(value) <= PORTAL_ID_MAX and bool(PORTAL_ID.pattern.fullmatch(value))


# One dependency per parameter name: FastAPI reads the path parameter by the name of the
# dependency's own argument, so the endpoint may call its argument what it likes.


async def _portal(
    portal: Annotated[
        str,
        Path(
            description="The portal's id, such as `phu-yen`.", json_schema_extra=PORTAL_ID.schema()
        ),
    ],
) -> str:
    return PORTAL_ID.check(portal)


async def _slug(
    slug: Annotated[str, Path(description="The item's slug.", json_schema_extra=SLUG.schema())],
) -> str:
    return SLUG.check(slug)


async def _item_id(
    item_id: Annotated[str, Path(description="The item's id.", json_schema_extra=ITEM_ID.schema())],
) -> str:
    return ITEM_ID.check(item_id)


async def _category_id(
    category_id: Annotated[
        str, Path(description="The category's id.", json_schema_extra=CATEGORY_ID.schema())
    ],
) -> str:
    return CATEGORY_ID.check(category_id)


async def _user_id(
    user_id: Annotated[str, Path(description="The user's id.", json_schema_extra=USER_ID.schema())],
) -> str:
    return USER_ID.check(user_id)


async def _media_id(
    media_id: Annotated[
        str, Path(description="The media asset's id.", json_schema_extra=MEDIA_ID.schema())
    ],
) -> str:
    return MEDIA_ID.check(media_id)


PortalPath = Annotated[str, Depends(_portal)]
SlugPath = Annotated[str, Depends(_slug)]
ItemIdPath = Annotated[str, Depends(_item_id)]
CategoryIdPath = Annotated[str, Depends(_category_id)]
UserIdPath = Annotated[str, Depends(_user_id)]
MediaIdPath = Annotated[str, Depends(_media_id)]

NOT_FOUND_RESPONSE: dict[int | str, dict[str, object]] = {
    404: {
        "description": "No such portal (an id that cannot be one, or one that does not exist).",
        "content": {"application/problem+json": {}},
    }
}
"""For `responses=` of operations with a `{portal}` in their path."""
