"""Per-process caches of rows that every request reads and that change rarely (clients, webhook
subscriptions, product packages).

The rule they share: an entry lives `seconds` at most; a change made through this process drops
it at once (`forget`), a change made on another instance shows within `seconds`. Nothing that was
not found is kept, so what is created elsewhere is found at once. Entries are read, never
written: rows are detached from the session that loaded them.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Hashable, TypeVar

from flask import Flask, current_app

V = TypeVar("V")
_EVERYTHING = object()


class TTLCache(Generic[V]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        value = load()
        if value is not None:
            with self._lock:
                self._entries[key] = (time.monotonic() + self.seconds, value)
        return value

    def forget(self, key: Hashable = _EVERYTHING) -> None:
        with self._lock:
            if key is _EVERYTHING:
                self._entries.clear()
            else:
                self._entries.pop(key, None)


def process_cache(name: str, seconds: float) -> TTLCache:
    """The current app's cache called `name` (made on first use)."""
    caches: dict[str, TTLCache] = current_app.extensions.setdefault("gatehouse.caches", {})
    cache = caches.get(name)
    if cache is None:
        cache = caches.setdefault(name, TTLCache(seconds))
    return cache


def forget_all(app: Flask) -> None:
    """Empty every process cache of the app (tests: rows do not outlive a test)."""
    for cache in app.extensions.get("gatehouse.caches", {}).values():
        cache.forget()
