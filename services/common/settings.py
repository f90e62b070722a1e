"""The settings base every service extends.

Each service subclasses `ServiceSettings` with its own env prefix (`CONTENT_`, `SEARCH_`…).
Defaults are the embedded ones: SQLite files and keys under `data_dir` (`./var`), so a
newcomer runs the platform with nothing installed. Production sets URLs and secrets in the
environment. Nothing here is read at import time: `create_app(settings)` receives an instance.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs: where its data lives and how it trusts tokens."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    service_name: str = "service"
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: a SQLite file in data_dir.",
    )
    database_echo: bool = False
    jwt_issuer: str = "portal-platform"
    jwt_audience: str = "portal-api"
    jwks_url: str | None = Field(
        default=None,
        description="The content service's JWKS URL; default: the key file in data_dir.",
    )
    roles_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=5,
        description="Search, media, analytics: how long the caller's roles read from "
        "content are reused (at most 5 s; 0 asks content on every request).",
    )

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("redis_url", "REDIS_URL"),
        description="redis://host:6379/0 (env REDIS_URL, shared by every service): rate "
        "limits are counted there, across processes and replicas; default: per process.",
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file for this service."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"
