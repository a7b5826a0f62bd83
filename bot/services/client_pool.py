"""Per-user ccxt clients, leased to the calls that use them and never closed while in use."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_POOL_SIZE = 512
DEFAULT_IDLE_SECONDS = 900.0  # a client unused this long is closed: its key leaves memory


def fingerprint(api_key: str, secret: str, passphrase: str | None = None) -> str:
    """The pool's key for one set of credentials; the credentials themselves are not kept.
    OKX's passphrase is part of them: a wrong one must not borrow the right one's client."""
    extra = f"\0{passphrase}" if passphrase else ""
    return hashlib.sha256(f"{api_key}\0{secret}{extra}".encode()).hexdigest()


@dataclass
class _Entry:
    client: Any
    leases: int = 0
    last_used: float = field(default_factory=time.monotonic)
    retired: bool = False  # forgotten while leased: closed when the last lease ends


class ClientPool:
    """Clients keyed by a credentials fingerprint, reused across runs of the same user.

    A run leases its client for as long as it trades: the pool may hold more than `size`
    clients while more runs than that are in flight, and trims back to `size` (least
    recently used first) only among clients nobody holds. A client idle for `idle_seconds`
    is closed too, and `forget` drops a user's client as soon as nobody holds it (keys
    deleted or replaced), so a plaintext key does not outlive its use in memory.
    """

    def __init__(
        self, *, size: int = DEFAULT_POOL_SIZE, idle_seconds: float = DEFAULT_IDLE_SECONDS
    ) -> None:
        self.size = size
        self.idle_seconds = idle_seconds
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clients(self) -> Iterator[Any]:
        """Every pooled client (to hand them refreshed markets or a new clock offset)."""
        return (entry.client for entry in self._entries.values())

    @asynccontextmanager
    async def lease(self, key: str, make: Callable[[], Any]) -> AsyncIterator[Any]:
        """The client for `key` (made by `make` when there is none), held until the block ends."""
        entry = self._entries.get(key)
        if entry is None or entry.retired:
            entry = _Entry(make())
            self._entries[key] = entry
        self._entries.move_to_end(key)
        entry.leases += 1
        try:
            yield entry.client
        finally:
            entry.leases -= 1
            entry.last_used = time.monotonic()
            if entry.retired and entry.leases == 0:
                await entry.client.close()
            await self.trim()

    async def forget(self, key: str) -> None:
        """Drop this key's client: now if nobody holds it, else when its last lease ends."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        if entry.leases == 0:
            await entry.client.close()
        else:
            entry.retired = True

    async def trim(self) -> None:
        """Close idle clients: those over `size` (least recently used first) and stale ones."""
        now = time.monotonic()
        excess = len(self._entries) - self.size
        closing = []
        for key, entry in list(self._entries.items()):  # no await in here: one atomic pass
            if entry.leases:
                continue
            if excess > 0 or now - entry.last_used >= self.idle_seconds:
                del self._entries[key]
                excess -= 1
                closing.append(entry.client)
        for client in closing:
            await client.close()

    async def close(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            await entry.client.close()
