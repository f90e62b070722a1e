"""Settings of the search service (env prefix `SEARCH_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class SearchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SEARCH_", extra="ignore")

    service_name: str = "search"
    backend: Literal["embedded", "meilisearch"] = Field(
        default="embedded",
        description="embedded: tantivy index under data_dir/search; meilisearch: a server.",
    )
    meili_url: str | None = Field(default=None, description="e.g. http://meilisearch:7700")
    meili_api_key: SecretStr | None = None
    meili_index_prefix: str = "portal"
    content_url: str | None = Field(
        default=None,
        description="The content service (e.g. http://content:8000), for reindex/reconcile "
        "and the admin routes' check that the caller is a superadmin (503 when unset).",
    )
    content_token: SecretStr | None = Field(
        default=None, description="CONTENT_OUTBOX_TOKEN, if content requires one."
    )
    events_token: SecretStr | None = Field(
        default=None,
        description="If set, content's event deliveries must carry it as a Bearer token.",
    )
