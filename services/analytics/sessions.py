"""Visits, reloads and bounces: pure bookkeeping over a time-ordered batch of hits.

Definitions (docs/analytics.md explains them to readers):

- A **visit** is a run of a visitor's hits with no gap longer than `idle` (30 minutes).
  At local midnight the visitor id changes with the salt; a hit in the first `idle`
  minutes of a day also carries the id under yesterday's salt, so a visit that crosses
  midnight goes on as one visit (and its visitor counts once on each day).
- A **pageview** is a page load or a new SPA path. A **reload** is a page view of the
  same path as the visitor's previous page view within `reload` minutes, in the same
  visit: it is stored (kind `reload`) but is not a page view.
- A **bounce** is a visit with exactly one page view and no event; rollups keep it exact
  by counting +1 when a visit reaches that state and -1 when it leaves it, both on the
  visit's start hour and day.
- Visits, bounces, referrers, devices and browsers belong to the hour and day the visit
  started; page views and events to the time they happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

ROLLUP_FIELDS = ("pageviews", "reloads", "events", "visits", "bounces", "visitors")


@dataclass(frozen=True)
class Hit:
    """A human beacon, ready to store (no address, no user agent)."""

    portal: str
    ts: datetime
    id: int
    visitor: str
    previous_visitor: str | None
    kind: str  # pageview | event
    name: str | None
    path: str
    article: str | None
    category: str | None
    referrer: str | None
    device: str
    browser: str
    screen_width: int | None
    client_id: str | None


@dataclass(frozen=True)
class VisitorState:
    last_ts: datetime
    last_page_ts: datetime | None
    last_path: str | None
    visit_start: datetime
    visit_pageviews: int
    visit_events: int


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class Outcome:
    """What a batch adds: event rows, rollup deltas and the visitors' new states."""

    rows: list[dict[str, object]] = field(default_factory=list)
    hourly: dict[tuple[str, datetime], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(ROLLUP_FIELDS, 0))
    )
    daily: dict[tuple[str, date], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(ROLLUP_FIELDS, 0))
    )
    top: dict[tuple[str, date, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    visitor_days: set[tuple[str, date, str]] = field(default_factory=set)
    states: dict[tuple[str, str], VisitorState] = field(default_factory=dict)


class Sessionizer:
    """Applies hits, in time order, to the visitors' states."""

    def __init__(self, *, zone: ZoneInfo, idle: timedelta, reload: timedelta) -> None:
        self.zone = zone
        self.idle = idle
        self.reload = reload

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def apply(self, hits: Iterable[Hit], states: dict[tuple[str, str], VisitorState]) -> Outcome:
        """Process `hits` (sorted by time) against `states` (read from the database)."""
        out = Outcome()
        known = dict(states)
        for hit in hits:
            self._one(hit, known, out)
        return out

    def _one(self, hit: Hit, known: dict[tuple[str, str], VisitorState], out: Outcome) -> None:
        key = (hit.portal, hit.visitor)
        state = known.get(key)
        if state is None and hit.previous_visitor is not None:
            state = known.get((hit.portal, hit.previous_visitor))
        hour, day = hour_of(hit.ts), self.day_of(hit.ts)
        hourly, daily = out.hourly[(hit.portal, hour)], out.daily[(hit.portal, day)]
        if state is None or hour_of(state.last_ts) != hour or key not in known:
            hourly["visitors"] += 1
        out.visitor_days.add((hit.portal, day, hit.visitor))

        if state is None or hit.ts - state.last_ts > self.idle:
            state = VisitorState(hit.ts, None, None, hit.ts, 0, 0)
            hourly["visits"] += 1
            daily["visits"] += 1
            for dimension, value in (
                ("referrer", hit.referrer or "(direct)"),
                ("device", hit.device),
                ("browser", hit.browser),
            ):
                out.top[(hit.portal, day, dimension, value)][1] += 1
        start_hour, start_day = hour_of(state.visit_start), self.day_of(state.visit_start)
        was_bounce = state.visit_pageviews == 1 and state.visit_events == 0
        kind = hit.kind
        pageviews, events = state.visit_pageviews, state.visit_events
        if kind == "pageview":
            if (
                state.last_path == hit.path
                and state.last_page_ts is not None
                and hit.ts - state.last_page_ts <= self.reload
            ):
                kind = "reload"
                hourly["reloads"] += 1
                daily["reloads"] += 1
            else:
                pageviews += 1
                hourly["pageviews"] += 1
                daily["pageviews"] += 1
                out.top[(hit.portal, day, "page", hit.path)][0] += 1
                if hit.article:
                    out.top[(hit.portal, day, "article", hit.article)][0] += 1
                if hit.category:
                    out.top[(hit.portal, day, "category", hit.category)][0] += 1
        else:
            events += 1
            hourly["events"] += 1
            daily["events"] += 1
        is_bounce = pageviews == 1 and events == 0
        if is_bounce != was_bounce:
            delta = 1 if is_bounce else -1
            out.hourly[(hit.portal, start_hour)]["bounces"] += delta
            out.daily[(hit.portal, start_day)]["bounces"] += delta
        paged = kind != "event"
        state = replace(
            state,
            last_ts=max(hit.ts, state.last_ts),
            last_page_ts=hit.ts if paged else state.last_page_ts,
            last_path=hit.path if paged else state.last_path,
            visit_pageviews=pageviews,
            visit_events=events,
        )
        known[key] = state
        out.states[key] = state
        out.rows.append(
            {
                "portal": hit.portal,
                "ts": hit.ts,
                "id": hit.id,
                "visitor": hit.visitor,
                "kind": kind,
                "name": hit.name,
                "path": hit.path,
                "article": hit.article,
                "category": hit.category,
                "referrer": hit.referrer,
                "device": hit.device,
                "browser": hit.browser,
                "screen_width": hit.screen_width,
            }
        )
