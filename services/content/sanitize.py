"""Article bodies through an allow-list HTML sanitiser (nh3, i.e. Rust's ammonia).

Bodies come from rich-text editors and from copy-paste out of Word and old portals, and are
shown on every portal and in embedded widgets, so they are cleaned on the way in: only the
tags and attributes below survive, URLs must be http(s), mailto, tel or relative, links get
`rel="noopener noreferrer"`, and script-like elements lose their content too. `html_to_text`
gives the plain text that posting standards count and search indexes.
"""

from __future__ import annotations

import html
import re

import nh3

from services.common.text import nfc

_TAGS = {
    *("p", "br", "hr", "span", "div", "code", "pre", "blockquote"),
    *("strong", "b", "em", "i", "u", "s", "sub", "sup"),
    *("ul", "ol", "li", "h2", "h3", "h4", "h5", "h6"),
    *("a", "img", "figure", "figcaption", "audio", "video", "source"),
    *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"),
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "audio": {"src", "controls"},
    "video": {"src", "controls", "poster"},
    "source": {"src", "type"},
}
# `target` is limited to these values rather than merely allowed.
_ATTRIBUTE_VALUES = {"a": {"target": {"_blank", "_self"}}}
# Removed with everything inside them; other unknown tags are dropped but keep their text.
_DROP_WITH_CONTENT = {
    *("script", "style", "template", "noscript", "noembed", "noframes", "xmp"),
    *("iframe", "object", "embed", "svg", "math", "textarea", "title"),
}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}

# Block boundaries become spaces in plain text, so `<p>a</p><p>b</p>` reads "a b", not "ab".
_BLOCK_TAG = re.compile(
    r"<(?=/?(?:p|br|hr|div|li|h[1-6]|tr|td|th|caption|figcaption|blockquote|pre)\b)",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")


def sanitize_html(body: str) -> str:
    """Return `body` in NFC with everything outside the allow-list removed."""
    return nh3.clean(
        nfc(body),
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        tag_attribute_values=_ATTRIBUTE_VALUES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def html_to_text(body: str) -> str:
    """Return the visible text of `body` (NFC, entities decoded, whitespace collapsed).

    The result is plain text, not HTML: escape it again before putting it in a page.
    """
    stripped = nh3.clean(
        _BLOCK_TAG.sub(" <", nfc(body)), tags=set(), clean_content_tags=_DROP_WITH_CONTENT
    )
    return _WHITESPACE.sub(" ", nfc(html.unescape(stripped))).strip()
