"""ReplicaPool: every node's health (kept current by its monitor) and the choice of who
serves each read. The façade routing talks to."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from app.config import READ_BALANCING_MODES, ReadBalancing, Settings
from app.db.breaker import CircuitBreaker
from app.db.patroni import (
    PatroniClient,
    PatroniCluster,
    PatroniMember,
    leader_first_dsn,
    member_dsn,
)
from app.db.patroni_reconcile import reconcile
from app.db.replicas.balancing import Balancer
from app.db.replicas.monitor import Monitor, OverridesSource
from app.db.replicas.nodes import PrimaryHealth, ReplicaHealth
from app.db.replicas.observer import NoObserver, PoolObserver
from app.db.replicas.reachability import Reachability
from app.db.urls import normalize_dsn

log = logging.getLogger("trackr.replicas")


class ReplicaPool:
    def __init__(
        self,
        settings: Settings,
        primary_dsn: str,
        replica_dsns: dict[str, str],
        *,
        overrides: OverridesSource | None = None,
        observer: PoolObserver | None = None,
    ) -> None:
        self.settings = settings
        self.configured_primary_dsn = primary_dsn
        # Which writer new connections go to; a failure seen on an older one's connection
        # (in flight when Patroni named another leader) says nothing about the new writer.
        self.writer_generation = 0
        self.primary = PrimaryHealth("primary", primary_dsn)  # its dsn follows Patroni's leader
        self.replicas = {
            name: ReplicaHealth(name, dsn, weight=settings.weights.get(name, 1))
            for name, dsn in replica_dsns.items()
        }
        self.breaker = CircuitBreaker(settings.primary_breaker_cooldown_seconds)
        self.configured_balancing: ReadBalancing = settings.read_balancing
        self.balancing_override: ReadBalancing | None = None
        self.overrides_changed = 0  # counts this process's own changes (see apply_overrides)
        self.reads_to_primary: Counter[str] = Counter()  # by reason
        self.read_retries = 0
        self.observer: PoolObserver = observer or NoObserver()
        self.patroni: PatroniClient | None = None
        self.patroni_view: PatroniCluster | None = None
        # Builds the engine for a replica discovered at run time (set by Database).
        self.on_new_replica: Callable[[str, str], None] | None = None
        # Drops the writer's pooled connections when Patroni names another leader (Database).
        self.on_leader_change: Callable[[], Awaitable[None]] | None = None
        self._newest_wal_seen = 0  # a live look at the primary, past its last check
        self.reachability = Reachability()
        self._balancer = Balancer()
        self._monitor = Monitor(self, overrides)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        overrides: OverridesSource | None = None,
        observer: PoolObserver | None = None,
    ) -> ReplicaPool:
        patroni_urls = settings.patroni_url_list
        if patroni_urls and settings.replicas:
            log.info("PATRONI_URLS is set: replicas come from Patroni, not DATABASE_REPLICA_URLS")
        replicas = {r.name: normalize_dsn(r.url) for r in settings.replicas}
        pool = cls(
            settings,
            primary_dsn=normalize_dsn(settings.database_url),
            replica_dsns={} if patroni_urls else replicas,
            overrides=overrides,
            observer=observer,
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
        self._monitor.start()
        self.breaker.probed = True

    async def stop(self) -> None:
        await self._monitor.stop()
        for node in (self.primary, *self.replicas.values()):
            await node.close()
        if self.patroni is not None:
            await self.patroni.aclose()

    async def check_once(self) -> None:
        """One monitor round: Patroni's view, the primary, every replica."""
        await self._monitor.check_once()

    # -- what the monitor and operators change -----------------------------------------------
    def apply_overrides(
        self, read_balancing: str | None, drained: list[str], read_at: int | None = None
    ) -> None:
        """Follow the stored overrides. An operator's change here (`read_at` None) counts;
        the monitor passes the count from before its query, and a row it read before this
        process changed it is older than what the process holds, so it is not applied."""
        if read_at is None:
            self.overrides_changed += 1
        elif read_at != self.overrides_changed:
            return
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

    async def follow_patroni(self, census: bool = False) -> None:
        """Take the replica set from Patroni's view; when no REST endpoint answers, the last
        known set stays. A `census` (each monitor round) asks every member at once and
        notes whether this node reaches a majority of them."""
        if self.patroni is None:
            return
        if census:
            view, answered = await self.patroni.census()
            self.reachability.record(answered, len(self.patroni.urls), time.monotonic())
        else:
            view = await self.patroni.cluster()
        if view is not None:
            self.patroni_view = view
            reconcile(view, self.replicas, self._join)
            if view.leader is not None:
                await self._follow_leader(view.leader)

    async def follow_promoted(self, replica: ReplicaHealth) -> None:
        """A Patroni member seen promoted while the writer fails: writes go to it first.
        Patroni's own view names the new leader up to a loop (`loop_wait`) after it promoted
        it, and until then new connections would meet the old, perhaps hung, leader first.
        Only a Patroni member: a replica URL may be a proxy's port (HAProxy's replicas)."""
        view = self.patroni_view
        member = next((m for m in view.members if m.name == replica.name), None) if view else None
        if member is not None:
            await self._follow_leader(member)

    async def _follow_leader(self, leader: PatroniMember) -> None:
        """Connect to Patroni's leader first; drop connections opened to an old one."""
        self.primary.site = leader.site
        dsn = leader_first_dsn(self.configured_primary_dsn, leader)
        if dsn == self.primary.dsn:
            return
        log.warning("writes go to %s first (Patroni's leader)", leader.name)
        self.primary.dsn = dsn
        self.writer_generation += 1
        self.observer.writer_changed()
        self.primary.abandon()  # never a polite close: the old leader may be hung
        if self.on_leader_change is not None:
            await self.on_leader_change()

    def _join(self, member: PatroniMember) -> None:
        dsn = member_dsn(self.configured_primary_dsn, member)
        log.warning("replica %s joins from Patroni (%s:%s)", member.name, member.host, member.port)
        weight = self.settings.weights.get(member.name, 1)
        self.replicas[member.name] = ReplicaHealth(
            member.name, dsn, weight=weight, site=member.site
        )
        if self.on_new_replica is not None:
            self.on_new_replica(member.name, dsn)

    def cut_off_seconds(self) -> float | None:
        """How long this site has been cut off from most of the cluster; None while it is
        not, and always None without TRACKR_SITE (a single site's nodes are not sites)."""
        if not self.settings.trackr_site:
            return None
        return self.reachability.cut_off_for(time.monotonic())

    def past_partition_grace(self) -> bool:
        """Cut off for longer than PARTITION_READ_GRACE_SECONDS: reads are refused."""
        cut_off = self.cut_off_seconds()
        return cut_off is not None and cut_off > self.settings.partition_read_grace_seconds

    def newest_wal_position(self) -> int:
        """The newest WAL position any node is known to have: what a real token can be."""
        positions = [self._newest_wal_seen, self.primary.wal_lsn or 0]
        positions += [r.replay_lsn or 0 for r in self.replicas.values()]
        return max(positions)

    def saw_wal_position(self, lsn: int) -> None:
        self._newest_wal_seen = max(self._newest_wal_seen, lsn)

    def mark_down(self, name: str, error: str) -> None:
        """A request saw this replica fail: out now, not at the next check."""
        self.replicas[name].failed_read(error)

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
        chosen = self._balancer.pick(self.read_balancing, candidates, self.settings.trackr_site)
        self._count_replica_read(chosen)
        return chosen

    def freshest(self) -> ReplicaHealth | None:
        """The in-rotation replica with the highest replay position; none in `primary` mode."""
        if self.read_balancing == "primary":
            return None
        candidates = [r for r in self.replicas.values() if r.in_rotation]
        return max(candidates, key=lambda r: r.replay_lsn or 0, default=None)

    # -- counters ----------------------------------------------------------------------------
    def token_fallback(self) -> None:
        self._count_primary_read("no replica has replayed the consistency token")

    def record_live_token_check(self, replica: ReplicaHealth, lsn: int, reached: bool) -> None:
        if reached:
            replica.replay_lsn = max(replica.replay_lsn or 0, lsn)
            self._count_replica_read(replica)
        self.observer.token_live_check(reached)

    def record_retry(self) -> None:
        self.read_retries += 1
        self.observer.read_retried()

    def _count_replica_read(self, replica: ReplicaHealth) -> None:
        replica.reads_routed += 1
        self.observer.read_routed(replica.name)

    def _count_primary_read(self, reason: str) -> None:
        self.reads_to_primary[reason] += 1
        self.observer.read_to_primary(reason)
