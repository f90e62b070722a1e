"""Total and facet counts kept per query until the index next changes.

Paging through results, or listing a portal with an empty query, asks for the same counts
again and again; counting is one aggregation pass over every match, the costliest part of
a search after ranking. The counts are kept until the next write to the index, and never
served across one: an entry is only stored if no write began or ended while it was
counted, and nothing is served while a write is under way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

Counts = tuple[int, dict[str, dict[str, int]]]
"""The total and, per facet, the count of each value."""


class CountCache:
    """A bounded least-recently-used map from a query's key to its counts."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Counts] = OrderedDict()
        self._generation = 0
        self._writes = 0  # writes under way

    @property
    def generation(self) -> int:
        """Taken before reading the index; `put` needs it to refuse counts a write outdated."""
        return self._generation

    def get(self, key: Hashable) -> Counts | None:
        if self._writes:
            return None
        counts = self._entries.get(key)
        if counts is not None:
            self._entries.move_to_end(key)
        return counts

    def put(self, key: Hashable, generation: int, counts: Counts) -> None:
        """Keep `counts`, unless a write began or ended since `generation` was taken."""
        if self._writes or generation != self._generation:
            return
        self._entries[key] = counts
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around every change to the index: forget every count, before and after."""
        self._forget()
        self._writes += 1
        try:
            yield
        finally:
            self._writes -= 1
            self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._entries.clear()
