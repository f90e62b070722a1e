"""Keeping the index in step with content: outbox events in, index writes out.

Content's relay delivers its outbox events at least once and in order. Applying one is
idempotent: a document is written only if the event's version is newer than the indexed
one (a redelivered or older event never overwrites a newer version), and an unpublish
removes the document at once. Pages are not searchable; their events are acknowledged and
ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.errors import BadRequest
from services.common.i18n import Msg
from services.search.model import DocType, SearchBackend, SearchDocument

INDEXED_KINDS = {"article": DocType.ARTICLE, "document": DocType.DOCUMENT}


class MalformedEvent(BadRequest):
    slug = "malformed-event"
    title = Msg("Sự kiện không hợp lệ", "Malformed event")


def key_of(kind: str, item_id: str) -> str:
    return f"{kind}:{item_id}"


def document_from_payload(kind: DocType, payload: dict[str, Any], version: int) -> SearchDocument:
    """The searchable form of content's public read model of an item."""
    try:
        published = datetime.fromisoformat(str(payload["published_at"]))
        category = payload.get("category") or {}
        issued = payload.get("issued_on")
        year = int(str(issued)[:4]) if kind is DocType.DOCUMENT and issued else published.year
        return SearchDocument(
            key=key_of(kind.value, str(payload["id"])),
            id=str(payload["id"]),
            type=kind,
            portal=str(payload["portal"]),
            title=str(payload.get("title") or payload.get("summary") or ""),
            url=str(payload.get("url") or ""),
            published_at=published,
            version=version,
            locale=str(payload.get("locale") or "vi"),
            lead=str(payload.get("lead") or payload.get("summary") or ""),
            body=str(payload.get("body_text") or ""),
            category=category.get("slug") if isinstance(category, dict) else None,
            tags=tuple(str(t) for t in payload.get("tags") or ()),
            number=payload.get("number"),
            doc_type=payload.get("doc_type"),
            issuer=payload.get("issuer"),
            year=year,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(
            Msg(
                "Sự kiện thiếu hoặc sai trường: {e}", "The event lacks or garbles a field: {e}"
            ).format(e=exc)
        ) from exc


async def apply_event(backend: SearchBackend, event: dict[str, Any]) -> str:
    """Apply one content event; return what happened (indexed, removed, stale, ignored)."""
    try:
        topic = str(event["topic"])
        version = int(event["version"])
        payload = event["payload"]
        kind_name, _, change = topic.partition(".")
        item_id = str(payload["id"]) if isinstance(payload, dict) else str(event["key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(
            Msg(
                "Sự kiện thiếu topic, version hoặc payload.",
                "The event lacks topic/version/payload.",
            )
        ) from exc
    kind = INDEXED_KINDS.get(kind_name)
    if kind is None:
        return "ignored"
    key = key_of(kind.value, item_id)
    indexed = (await backend.versions([key])).get(key)
    if indexed is not None and indexed >= version:
        return "stale"
    if change in {"published", "updated"}:
        await backend.upsert([document_from_payload(kind, payload, version)])
        return "indexed"
    if change == "unpublished":
        await backend.delete([key])
        return "removed"
    return "ignored"
