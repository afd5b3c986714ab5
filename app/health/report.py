"""Turn the replica monitor's observations into the /health document."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from app.cache.store import ReadCache
from app.db.replicas import ReplicaPool
from app.health.backups import BackupStatus

if TYPE_CHECKING:
    from app.ratelimit.limiter import RateLimiter

Status = Literal["ok", "degraded", "down"]


class PrimaryReport(BaseModel):
    site: str | None = None
    status: Literal["up", "down"]
    latency_ms: float | None
    error: str | None = None


class ReplicaReport(BaseModel):
    name: str
    site: str | None = None
    status: Literal["up", "down"]
    in_rotation: bool
    latency_ms: float | None
    lag_bytes: int | None
    lag_seconds: float | None
    reason: str | None = None


class DatabaseReport(BaseModel):
    primary: PrimaryReport
    replicas: list[ReplicaReport]


class PatroniMemberReport(BaseModel):
    name: str
    site: str | None = None
    role: str
    state: str
    timeline: int | None
    lag_bytes: int | None


class PatroniReport(BaseModel):
    """Patroni's own view (`PATRONI_URLS`): who leads, on which timeline, and every member."""

    leader: str | None
    timeline: int | None
    members: list[PatroniMemberReport]
    error: str | None = None


class RateLimitReport(BaseModel):
    """Informational: never changes `status` (Redis is a helper, not a dependency)."""

    storage: Literal["redis", "memory"] = Field(
        description="Where counts go now: `redis` (shared by the API nodes) or `memory` "
        "(this process; Redis absent or failing)"
    )
    redis: Literal["up", "down", "not configured"]
    error: str | None = None
    fallbacks: int = Field(description="Requests counted in memory because Redis failed")


class CacheReport(BaseModel):
    """Informational: never changes `status`."""

    memory: Literal["in use", "bypassed"] = Field(
        description="`bypassed` while the primary's change notifications cannot be heard"
    )
    redis: Literal["up", "down", "not configured"]
    error: str | None = None
    entries: int = Field(description="Responses held in this process's memory")
    hits_memory: int
    hits_redis: int
    misses: int
    hit_ratio: float | None = Field(description="Hits over lookups since start")


class BackupReport(BaseModel):
    """Informational: never changes `status`. From the backup jobs' rows in `backup_events`
    and the primary's view of barman's WAL streamer, read every
    BACKUP_STATUS_INTERVAL_SECONDS."""

    last_backup_age_seconds: float | None = Field(
        description="Since the last successful `trackr backup create`; null when none is recorded"
    )
    last_verify_age_seconds: float | None = Field(
        description="Since the last successful `trackr backup verify`; null when none is recorded"
    )
    last_verify_ok: bool | None = Field(description="Whether the most recent verify passed")
    archive_streaming: bool | None = Field(
        description="barman's WAL streamer is connected to the primary"
    )
    archive_lag_bytes: int | None = Field(
        description="WAL the streamer has not reported written (it reports every 10 s)"
    )
    error: str | None = Field(None, description="Why the last reading failed (figures kept)")


class HealthReport(BaseModel):
    status: Status
    timestamp: datetime
    uptime_seconds: float
    version: str
    site: str | None = Field(None, description="This API node's site (TRACKR_SITE)")
    reasons: list[str]
    database: DatabaseReport
    patroni: PatroniReport | None = None
    rate_limit: RateLimitReport | None = Field(None, description="With RATE_LIMIT_ENABLED")
    cache: CacheReport | None = Field(None, description="With CACHE_ENABLED")
    backups: BackupReport | None = Field(None, description="Once the first reading is in")


def build_report(
    pool: ReplicaPool,
    started_at: float,
    version: str,
    limiter: RateLimiter | None = None,
    cache: ReadCache | None = None,
    backups: BackupStatus | None = None,
) -> HealthReport:
    primary_up = pool.primary_up
    primary = PrimaryReport(
        site=pool.primary.site,
        status="up" if primary_up else "down",
        latency_ms=pool.primary.latency_ms,
        error=None if primary_up else (pool.primary.last_error or "primary is in recovery"),
    )
    replicas = [
        ReplicaReport(
            name=r.name,
            site=r.site,
            status="up" if r.reachable else "down",
            in_rotation=r.in_rotation,
            latency_ms=r.latency_ms,
            lag_bytes=r.lag_bytes,
            lag_seconds=r.lag_seconds,
            reason=r.reason,
        )
        for r in pool.replicas.values()
    ]
    reasons: list[str] = []
    if not primary_up:
        reasons.append("primary unavailable: writes fail, reads use replicas")
    reasons += [
        f"replica {r.name} out of rotation: {r.reason}" for r in replicas if not r.in_rotation
    ]
    if replicas and not any(r.in_rotation for r in replicas) and primary_up:
        reasons.append("no replica in rotation: reads go to the primary")
    cut_off = pool.cut_off_seconds()
    grace = pool.settings.partition_read_grace_seconds
    if cut_off is not None:
        reach = pool.reachability
        reasons.append(
            f"this site reaches {reach.answered} of {reach.total} database nodes: cut off from "
            f"the other sites for {cut_off:.0f} s; writes are refused, reads too after "
            f"PARTITION_READ_GRACE_SECONDS ({grace:g} s)"
        )
    patroni = _patroni_report(pool)
    if patroni is not None and patroni.error:
        reasons.append(f"Patroni's view is unavailable, the replica set is frozen: {patroni.error}")
    can_read = (
        primary_up or any(r.in_rotation for r in replicas)
    ) and not pool.past_partition_grace()
    status: Status = "down" if not can_read else ("degraded" if reasons else "ok")
    return HealthReport(
        status=status,
        timestamp=datetime.now(UTC),
        uptime_seconds=round(time.monotonic() - started_at, 3),
        version=version,
        site=pool.settings.trackr_site or None,
        reasons=reasons,
        database=DatabaseReport(primary=primary, replicas=replicas),
        patroni=patroni,
        rate_limit=_rate_limit_report(limiter),
        cache=_cache_report(cache),
        backups=_backup_report(backups),
    )


def _backup_report(status: BackupStatus | None) -> BackupReport | None:
    if status is None:
        return None
    since = time.monotonic() - status.checked_at  # ages grow between readings

    def age(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds + since, 1)

    return BackupReport(
        last_backup_age_seconds=age(status.last_backup_age_seconds),
        last_verify_age_seconds=age(status.last_verify_age_seconds),
        last_verify_ok=status.last_verify_ok,
        archive_streaming=status.archive_streaming,
        archive_lag_bytes=status.archive_lag_bytes,
        error=status.error,
    )


def _cache_report(cache: ReadCache | None) -> CacheReport | None:
    if cache is None:
        return None
    guard = cache.guard
    hits = cache.hits["memory"] + cache.hits["redis"]
    lookups = hits + cache.misses
    return CacheReport(
        memory="in use" if cache.memory_usable else "bypassed",
        redis=guard.status,
        error=guard.error,
        entries=cache.entries,
        hits_memory=cache.hits["memory"],
        hits_redis=cache.hits["redis"],
        misses=cache.misses,
        hit_ratio=round(hits / lookups, 4) if lookups else None,
    )


def _rate_limit_report(limiter: RateLimiter | None) -> RateLimitReport | None:
    if limiter is None:
        return None
    guard = limiter.guard
    return RateLimitReport(
        storage=limiter.storage,
        redis=guard.status,
        error=guard.error,
        fallbacks=guard.fallbacks,
    )


def _patroni_report(pool: ReplicaPool) -> PatroniReport | None:
    if pool.patroni is None:
        return None
    view = pool.patroni_view
    members = [
        PatroniMemberReport(
            name=m.name,
            site=m.site,
            role=m.role,
            state=m.state,
            timeline=m.timeline,
            lag_bytes=m.lag,
        )
        for m in (view.members if view else ())
    ]
    return PatroniReport(
        leader=view.leader.name if view and view.leader else None,
        timeline=view.timeline if view else None,
        members=members,
        error=pool.patroni.last_error,
    )


def can_serve_reads(report: HealthReport) -> bool:
    return report.status != "down"


def as_dict(report: HealthReport) -> dict[str, Any]:
    return report.model_dump(mode="json")
