"""A least-recently-used cache bounded by bytes, for forward passes over prompts.

A count of entries says little about memory: one GPT-2 XL run over 1,024 tokens holds gigabytes of
activations, a run of the shipped model over a sentence a few megabytes. This cache keeps the most
recently used results whose sizes add up to at most ``max_bytes`` (the newest is always kept, whatever
its size), and computes each key once even when many sessions ask for it at the same moment.

Plain threading, no Streamlit: ui/state.py makes one per server process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class SizedCache(Generic[V]):
    def __init__(self, max_bytes: int, size: Callable[[V], int]):
        if max_bytes < 0:
            raise ValueError(f"a cache cannot hold {max_bytes} bytes")
        self.max_bytes = max_bytes
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()  # oldest first
        self._making: dict[Hashable, threading.Lock] = {}  # one lock per key being computed
        self.total = 0  # bytes held

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def _hit(self, key: Hashable) -> tuple[bool, V | None]:
        """(True, value) if ``key`` is held (and mark it the newest); call with the lock held."""
        if key not in self._items:
            return False, None
        self._items.move_to_end(key)
        return True, self._items[key][0]

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for ``key``, from the cache or from ``make()`` (once, however many ask at once)."""
        with self._lock:
            found, value = self._hit(key)
            if found:
                return value
            making = self._making.setdefault(key, threading.Lock())
        with making:  # a second asker waits here for the first one's result
            with self._lock:
                found, value = self._hit(key)
                if found:
                    return value
            try:
                value = make()
                nbytes = self._size(value)
                with self._lock:
                    self._items[key] = (value, nbytes)
                    self.total += nbytes
                    while self.total > self.max_bytes and len(self._items) > 1:
                        _, (_, freed) = self._items.popitem(last=False)
                        self.total -= freed
            finally:
                with self._lock:
                    self._making.pop(key, None)
        return value
