"""Which service answers which path. The same table serves both modes."""

from __future__ import annotations

ROUTES: tuple[tuple[str, str], ...] = (
    ("/v1/search", "search"),
    ("/v1/media", "media"),
    ("/v1/analytics", "analytics"),
    ("/v1/", "content"),
)


def service_for(path: str) -> str | None:
    """The service owning `path`, or None when no service does."""
    for prefix, service in ROUTES:
        if prefix.endswith("/"):
            if path.startswith(prefix):
                return service
        elif path == prefix or path.startswith(prefix + "/"):
            return service
    return None
