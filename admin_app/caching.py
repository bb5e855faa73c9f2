"""The one way this app keeps something built once per process: a bounded cache, least recently used out first.

What it keeps is what never changes once built (SQLAlchemy statements, URLs, a catalogue read from disk),
under a key naming everything it was built from; a statement restricted to a perimeter carries the
perimeter's `fingerprint` in its key, so one viewer's statement never serves another perimeter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
_MISSING: Any = object()  # a kept value may be None


class BoundedCache(Generic[V]):
    """At most `size` values; past it, the one used longest ago goes. Shared by a worker's threads."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a cache keeps at least one value")
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[..., V], *args: Any) -> V:
        """The value kept under `key`, else `build(*args)`'s, kept (built outside the lock: two threads may both
        build the same value, the same either way, rather than wait on each other)."""
        with self._lock:
            value = self._values.get(key, _MISSING)
            if value is not _MISSING:
                self._values.move_to_end(key)
                return value
        value = build(*args)
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
