"""Settings of the gateway (env prefix `GATEWAY_`).

An upstream URL left empty means "mounted in this process" (embedded mode, `portal dev`);
set it (`GATEWAY_CONTENT_URL=http://content:8000`) and the gateway proxies over HTTP.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("content", "search", "media", "analytics")
MiB = 1024 * 1024


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    content_url: str | None = None
    search_url: str | None = None
    media_url: str | None = None
    analytics_url: str | None = None
    connect_timeout: float = Field(default=3.0, description="Seconds to connect upstream.")
    read_timeout: float = Field(default=30.0, description="Seconds to wait for upstream bytes.")
    max_upload_bytes: int = Field(
        default=2049 * MiB,
        ge=MiB,
        description="Largest body of POST /v1/media: media's largest MEDIA_MAX_*_BYTES + 1 MiB.",
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed by CORS; tokens travel in headers, never cookies.",
    )

    def upstream_url(self, service: str) -> str | None:
        url: str | None = getattr(self, f"{service}_url")
        return url.rstrip("/") if url else None
