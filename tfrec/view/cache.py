"""A thread-safe LRU cache bounded by bytes, which computes each missing value once however many threads ask."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable


class LruCache:
    """Maps keys to values made on demand; evicts the least recently used beyond `max_bytes`.

    Args:
        max_bytes: the bound on the sizes of the values held (None: unbounded).
        size_of: a value's size in bytes (default: len).
    """

    def __init__(self, max_bytes: int | None, size_of: Callable[[Any], int] = len):
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._pending: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The cached value, or `default`; never computes."""
        with self._lock:
            return self._items.get(key, default)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value for `key`; calls make() when it is missing (other threads asking meanwhile wait for it)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key]
                event = self._pending.get(key)
                if event is None:
                    event = self._pending[key] = threading.Event()
                    self.misses += 1
                    break
            event.wait()  # another thread is making it; then look again (it may have failed)
        try:
            value = make()
            self._put(key, value)
            return value
        finally:
            with self._lock:
                del self._pending[key]
            event.set()

    def _put(self, key: Hashable, value: Any) -> None:
        size = self._size_of(value)
        with self._lock:
            self._items[key] = value
            self._sizes[key] = size
            self.bytes += size
            while self.max_bytes is not None and self.bytes > self.max_bytes and len(self._items) > 1:
                old, _ = self._items.popitem(last=False)
                self.bytes -= self._sizes.pop(old)
