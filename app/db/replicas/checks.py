"""The monitor's health queries: one timed query per node, and what a replica's row means."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from app.db.failures import DRIVER_ERRORS, describe
from app.db.lsn import parse_lsn
from app.db.replicas.nodes import NodeHealth, ReplicaHealth
from app.db.sockets import bounded_connection
from app.db.walclock import WalClock

log = logging.getLogger("trackr.replicas")

PRIMARY_CHECK = "SELECT pg_is_in_recovery(), pg_current_wal_lsn()::text"
REPLICA_CHECK = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn()::text,
       pg_last_wal_receive_lsn()::text,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
"""


async def query(
    node: NodeHealth, sql: str, timeout_seconds: float, tcp_user_timeout: float
) -> asyncpg.Record | None:
    """One timed health query on the node's own monitor connection; None if it failed."""
    timeout = timeout_seconds
    started = time.perf_counter()
    try:
        if node.conn is None or node.conn.is_closed():
            node.conn = await asyncpg.connect(
                node.dsn, timeout=timeout, command_timeout=timeout,
                server_settings={"application_name": "trackr-monitor",
                                 "statement_timeout": str(int(timeout * 1000))},
                connection_class=bounded_connection(tcp_user_timeout),
            )  # fmt: skip
        row = await node.conn.fetchrow(sql, timeout=timeout)
    except DRIVER_ERRORS as exc:  # any failure of a health check means "unreachable"
        error = describe(exc)
        if node.reachable or node.last_error != error:  # once per change, not every second
            log.warning("%s check failed: %s: %s", node.name, exc.__class__.__name__, exc)
        node.reachable = False
        node.latency_ms = None
        node.last_error = error
        node.abandon()
        return None
    finally:
        node.checked_at = datetime.now(UTC)
    node.reachable = True
    node.last_error = None
    node.latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return row


@dataclass(frozen=True)
class LagLimits:
    max_bytes: int
    max_seconds: float
    rise: int


def judge_replica(
    replica: ReplicaHealth,
    row: asyncpg.Record,
    limits: LagLimits,
    primary_lsn: int | None,
    wal_clock: WalClock,
) -> None:
    """Record a replica's check row and move it in or out of rotation.

    `primary_lsn` is the primary's WAL position, None while no primary is seen.
    """
    in_recovery, replay, receive, replay_age = row
    replica.in_recovery = bool(in_recovery)
    if not in_recovery or replay is None:
        replica.replay_lsn = replica.lag_bytes = replica.lag_seconds = None
        replica.exclude("not in recovery (promoted or not a standby)")
        return
    replica.replay_lsn = parse_lsn(replay)
    reference = primary_lsn
    if reference is None and receive is not None:
        reference = parse_lsn(receive)
    replica.lag_bytes = max(0, (reference or replica.replay_lsn) - replica.replay_lsn)
    replica.lag_seconds = seconds_behind(replica, replay_age, primary_lsn is not None, wal_clock)
    if replica.lag_bytes > limits.max_bytes:
        replica.exclude(f"lag {replica.lag_bytes} B over the limit")
    elif replica.lag_seconds is not None and replica.lag_seconds > limits.max_seconds:
        replica.exclude(f"lag {replica.lag_seconds} s over the limit")
    else:
        replica.passed_check(limits.rise)


def seconds_behind(
    replica: ReplicaHealth, replay_age: float | None, primary_seen: bool, wal_clock: WalClock
) -> float | None:
    """Seconds behind the primary; None while no primary is seen.

    With the primary gone there is no newer data anywhere, so time is not lag: a replica
    whose leader died keeps serving until a new one is promoted (the time since its last
    replayed transaction only measures how long ago the last write was; and a record
    the primary was sending as it died stays received but never replayed). Bytes still
    count: WAL it received and has not applied.
    """
    if not primary_seen:
        return None
    if replica.lag_bytes == 0:
        return 0.0
    assert replica.replay_lsn is not None
    behind = wal_clock.seconds_behind(replica.replay_lsn, time.monotonic())
    if behind is None:  # no sample of the primary's timeline covers it yet
        behind = float(replay_age or 0.0)
    return round(behind, 3)
