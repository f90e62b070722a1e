"""What the request handlers share: settings, clock, portals, the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import Request

from services.analytics.ingest import Ingestor
from services.analytics.settings import AnalyticsSettings
from services.analytics.writer import BatchWriter
from services.common.portals import PortalDirectory

CLOCK_HEADER = "x-analytics-time"
CLOCK_HEADER_KEY = CLOCK_HEADER.encode()


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: AnalyticsSettings
    zone: ZoneInfo
    directory: PortalDirectory
    ingestor: Ingestor
    writer: BatchWriter | None  # in this process (inline), else in the writer process
    clock: Callable[[], datetime] = system_clock
    replayed: datetime | None = field(default=None)

    def now(self) -> datetime:
        """The service's time: the clock, or in replay mode the latest replayed instant."""
        if self.settings.trust_clock_header and self.replayed is not None:
            return self.replayed
        return self.clock()

    def event_time(self, sent: str | None) -> datetime:
        """When a beacon happened: now, or in replay mode only the `X-Analytics-Time` it
        was `sent` with."""
        if self.settings.trust_clock_header:
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
