"""The client pool leases clients: a client in use is never closed under its run."""

from __future__ import annotations

import asyncio

from bot.services.client_pool import ClientPool


class Client:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_full_pool_never_closes_a_client_in_use() -> None:
    pool = ClientPool(size=2)
    made: list[Client] = []

    def maker(name: str) -> Client:
        made.append(Client(name))
        return made[-1]

    release = asyncio.Event()

    async def run(name: str) -> bool:
        async with pool.lease(name, lambda: maker(name)) as client:
            await release.wait()
            return not client.closed  # still open at the end of its run

    runs = [asyncio.create_task(run(f"user{i}")) for i in range(10)]
    await asyncio.sleep(0.01)
    assert len(made) == 10
    assert not any(c.closed for c in made)  # over size, but every client is leased
    release.set()
    assert all(await asyncio.gather(*runs))
    assert len(pool) == 2  # trimmed back to size once nobody holds the others
    assert sum(c.closed for c in made) == 8


async def test_the_same_credentials_share_one_client() -> None:
    pool = ClientPool(size=4)
    async with pool.lease("a", lambda: Client("a")) as first:
        async with pool.lease("a", lambda: Client("again")) as second:
            assert first is second


async def test_forget_waits_for_the_last_lease() -> None:
    pool = ClientPool(size=4)
    async with pool.lease("a", lambda: Client("a")) as client:
        await pool.forget("a")
        assert not client.closed
        async with pool.lease("a", lambda: Client("fresh")) as fresh:
            assert fresh is not client  # new credentials get a new client at once
    assert client.closed
    await pool.forget("a")
    assert fresh.closed
    assert len(pool) == 0


async def test_idle_clients_are_closed() -> None:
    pool = ClientPool(size=4, idle_seconds=0.0)
    async with pool.lease("a", lambda: Client("a")) as client:
        pass
    assert client.closed
    assert len(pool) == 0
