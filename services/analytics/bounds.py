"""How many beacons one client may have counted: per visitor and per address, per minute.

3,000 beacons from one address and user agent in 5.7 seconds were all counted as page
views. The batch writer now admits at most

- `beacons_per_visitor_per_minute` (60) beacons of one visitor (the day's visitor id:
  portal, address and user agent), more than a person reading pages (or an SPA
  navigating) sends: one a second, sustained for a minute;
- `beacons_per_ip_per_minute` (600) beacons from one client address (IPv4 whole, IPv6 by
  its /64, as for visitor ids) across every portal and user agent. A whole province
  office behind one NAT address shares this bound, so it is ten times the visitor's:
  several hundred staff each opening a page a minute still fit; one machine inventing a
  new user agent for every beacon does not.

A beacon over a bound is **dropped**: answered 202 like the others (sendBeacon ignores the
answer, and a refusal would only tell the sender where the bound is), never stored, and
counted: `analytics_beacons_settled_total{as="dropped"}` and, per portal and day, the
`flood-visitor` or `flood-ip` reason of `GET …/portals/{portal}/bots`. A dropped beacon
uses up no allowance: one visitor flooding behind an office's address does not take the
address's allowance from the colleagues (only admitted beacons count towards either bound).
The visitor bound is checked first; the address bound applies to what it admits.

**By the beacon's own time**, not the writer's clock: the writer sees a batch up to
`batch_interval_ms` later, and after a database outage it writes a backlog of minutes at
once; a bound on arrival at the writer would drop the people of that backlog. A window is
a sliding minute, estimated from one-minute buckets (the previous minute's count weighted
by the share of it still inside the window, plus the current minute's), so a burst across
a minute boundary gets no second allowance.

**Per writer process, in memory.** Each service worker has its own writer process, so with
`W` workers one client may get up to `W` times the bounds when its connections land on
different workers (a keep-alive connection, as a browser's beacons use, stays on one).
Counting in Redis would share the bound, but costs a round trip for every beacon (about
0.5 ms here, against a few µs for this count); the bounds are sized so that `W` times
them still stops a flood. Memory: one small counter per address and per visitor seen in
the last two minutes (buckets older than that are dropped as time moves on).

The counts of a batch are kept apart (`Tally`) until the batch is written: a batch that
fails and is sent again is judged again from the same counts, not counted twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

FLOOD_VISITOR = "flood-visitor"
FLOOD_IP = "flood-ip"
MINUTE = 60


class _Window:
    """Per-key counts in one-minute buckets, for one bound (0 = unbounded)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buckets: dict[int, Counter[str]] = {}

    def full(
        self, minute: int, share_left: float, key: str, pending: Counter[tuple[int, str]]
    ) -> bool:
        """Whether one more beacon of `key` would go over the bound."""
        if not self.limit:
            return False
        current = self.buckets.get(minute)
        previous = self.buckets.get(minute - 1)
        now = (current[key] if current else 0) + pending[(minute, key)]
        before = (previous[key] if previous else 0) + pending[(minute - 1, key)]
        return before * share_left + now + 1 > self.limit

    def add(self, pending: Counter[tuple[int, str]]) -> None:
        for (minute, key), count in pending.items():
            self.buckets.setdefault(minute, Counter())[key] += count
        if self.buckets:
            newest = max(self.buckets)
            for minute in [m for m in self.buckets if m < newest - 1]:
                del self.buckets[minute]


class Tally:
    """What one batch would add to the counts; `admit` judges its beacons in order."""

    def __init__(self, bounds: BeaconBounds) -> None:
        self.bounds = bounds
        self.visitors: Counter[tuple[int, str]] = Counter()
        self.addresses: Counter[tuple[int, str]] = Counter()

    def admit(self, ts: datetime, address: str | None, visitor: str) -> str | None:
        """None when the beacon is admitted (and counted), else the reason it is dropped.
        `address` is the network key (None: unknown, not bounded by address)."""
        seconds = ts.timestamp()
        minute = int(seconds // MINUTE)
        share_left = 1.0 - (seconds % MINUTE) / MINUTE
        if self.bounds.visitors.full(minute, share_left, visitor, self.visitors):
            return FLOOD_VISITOR
        if address is not None and self.bounds.addresses.full(
            minute, share_left, address, self.addresses
        ):
            return FLOOD_IP
        self.visitors[(minute, visitor)] += 1
        if address is not None:
            self.addresses[(minute, address)] += 1
        return None


class BeaconBounds:
    """The counts of one writer process."""

    def __init__(self, *, per_visitor: int, per_address: int) -> None:
        self.visitors = _Window(per_visitor)
        self.addresses = _Window(per_address)

    def tally(self) -> Tally:
        """A fresh tally for the next batch."""
        return Tally(self)

    def commit(self, tally: Tally) -> None:
        """The batch was written: its admitted beacons now count."""
        self.visitors.add(tally.visitors)
        self.addresses.add(tally.addresses)
