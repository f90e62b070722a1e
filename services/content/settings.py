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
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs whose X-Forwarded-For is believed (the gateway, the ingress); "
        "sign-in is throttled per client address. `portal dev` trusts loopback.",
    )
    sign_in_free_failures: int = Field(
        default=5,
        ge=1,
        description="Wrong passwords for one account from one address before each further "
        "attempt must wait (1 s, then doubling).",
    )
    sign_in_delay_seconds: float = Field(
        default=1.0, gt=0, description="The first wait after the free failures; it doubles."
    )
    sign_in_max_delay_seconds: int = Field(
        default=900, ge=1, description="The longest wait between two attempts (15 minutes)."
    )
    sign_in_failure_memory_seconds: int = Field(
        default=86_400,
        ge=60,
        description="How long an account and address pair's failures are remembered "
        "(counted from the first; a successful sign-in forgets them at once).",
    )
    sign_in_ip_failures_per_hour: int = Field(
        default=50,
        ge=1,
        description="Wrong passwords from one address across all accounts in an hour; "
        "beyond it every sign-in from that address is a 429 until the hour slides on.",
    )
    sign_in_ip_attempts_per_minute: int = Field(
        default=30,
        ge=1,
        description="Sign-in attempts from one address in a moving minute, right or wrong, "
        "counted before the password check (bounds a burst of concurrent guesses).",
    )
    sign_in_account_failures_per_hour: int = Field(
        default=20,
        ge=1,
        description="Wrong passwords for one account from all addresses in an hour; beyond "
        "it the account is under attack and every address that has failed against it waits "
        "after its first failure (addresses that have not failed are never slowed).",
    )
    rate_limit_prefix: str = Field(
        default="portal",
        description="Prefix of the rate-limit keys (in Redis: deployments sharing one Redis "
        "need different prefixes).",
    )
    password_hash_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="argon2 hashes computed at once, in worker threads (default: the CPU "
        "count); more sign-ins queue.",
    )
