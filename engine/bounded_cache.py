"""One bounded, thread-safe least-recently-used cache for every engine cache.

Catalogues, rewrite reports, rewritten graphs, memory estimates, batch plans
and sessions all go through :class:`BoundedCache`, so no cache grows without
bound and all of them evict the same way (least recently used first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class BoundedCache[K: Hashable, V]:
    """A least-recently-used mapping that keeps at most ``capacity`` entries.

    Parameters
    ----------
    capacity
        The most entries kept; the least recently used one is dropped first.

    Notes
    -----
    :meth:`get_or_create` calls the factory outside the lock, so two threads
    asking for the same missing key may both build it; the first stored wins
    and both get that value.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("A bounded cache needs a capacity of at least 1.")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value stored under ``key`` (marked as recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key``, evicting the least recently used beyond capacity."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        """The cached value, or ``factory()`` stored and returned."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = factory()
        with self._lock:
            if key in self._items:  # another thread stored it meanwhile
                self._items.move_to_end(key)
                return self._items[key]
        return self.put(key, value)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items
