"""The invalidation listener never waits on a silent primary longer than its timeout: a relay
on loopback passes the real primary's handshake, then holds the LISTEN (the node hangs
between the two). Starting the listener must come back within the deadline, with the memory
tier bypassed, as for any lost channel."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from urllib.parse import SplitResult, urlsplit

from app.cache.listener import InvalidationListener
from app.cache.store import ReadCache
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from tests.conftest import make_settings


async def _relay_holding_listen(target_port: int, port: int) -> asyncio.Server:
    """Forward both ways to the primary, until the client sends LISTEN: from then on nothing
    more reaches the primary, and nothing comes back."""

    async def pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold_on_listen: bool
    ) -> None:
        while data := await reader.read(65536):
            if hold_on_listen and b"LISTEN" in data:
                await asyncio.Event().wait()  # silent from here on, the socket left open
            writer.write(data)
            await writer.drain()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            pump(client_r, server_w, hold_on_listen=True),
            pump(server_r, client_w, hold_on_listen=False),
            return_exceptions=True,
        )

    return await asyncio.start_server(handle, "127.0.0.1", port)


def test_a_primary_hanging_before_the_listen_costs_one_timeout(migrated: Cluster) -> None:
    settings = make_settings(migrated, cache_enabled=True, replica_check_timeout_seconds=0.5)
    dsn = urlsplit(settings.database_url)
    relay_port = free_port()

    async def scenario() -> tuple[float, bool, bool]:
        relay = await _relay_holding_listen(dsn.port or 5432, relay_port)
        cache = ReadCache(settings)
        pool = SimpleNamespace(
            settings=settings,
            primary=SimpleNamespace(dsn=dsn._replace(netloc=_via(dsn, relay_port)).geturl()),
        )
        listener = InvalidationListener(cache, pool)  # type: ignore[arg-type]
        started = time.monotonic()
        try:
            await asyncio.wait_for(listener.start(), timeout=10)
            return time.monotonic() - started, listener.connected, cache.memory_usable
        finally:
            await listener.stop()
            relay.close()

    took, connected, memory_usable = asyncio.run(scenario())
    assert took < 2.0, f"the listener waited {took:.1f} s on a silent primary"
    assert not connected
    assert not memory_usable


def _via(dsn: SplitResult, port: int) -> str:
    """The URL's user and host, at another port."""
    return dsn.netloc.rsplit(":", 1)[0] + f":{port}"
