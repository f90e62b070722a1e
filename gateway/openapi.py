"""One OpenAPI document for the whole platform, merged from every service's own."""

from __future__ import annotations

import copy
from typing import Any

from gateway.routing import service_for


def merge(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge service documents: each contributes the paths the gateway routes to it."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Portal Platform API",
            "version": "1.0.0",
            "description": (
                "One REST API for the central and provincial e-portals. Errors are RFC 9457 "
                "problem details; lists are cursor-paginated (`limit`, `cursor` → "
                "`{items, next_cursor}`); every response carries `X-Request-ID`."
            ),
        },
        "paths": {},
        "components": {"schemas": {}},
        "tags": [],
    }
    seen_tags: set[str] = set()
    for service, document in documents.items():
        doc = copy.deepcopy(document)
        for path, item in doc.get("paths", {}).items():
            if service_for(path) == service:
                merged["paths"][path] = item
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            merged["components"]["schemas"].setdefault(name, schema)
        for key, value in doc.get("components", {}).items():
            if key != "schemas":
                merged["components"].setdefault(key, {}).update(value)
        for tag in doc.get("tags", []):
            if tag["name"] not in seen_tags:
                seen_tags.add(tag["name"])
                merged["tags"].append(tag)
    merged["paths"] = dict(sorted(merged["paths"].items()))
    return merged
