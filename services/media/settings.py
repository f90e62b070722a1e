"""Settings of the media service (env prefix `MEDIA_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class MediaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIA_", extra="ignore")

    service_name: str = "media"
