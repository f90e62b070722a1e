"""ETag / If-None-Match revalidation and Cache-Control for reads.

The ETag is a hash of the exact bytes sent, so it changes exactly when the representation
does. Public reads are cacheable by browsers and CDNs for a short time; authenticated reads
(which may include drafts) are private and must be revalidated.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, TypeAdapter

_any = TypeAdapter(Any)


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return etag in candidates


def cached_json(
    request: Request,
    payload: BaseModel | Any,
    *,
    public: bool,
    max_age: int = 60,
    media_type: str = "application/json",
) -> Response:
    """A JSON response with ETag and Cache-Control, or 304 when the client has it."""
    if isinstance(payload, BaseModel):
        body = payload.model_dump_json().encode()
    else:
        body = _any.dump_json(payload)
    return cached_bytes(request, body, public=public, max_age=max_age, media_type=media_type)


def cached_bytes(
    request: Request,
    body: bytes,
    *,
    public: bool,
    max_age: int = 60,
    media_type: str,
) -> Response:
    etag = _etag(body)
    cache_control = (
        f"public, max-age={max_age}, stale-while-revalidate={max_age * 5}"
        if public
        else "private, no-cache"
    )
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Authorization"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
