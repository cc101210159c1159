"""A first-come-first-served gate: at most ``slots`` threads inside at once, the rest wait in line.

Every browser session runs its script in its own thread of one server process. When a whole class
asks for forward passes at the same moment, running all of them at once shares the few cores between
them, so every student waits as long as the slowest; a gate with one slot per core lets the first
requests finish first, holds at most ``slots`` sets of fresh activations in memory at once, and lets
nobody jump the line (``threading.Semaphore`` wakes waiters in no promised order, and a thread that
arrives just as a slot frees can take it before those already waiting).

Plain threading, no Streamlit: ui/state.py makes one per server process.
"""

from __future__ import annotations

import threading
from collections import deque


class FifoGate:
    """``with gate:`` runs the block once fewer than ``slots`` others are inside, in arrival order."""

    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError(f"a gate needs at least one slot, not {slots}")
        self.slots = slots
        self._lock = threading.Lock()
        self._inside = 0
        self._line: deque[threading.Event] = deque()

    @property
    def waiting(self) -> int:
        """How many are in line now."""
        return len(self._line)

    @property
    def inside(self) -> int:
        return self._inside

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for a slot (at most ``timeout`` seconds); True once inside, False if the time ran out."""
        with self._lock:
            if self._inside < self.slots and not self._line:
                self._inside += 1
                return True
            turn = threading.Event()
            self._line.append(turn)
        try:
            got = turn.wait(timeout)  # release() hands its slot straight to the first in line
        except BaseException:
            if self._leave(turn):
                self.release()  # the slot came as we were stopped: pass it on
            raise
        return got or self._leave(turn)

    def _leave(self, turn: threading.Event) -> bool:
        """Step out of the line; True if a slot had been handed to ``turn`` meanwhile (it is now held)."""
        with self._lock:
            if turn in self._line:
                self._line.remove(turn)
                return False
            return True

    def release(self) -> None:
        with self._lock:
            if self._line:
                self._line.popleft().set()  # the slot changes hands; ``inside`` stays the same
            elif self._inside > 0:
                self._inside -= 1
            else:
                raise RuntimeError("release() without acquire()")

    def __enter__(self) -> FifoGate:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
