"""Settings of the content service (env prefix `CONTENT_`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENT_", extra="ignore")

    service_name: str = "content"
    jwt_private_key_pem: SecretStr | None = Field(
        default=None, description="Ed25519 PEM; default: generated under data_dir/keys."
    )
    scheduler_interval: float = Field(
        default=15.0, description="Seconds between runs of scheduled publish/unpublish."
    )
    run_background: bool = Field(
        default=True, description="Run the scheduler and outbox relay in this process."
    )
    outbox_subscribers: dict[str, str] = Field(
        default_factory=dict,
        description="Name → URL receiving content events (e.g. the search indexer).",
    )
    outbox_token: SecretStr | None = Field(
        default=None, description="Sent as a Bearer token with every event delivery."
    )
    outbox_interval: float = 1.0
    media_url: str | None = Field(
        default=None,
        description="The media service (e.g. http://media:8000); when set, submit checks the "
        "featured image there. Unset: only its presence is checked.",
    )
    public_cache_ttl: float = Field(
        default=5.0,
        description="Seconds anonymous public reads are micro-cached in-process (0: off).",
    )
