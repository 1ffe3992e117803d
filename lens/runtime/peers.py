"""Per-peer state that cannot grow without bound: a table keyed by a sender's session id that forgets a peer it
has not heard from for ``ttl_s`` and, when full, the one heard from least recently.

Session ids come from the network: anyone who can reach a socket can invent thousands. Each runtime process keeps
its per-peer state (the phone's device sessions, the device's phone sessions, sequence trackers) in a
:class:`PeerTable`, so memory stays bounded by ``max_peers`` whatever arrives, and a peer that went away is
forgotten after ``ttl_s`` (it is welcomed as new if it comes back). When the table is full, a peer heard from only
once goes first (the least recently heard of them), so a flood of invented ids cannot push out a real peer that
keeps talking.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")

DEFAULT_MAX_PEERS = 64
DEFAULT_TTL_S = 60.0


class PeerTable(Generic[V]):
    """Values by peer id, least recently heard first; bounded in size and expiring.

    ``clock`` is the time source (seconds; :func:`time.monotonic` by default), a parameter so a test can step it.
    ``expired`` and ``evicted`` count the peers forgotten for silence and for room.
    """

    def __init__(self, max_peers: int = DEFAULT_MAX_PEERS, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_peers < 1 or ttl_s <= 0:
            raise ValueError("a peer table needs max_peers >= 1 and ttl_s > 0")
        self.max_peers, self.ttl_s, self.clock = max_peers, ttl_s, clock
        self._items: OrderedDict[str, tuple[float, int, V]] = OrderedDict()  # peer -> (heard, times heard, value)
        self.expired = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, peer: object) -> bool:
        return peer in self._items

    def get(self, peer: str) -> V | None:
        """The value of ``peer`` (None when unknown or expired); does not count as hearing from it."""
        self.expire()
        item = self._items.get(peer)
        return None if item is None else item[2]

    def put(self, peer: str, value: V) -> bool:
        """Set ``peer``'s value and mark it heard from now; True when the peer is new (or came back)."""
        self.expire()
        old = self._items.get(peer)
        self._items[peer] = (self.clock(), 1 if old is None else old[1] + 1, value)
        self._items.move_to_end(peer)
        while len(self._items) > self.max_peers:
            once = next((p for p, (_, hits, _) in self._items.items() if hits == 1 and p != peer), None)
            if once is None:
                self._items.popitem(last=False)
            else:
                del self._items[once]
            self.evicted += 1
        return old is None

    def expire(self) -> list[str]:
        """Forget every peer silent for longer than ``ttl_s``; returns their ids."""
        cutoff = self.clock() - self.ttl_s
        gone: list[str] = []
        while self._items:
            peer, (heard, _, _) = next(iter(self._items.items()))
            if heard >= cutoff:
                break
            self._items.popitem(last=False)
            gone.append(peer)
        self.expired += len(gone)
        return gone

    def items(self) -> Iterator[tuple[str, V]]:
        """``(peer, value)`` of every live peer, least recently heard first."""
        self.expire()
        return iter([(peer, value) for peer, (_, _, value) in self._items.items()])
