"""What the request handlers share: settings, clock, portals, salts, bot rules, the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import Request

from services.analytics.bots import BotRules
from services.analytics.ingest import Ingestor, SaltBook
from services.analytics.portals import PortalDirectory
from services.analytics.privacy import IpNetwork
from services.analytics.settings import AnalyticsSettings

CLOCK_HEADER = "x-analytics-time"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: AnalyticsSettings
    zone: ZoneInfo
    directory: PortalDirectory
    salts: SaltBook
    ingestor: Ingestor
    rules: BotRules
    trusted: tuple[IpNetwork, ...]
    clock: Callable[[], datetime] = system_clock
    replayed: datetime | None = field(default=None)

    def now(self) -> datetime:
        """The service's time: the clock, or in replay mode the latest replayed instant."""
        if self.settings.trust_clock_header and self.replayed is not None:
            return self.replayed
        return self.clock()

    def event_time(self, request: Request) -> datetime:
        """When this beacon happened: now, or `X-Analytics-Time` in replay mode only."""
        if self.settings.trust_clock_header:
            sent = request.headers.get(CLOCK_HEADER)
            if sent:
                try:
                    moment = datetime.fromisoformat(sent)
                except ValueError:
                    moment = None
                if moment is not None and moment.tzinfo is not None:
                    moment = moment.astimezone(UTC)
                    if self.replayed is None or moment > self.replayed:
                        self.replayed = moment
                    return moment
        return self.clock()


async def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.analytics
    return value
