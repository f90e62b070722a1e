"""Reports: bounded date ranges, time series from the rollups, top lists, the summary.

Dates are local calendar days (the service's time zone) and both ends are included.
Each interval has a maximum range so that no query scans without bound:
hour ≤ 31 days, day ≤ 400 days, month ≤ 5 years (1,827 days).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics import repository as repo
from services.analytics.errors import RangeInvalid
from services.common.errors import FieldError
from services.common.i18n import Msg

Interval = Literal["hour", "day", "month"]
MAX_DAYS: dict[str, int] = {"hour": 31, "day": 400, "month": 1827}
DEFAULT_DAYS: dict[str, int] = {"hour": 1, "day": 30, "month": 365}
VISITORS_METHOD = "sum of daily unique visitors"


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def resolve_range(
    first: date | None, last: date | None, *, interval: str, today: date
) -> DateRange:
    """The range asked for, defaulted from today; 422 when reversed or too long."""
    last = last or (first + timedelta(days=DEFAULT_DAYS[interval] - 1) if first else today)
    first = first or last - timedelta(days=DEFAULT_DAYS[interval] - 1)
    if first > last:
        raise RangeInvalid(
            Msg("'from' phải trước hoặc bằng 'to'.", "'from' must not be after 'to'."),
            errors=[FieldError("from", Msg("Sau ngày 'to'.", "After 'to'."), "range_reversed")],
        )
    limit = MAX_DAYS[interval]
    if (last - first).days + 1 > limit:
        message = Msg(
            "Khoảng thời gian quá dài cho interval={i}: tối đa {n} ngày.",
            "The range is too long for interval={i}: at most {n} days.",
        ).format(i=interval, n=limit)
        raise RangeInvalid(message, errors=[FieldError("to", message, "range_too_long")])
    return DateRange(first, last)


def _rate(bounces: int, visits: int) -> float:
    return round(bounces / visits, 4) if visits else 0.0


def _point(start: str, c: dict[str, int]) -> dict[str, Any]:
    return {
        "start": start,
        "pageviews": c["pageviews"],
        "visitors": c["visitors"],
        "visits": c["visits"],
        "bounce_rate": _rate(c["bounces"], c["visits"]),
    }


FIELDS = ("pageviews", "reloads", "events", "visits", "bounces", "visitors")


async def stats(
    session: AsyncSession, *, portal: str, span: DateRange, interval: str, zone: ZoneInfo
) -> dict[str, Any]:
    """Totals and a zero-filled time series for one portal."""
    days = await repo.daily_rows(session, portal, span.first, span.last)
    totals = dict.fromkeys(FIELDS, 0)
    for row in days:
        for name in FIELDS:
            totals[name] += getattr(row, name)
    series: list[dict[str, Any]] = []
    if interval == "hour":
        start = datetime.combine(span.first, time(), zone).astimezone(UTC)
        end = datetime.combine(span.last + timedelta(days=1), time(), zone).astimezone(UTC)
        by_hour = {row.hour: row for row in await repo.hourly_rows(session, portal, start, end)}
        moment = start
        while moment < end:
            row = by_hour.get(moment)
            counts = {n: getattr(row, n) if row else 0 for n in FIELDS}
            series.append(_point(moment.astimezone(zone).isoformat(), counts))
            moment += timedelta(hours=1)
    else:
        buckets: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        for row in days:
            key = row.day.replace(day=1) if interval == "month" else row.day
            for name in FIELDS:
                buckets[key][name] += getattr(row, name)
        day = span.first
        seen: set[date] = set()
        while day <= span.last:
            key = day.replace(day=1) if interval == "month" else day
            if key not in seen:
                seen.add(key)
                series.append(_point(key.isoformat(), buckets[key]))
            day += timedelta(days=1)
    return {
        "portal": portal,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "interval": interval,
        "timezone": zone.key,
        "pageviews": totals["pageviews"],
        "visitors": totals["visitors"],
        "visitors_method": VISITORS_METHOD,
        "visits": totals["visits"],
        "bounces": totals["bounces"],
        "bounce_rate": _rate(totals["bounces"], totals["visits"]),
        "reloads": totals["reloads"],
        "events": totals["events"],
        "timeseries": series,
    }


async def summary(
    session: AsyncSession, *, portals: list[tuple[str, str]], span: DateRange
) -> dict[str, Any]:
    """Every portal's totals over the range (portals without traffic show zeros)."""
    rows = await repo.daily_rows(session, None, span.first, span.last)
    per: dict[str, dict[str, int]] = {p: dict.fromkeys(FIELDS, 0) for p, _ in portals}
    for row in rows:
        if row.portal in per:
            for name in FIELDS:
                per[row.portal][name] += getattr(row, name)
    names = dict(portals)
    items: list[dict[str, Any]] = [
        {
            "portal": p,
            "name": names[p],
            "pageviews": c["pageviews"],
            "visitors": c["visitors"],
            "visits": c["visits"],
            "bounce_rate": _rate(c["bounces"], c["visits"]),
        }
        for p, c in per.items()
    ]
    items.sort(key=lambda i: (-i["pageviews"], i["portal"]))
    return {
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "visitors_method": VISITORS_METHOD,
        "items": items,
    }
