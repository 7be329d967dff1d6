"""Per-process caches of immutable rows (schema versions never change once written), bounded by size.

A schema definition arrives in a request body of up to `SCHEMA_MAX_REQUEST_BYTES` (1 MiB by
default), so a cache bounded by entry count could hold hundreds of MiB in every API and worker
process. These caches count the
bytes they hold and start over when the next entry would pass the bound: the hot rows are read
again at once, and memory stays bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ImmutableRowCache(Generic[K, V]):
    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: dict[K, V] = {}
        self._bytes = 0
        self._lock = threading.Lock()  # API and worker threads share the process's cache

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The cached value for `key`, else `load()` (outside the lock), kept unless it alone is too big."""
        found = self._entries.get(key)
        if found is not None:
            return found
        value = load()
        size = self._size_of(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            if self._bytes + size > self.max_bytes:
                self._entries.clear()
                self._bytes = 0
            if key not in self._entries:
                self._entries[key] = value
                self._bytes += size
        return value

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
