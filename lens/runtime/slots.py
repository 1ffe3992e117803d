"""In-process hand-over between stage threads: a one-item latest-value slot and a bounded event queue."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item: ``put`` replaces an unread item (latest wins) and says so."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self.closed = False

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced one nobody had taken (a dropped item)."""
        with self._cond:
            dropped = self._full
            self._item, self._full = item, True
            self._cond.notify_all()
            return dropped

    def wait_empty(self, stop: threading.Event) -> bool:
        """Wait until nobody's item is waiting (lossless hand-over for ``--fast``); False if stopped."""
        with self._cond:
            while self._full and not stop.is_set() and not self.closed:
                self._cond.wait(0.05)
            return not stop.is_set()

    def put_wait(self, item: T, stop: threading.Event) -> bool:
        """Wait until the slot is empty, then store (never drops); False if stopped."""
        if not self.wait_empty(stop):
            return False
        self.put(item)
        return True

    def get(self, timeout: float) -> T | None:
        """Take the item, waiting up to ``timeout`` seconds; None when there is none."""
        with self._cond:
            if not self._full:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items will come (wakes waiters)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def drained(self) -> bool:
        """Closed and empty."""
        with self._cond:
            return self.closed and not self._full


class BoundedQueue(Generic[T]):
    """A FIFO that never grows past ``maxlen``: putting into a full queue drops the oldest item and says so."""

    def __init__(self, maxlen: int = 256) -> None:
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._cond = threading.Condition()
        self.closed = False

    def put(self, item: T) -> bool:
        """Append; True when the oldest item had to be dropped."""
        with self._cond:
            dropped = len(self._items) >= self._maxlen
            if dropped:
                self._items.popleft()
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float) -> T | None:
        """The oldest item, waiting up to ``timeout``; None when there is none."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """No more items will come."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def drained(self) -> bool:
        """Closed and empty."""
        with self._cond:
            return self.closed and not self._items
