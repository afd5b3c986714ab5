"""ReplicaPool: a per-process monitor of every node's health and lag, and read balancing.

A replica is in rotation only while it is reachable, in recovery, within both lag limits
(bytes and seconds) and not drained. It leaves after one bad check (or at once when a request
sees it fail) and returns after `replica_rise` good checks. Lag in seconds comes from the
primary's sampled WAL timeline (see walclock.py), so neither an idle primary nor WAL without
transactions is mistaken for lag. The primary's circuit breaker is fed by the same checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from app import metrics
from app.config import READ_BALANCING_MODES, ReadBalancing, Settings
from app.db.breaker import BreakerState, CircuitBreaker
from app.db.lsn import parse_lsn
from app.db.patroni import (
    REPLICA_ROLES,
    STILL_A_REPLICA,
    PatroniClient,
    PatroniCluster,
    PatroniMember,
    member_dsn,
)
from app.db.urls import normalize_dsn
from app.db.walclock import WalClock

log = logging.getLogger("trackr.replicas")

PRIMARY_CHECK = "SELECT pg_is_in_recovery(), pg_current_wal_lsn()::text"
REPLICA_CHECK = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn()::text,
       pg_last_wal_receive_lsn()::text,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
"""
RECOVERY_PROBE_SECONDS = 0.1
OVERRIDES = "SELECT read_balancing, drained FROM routing_overrides WHERE id = 1"


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
    _smooth_weight: int = field(default=0, repr=False)

    @property
    def in_rotation(self) -> bool:
        return self.healthy and not self.drained

    @property
    def reason(self) -> str | None:
        if self.drained:
            return "drained by an operator"
        return self.out_reason


def patroni_verdict(member: PatroniMember | None, streamed: bool) -> tuple[str | None, bool]:
    """Why Patroni's view keeps a replica out of the read set (None: it may serve), and
    whether it has streamed since it was last the leader or missing.

    A node enters once Patroni reports it streaming: a rewound or re-cloned old leader waits
    until then. It stays while it is still a replica that is up but not streaming, which is
    what a replica reports while its leader is gone: it remains the best place to read until
    a new leader exists. Patroni names the leader a moment before it accepts writes, so the
    leader is not pushed out here: our own check sees when it leaves recovery.
    """
    if member is None:
        return "not a member of the Patroni cluster", False
    if member.is_leader:
        return None, False
    if member.streams:
        return None, True
    if streamed and member.role in REPLICA_ROLES and member.state in STILL_A_REPLICA:
        return None, True
    return f"Patroni reports it as {member.role}, {member.state}", streamed


class ReplicaPool:
    def __init__(self, settings: Settings, primary_dsn: str, replica_dsns: dict[str, str]) -> None:
        self.settings = settings
        self.primary = PrimaryHealth("primary", primary_dsn)
        weights = settings.weights
        self.replicas = {
            name: ReplicaHealth(name, dsn, weight=weights.get(name, 1))
            for name, dsn in replica_dsns.items()
        }
        self.breaker = CircuitBreaker(settings.primary_breaker_cooldown_seconds)
        self.configured_balancing: ReadBalancing = settings.read_balancing
        self.balancing_override: ReadBalancing | None = None
        self.reads_to_primary: Counter[str] = Counter()  # by reason
        self.read_retries = 0
        self._round_robin = itertools.count()
        self._wal_clock = WalClock()
        self._task: asyncio.Task[None] | None = None
        self.patroni: PatroniClient | None = None
        self.patroni_view: PatroniCluster | None = None
        # Builds the engine for a replica discovered at run time (set by Database).
        self.on_new_replica: Callable[[str, str], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicaPool:
        patroni_urls = settings.patroni_url_list
        if patroni_urls and settings.replicas:
            log.info("PATRONI_URLS is set: replicas come from Patroni, not DATABASE_REPLICA_URLS")
        pool = cls(
            settings,
            primary_dsn=normalize_dsn(settings.database_url),
            replica_dsns={}
            if patroni_urls
            else {r.name: normalize_dsn(r.url) for r in settings.replicas},
        )
        if patroni_urls:
            pool.patroni = PatroniClient(patroni_urls, settings.replica_check_timeout_seconds)
        return pool

    @property
    def read_balancing(self) -> ReadBalancing:
        return self.balancing_override or self.configured_balancing

    @property
    def primary_up(self) -> bool:
        return self.primary.reachable and self.primary.in_recovery is False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.check_once()
        self._task = asyncio.create_task(self._run(), name="replica-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for node in (self.primary, *self.replicas.values()):
            await node.close()
        if self.patroni is not None:
            await self.patroni.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._until_next_round(self.settings.replica_check_interval_seconds)
                await self.check_once()
            except Exception:  # the monitor must never die
                log.exception("replica check round failed")

    async def _until_next_round(self, seconds: float) -> None:
        """Wait for the next round; meanwhile, while the primary is failing, probe it often.

        Writes (and reads with no replica) resume as soon as a probe reaches a writer: a
        failover's new leader is found within RECOVERY_PROBE_SECONDS, not a whole round.
        """
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, RECOVERY_PROBE_SECONDS))
            if self.breaker.state is not BreakerState.CLOSED and time.monotonic() < deadline:
                await self._check_primary()

    # -- checks ------------------------------------------------------------------------------
    async def _query(self, node: NodeHealth, sql: str) -> asyncpg.Record | None:
        """One timed health query on the node's own monitor connection; None if it failed."""
        timeout = self.settings.replica_check_timeout_seconds
        started = time.perf_counter()
        try:
            if node.conn is None or node.conn.is_closed():
                node.conn = await asyncpg.connect(
                    node.dsn, timeout=timeout, command_timeout=timeout,
                    server_settings={"application_name": "trackr-monitor",
                                     "statement_timeout": str(int(timeout * 1000))},
                )  # fmt: skip
            row = await node.conn.fetchrow(sql, timeout=timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            node.reachable = False
            node.latency_ms = None
            node.last_error = f"{exc.__class__.__name__}: {exc}".strip(": ")
            node.abandon()
            return None
        finally:
            node.checked_at = datetime.now(UTC)
        node.reachable = True
        node.last_error = None
        node.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return row

    async def check_once(self) -> None:
        if self.patroni is not None:
            await self._follow_patroni(self.patroni)
        await self._check_primary()
        await asyncio.gather(*(self._check_replica(r) for r in self.replicas.values()))
        promoted = any(r.reachable and r.in_recovery is False for r in self.replicas.values())
        if promoted and self.breaker.state is not BreakerState.CLOSED:
            # A replica was just promoted: the writer may be back, don't wait a round.
            await self._check_primary()
        metrics.observe_pool(self)

    async def _check_primary(self) -> None:
        row = await self._writer_row()
        if row is None:
            self.breaker.record_failure(self.primary.last_error or "unreachable")
            return
        self.primary.in_recovery = False
        self.primary.wal_lsn = parse_lsn(row[1])
        self._wal_clock.record(time.monotonic(), self.primary.wal_lsn)
        self.breaker.record_success()
        await self._load_overrides()

    async def _writer_row(self) -> asyncpg.Record | None:
        """The primary check's row from a node that accepts writes, or None.

        A connection opened before a failover may lead to a node that died or was demoted;
        one fresh connection right away lets a multi-host URL find the new writer.
        """
        for _ in range(2):
            had_connection = self.primary.conn is not None
            row = await self._query(self.primary, PRIMARY_CHECK)
            if row is not None and not row[0]:
                return row
            if row is not None:
                self.primary.in_recovery = True
                self.primary.wal_lsn = None
                self.primary.last_error = (
                    "the node behind DATABASE_URL is in recovery (not a writer)"
                )
                await self.primary.close()  # reconnect: target_session_attrs may find the writer
            if not had_connection:
                break
        return None

    async def _load_overrides(self) -> None:
        """Operator overrides live on the primary so every process and API node follows them."""
        conn = self.primary.conn
        if conn is None:
            return
        try:
            row = await conn.fetchrow(
                OVERRIDES, timeout=self.settings.replica_check_timeout_seconds
            )
        except (asyncpg.UndefinedTableError, OSError, TimeoutError, asyncpg.PostgresError):
            return  # not migrated yet, or a blip: keep what we had
        self.apply_overrides(
            row["read_balancing"] if row else None, list(row["drained"]) if row else []
        )

    def apply_overrides(self, read_balancing: str | None, drained: list[str]) -> None:
        mode = next((m for m in READ_BALANCING_MODES if m == read_balancing), None)
        if mode != self.balancing_override:
            log.warning(
                "read balancing is now %s", mode or f"{self.configured_balancing} (default)"
            )
            self.balancing_override = mode
        for replica in self.replicas.values():
            should_drain = replica.name in drained
            if should_drain != replica.drained:
                log.warning(
                    "replica %s %s", replica.name, "drained" if should_drain else "undrained"
                )
                replica.drained = should_drain

    async def _follow_patroni(self, patroni: PatroniClient) -> None:
        """Take the replica set from Patroni: streaming replicas in, every other member out.

        A node that leaves keeps its entry (and engine), excluded, so a read in flight on it
        never finds it gone; it returns when Patroni reports it streaming again. When no
        REST endpoint answers, the last known set stays.
        """
        view = await patroni.cluster()
        if view is None:
            return
        self.patroni_view = view
        for member in view.members:
            if member.streams and member.name not in self.replicas:
                dsn = member_dsn(self.primary.dsn, member)
                log.warning("replica %s joins from Patroni (%s:%s)", member.name,
                            member.host, member.port)  # fmt: skip
                self.replicas[member.name] = ReplicaHealth(
                    member.name, dsn, weight=self.settings.weights.get(member.name, 1)
                )
                if self.on_new_replica is not None:
                    self.on_new_replica(member.name, dsn)
        members = {m.name: m for m in view.members}
        for name, replica in self.replicas.items():
            replica.patroni_says, replica.patroni_streamed = patroni_verdict(
                members.get(name), replica.patroni_streamed
            )

    async def _check_replica(self, replica: ReplicaHealth) -> None:
        if replica.patroni_says is not None:
            self._exclude(replica, replica.patroni_says)
            await replica.close()
            return
        row = await self._query(replica, REPLICA_CHECK)
        if row is None:
            self._exclude(replica, f"unreachable ({replica.last_error})")
            return
        in_recovery, replay, receive, replay_age = row
        replica.in_recovery = bool(in_recovery)
        if not in_recovery or replay is None:
            replica.replay_lsn = replica.lag_bytes = replica.lag_seconds = None
            self._exclude(replica, "not in recovery (promoted or not a standby)")
            return
        replica.replay_lsn = parse_lsn(replay)
        reference = self.primary.wal_lsn if self.primary_up else None
        if reference is None and receive is not None:
            reference = parse_lsn(receive)
        replica.lag_bytes = max(0, (reference or replica.replay_lsn) - replica.replay_lsn)
        replica.lag_seconds = self._seconds_behind(replica, replay_age)
        if replica.lag_bytes > self.settings.replica_max_lag_bytes:
            self._exclude(replica, f"lag {replica.lag_bytes} B over the limit")
        elif (
            replica.lag_seconds is not None
            and replica.lag_seconds > self.settings.replica_max_lag_seconds
        ):
            self._exclude(replica, f"lag {replica.lag_seconds} s over the limit")
        else:
            self._good(replica)

    def _seconds_behind(self, replica: ReplicaHealth, replay_age: float | None) -> float | None:
        """Seconds behind the primary; None while no primary is seen.

        With the primary gone there is no newer data anywhere, so time is not lag: a replica
        whose leader died keeps serving until a new one is promoted (the time since its last
        replayed transaction only measures how long ago the last write was; and a record
        the primary was sending as it died stays received but never replayed). Bytes still
        count: WAL it received and has not applied.
        """
        if not self.primary_up:
            return None
        if replica.lag_bytes == 0:
            return 0.0
        assert replica.replay_lsn is not None
        behind = self._wal_clock.seconds_behind(replica.replay_lsn, time.monotonic())
        if behind is None:  # no sample of the primary's timeline covers it yet
            behind = float(replay_age or 0.0)
        return round(behind, 3)

    def _exclude(self, replica: ReplicaHealth, reason: str) -> None:
        if replica.healthy:
            log.warning("replica %s leaves rotation: %s", replica.name, reason)
        replica.healthy = False
        replica.out_reason = reason
        replica.good_streak = 0
        replica.seen_bad = True

    def _good(self, replica: ReplicaHealth) -> None:
        replica.good_streak += 1
        # A replica never seen bad (boot) joins at once; one that failed must prove itself.
        needed = self.settings.replica_rise if replica.seen_bad else 1
        if not replica.healthy and replica.good_streak >= needed:
            if replica.seen_bad:
                log.info("replica %s back in rotation", replica.name)
            replica.healthy = True
            replica.out_reason = None

    def mark_down(self, name: str, error: str) -> None:
        """A request saw this replica fail: out now, not at the next check."""
        replica = self.replicas[name]
        replica.failed_reads += 1
        self._exclude(replica, f"a read failed on it ({error})")
        replica.reachable = False

    # -- balancing ---------------------------------------------------------------------------
    def choose(
        self,
        min_lsn: int | None = None,
        exclude: frozenset[str] = frozenset(),
        *,
        defer_token_fallback: bool = False,
    ) -> ReplicaHealth | None:
        """A replica to read from, or None when the primary must serve.

        With `defer_token_fallback`, a token no replica is known to have replayed is not yet
        counted as a fallback: the caller may still find a replica caught up live, and calls
        `token_fallback()` only if it does not.
        """
        if self.read_balancing == "primary":
            self._count_primary_read("balancing mode is primary")
            return None
        candidates = [r for r in self.replicas.values() if r.in_rotation and r.name not in exclude]
        if not candidates:
            self._count_primary_read("no replica in rotation")
            return None
        if min_lsn is not None:
            candidates = [r for r in candidates if (r.replay_lsn or 0) >= min_lsn]
            if not candidates:
                if not defer_token_fallback:
                    self.token_fallback()
                return None
        chosen = self._pick(candidates)
        self._count_replica_read(chosen)
        return chosen

    def token_fallback(self) -> None:
        self._count_primary_read("no replica has replayed the consistency token")

    def _count_replica_read(self, replica: ReplicaHealth) -> None:
        replica.reads_routed += 1
        metrics.READS_ROUTED.labels(target=replica.name).inc()

    def _count_primary_read(self, reason: str) -> None:
        self.reads_to_primary[reason] += 1
        metrics.READS_TO_PRIMARY.labels(reason=reason).inc()
        metrics.READS_ROUTED.labels(target="primary").inc()

    def freshest(self) -> ReplicaHealth | None:
        """The in-rotation replica with the highest replay position; none in `primary` mode."""
        if self.read_balancing == "primary":
            return None
        candidates = [r for r in self.replicas.values() if r.in_rotation]
        return max(candidates, key=lambda r: r.replay_lsn or 0, default=None)

    def record_live_token_check(self, replica: ReplicaHealth, lsn: int, reached: bool) -> None:
        if reached:
            replica.replay_lsn = max(replica.replay_lsn or 0, lsn)
            self._count_replica_read(replica)
        metrics.TOKEN_LIVE_CHECKS.labels(result="caught_up" if reached else "behind").inc()

    def record_retry(self) -> None:
        self.read_retries += 1
        metrics.READ_RETRIES.inc()

    def _pick(self, candidates: list[ReplicaHealth]) -> ReplicaHealth:
        mode = self.read_balancing
        if mode == "least_lag":
            return min(candidates, key=lambda r: (r.lag_bytes or 0, r.latency_ms or 0.0))
        if mode == "weighted":  # smooth weighted round robin: even spread, exact proportions
            total = sum(r.weight for r in candidates)
            for replica in candidates:
                replica._smooth_weight += replica.weight
            chosen = max(candidates, key=lambda r: r._smooth_weight)
            chosen._smooth_weight -= total
            return chosen
        return candidates[next(self._round_robin) % len(candidates)]
