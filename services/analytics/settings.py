"""Settings of the analytics service (env prefix `ANALYTICS_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    service_name: str = "analytics"
    content_url: str | None = Field(
        default=None,
        description="The content service, to check that a beacon's portal exists "
        "(e.g. http://content:8000). Embedded mode passes an in-process client instead.",
    )
    content_token: SecretStr | None = None
    portal_cache_seconds: float = Field(default=300.0, ge=0, description="TTL of a known portal.")
    missing_portal_cache_seconds: float = Field(
        default=30.0, ge=0, description="TTL of an unknown portal (negative cache)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs whose X-Forwarded-For is believed (the gateway, the ingress).",
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="Days and salts follow it.")
    retention_days: int = Field(default=90, ge=1, description="Raw events are kept this long.")
    visit_idle_minutes: int = Field(default=30, ge=1)
    reload_minutes: int = Field(
        default=30, ge=0, description="The same URL again within this window is a reload."
    )
    realtime_minutes: int = Field(default=5, ge=1)
    max_body_bytes: int = Field(default=4096, ge=256)
    batch_max_events: int = Field(default=1000, ge=1)
    batch_interval_ms: int = Field(default=250, ge=1)
    queue_max_events: int = Field(default=100_000, ge=1)
    beacons_per_visitor_per_minute: int = Field(
        default=60,
        ge=0,
        description="Beacons of one visitor (portal, address, user agent) counted per sliding "
        "minute; more are dropped (202, counted as dropped). 0: no bound.",
    )
    beacons_per_ip_per_minute: int = Field(
        default=600,
        ge=0,
        description="Beacons from one client address (IPv6: its /64) counted per sliding "
        "minute, every portal and user agent together; sized for an office behind one NAT "
        "address. 0: no bound.",
    )
    bot_ip_ranges: list[str] = Field(
        default_factory=list, description="CIDRs of known bots, monitors and scanners."
    )
    referrer_spam: list[str] = Field(
        default_factory=lambda: ["semalt.com", "buttons-for-website.com", "darodar.com"],
        description="Referrer hosts (and their subdomains) whose traffic is spam.",
    )
    writer: Literal["process", "inline"] = Field(
        default="process",
        description="Where batches are classified and written: a child process of each "
        "worker (keeps that work off the request loop) or inside the service.",
    )
    run_background: bool = Field(
        default=True, description="Flush, rollup maintenance and purge loops (tests: off)."
    )
    trust_clock_header: bool = Field(
        default=False,
        description="Replay only: take the event time from X-Analytics-Time. Never in production.",
    )
