"""What the monitor knows of each node, and a replica's way in and out of rotation.

A replica is in rotation only while it is healthy (reachable, in recovery, within both lag
limits) and not drained. It leaves after one bad check, or at once when a request sees it
fail, and returns after `rise` good checks; one never seen bad (at boot) joins at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

log = logging.getLogger("trackr.replicas")


@dataclass
class NodeHealth:
    """What the last check saw of one node."""

    name: str
    dsn: str = field(repr=False)
    reachable: bool = False
    in_recovery: bool | None = None
    latency_ms: float | None = None
    last_error: str | None = None
    checked_at: datetime | None = None
    site: str | None = None  # from Patroni's `site` tag, when the node has one
    conn: asyncpg.Connection | None = field(default=None, repr=False)

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.conn.close(), timeout=1)
            self.conn = None

    def abandon(self) -> None:
        """Drop a failed connection at once: a hung server would never answer a polite close."""
        if self.conn is not None:
            self.conn.terminate()
            self.conn = None


@dataclass
class PrimaryHealth(NodeHealth):
    wal_lsn: int | None = None


@dataclass
class ReplicaHealth(NodeHealth):
    weight: int = 1
    replay_lsn: int | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    healthy: bool = False
    drained: bool = False
    out_reason: str | None = "not checked yet"
    good_streak: int = 0
    seen_bad: bool = False
    reads_routed: int = 0
    failed_reads: int = 0
    patroni_says: str | None = None  # why Patroni's view keeps it out, when it does
    patroni_streamed: bool = True  # seen streaming since it last led or went missing

    @property
    def in_rotation(self) -> bool:
        return self.healthy and not self.drained

    @property
    def reason(self) -> str | None:
        if self.drained:
            return "drained by an operator"
        return self.out_reason

    def exclude(self, reason: str) -> None:
        if self.healthy:
            log.warning("replica %s leaves rotation: %s", self.name, reason)
        self.healthy = False
        self.out_reason = reason
        self.good_streak = 0
        self.seen_bad = True

    def passed_check(self, rise: int) -> None:
        self.good_streak += 1
        needed = rise if self.seen_bad else 1
        if not self.healthy and self.good_streak >= needed:
            if self.seen_bad:
                log.info("replica %s back in rotation", self.name)
            self.healthy = True
            self.out_reason = None

    def failed_read(self, error: str) -> None:
        """A request saw this replica fail: out now, not at the next check."""
        self.failed_reads += 1
        self.exclude(f"a read failed on it ({error})")
        self.reachable = False
