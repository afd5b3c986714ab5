"""Prometheus metrics (prometheus-client), safe with several uvicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (`trackr serve` sets it when WEB_CONCURRENCY > 1) every
worker writes its samples there and /metrics aggregates them; gauges report the most recent
live worker's value.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Final

from fastapi import APIRouter
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY
from starlette.responses import Response

from app.db.breaker import BreakerState

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.db.engines import PoolUsage
    from app.db.replicas import ReplicaPool
    from app.health.backups import BackupStatus

GAUGE_MODE: Final = "livemostrecent"

HTTP_LATENCY = Histogram(
    "trackr_http_request_duration_seconds", "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip


@functools.lru_cache(maxsize=1024)
def http_latency(method: str, route: str, status: int) -> Histogram:
    """HTTP_LATENCY's series for one kind of request, looked up once (`labels` validates and
    locks on every call: 1-2% of a cached read)."""
    return HTTP_LATENCY.labels(method, route, str(status))


READS_ROUTED = Counter("trackr_reads_routed_total", "Reads by serving node", ["target"])
READS_TO_PRIMARY = Counter(
    "trackr_read_fallbacks_total", "Reads sent to the primary instead of a replica", ["reason"]
)
TOKEN_LIVE_CHECKS = Counter(
    "trackr_token_live_checks_total",
    "Token reads checked live on the freshest replica",
    ["result"],
)
READ_RETRIES = Counter("trackr_read_retries_total", "Reads retried on another node in-request")
NODE_UP = Gauge("trackr_db_node_up", "Node answered its last check", ["node", "role"],
                multiprocess_mode=GAUGE_MODE)  # fmt: skip
NODE_IN_ROTATION = Gauge("trackr_db_replica_in_rotation", "Replica serves reads", ["node"],
                         multiprocess_mode=GAUGE_MODE)  # fmt: skip
LAG_BYTES = Gauge("trackr_db_replica_lag_bytes", "Replay lag in bytes", ["node"],
                  multiprocess_mode=GAUGE_MODE)  # fmt: skip
LAG_SECONDS = Gauge("trackr_db_replica_lag_seconds", "Replay lag in seconds", ["node"],
                    multiprocess_mode=GAUGE_MODE)  # fmt: skip
CHECK_LATENCY = Gauge("trackr_db_check_latency_seconds", "Last health check latency", ["node"],
                      multiprocess_mode=GAUGE_MODE)  # fmt: skip
BREAKER = Gauge("trackr_primary_breaker_state", "1 for the primary breaker's current state",
                ["state"], multiprocess_mode=GAUGE_MODE)  # fmt: skip
BACKUP_LAST_SUCCESS = Gauge(
    "trackr_backup_last_success_timestamp_seconds",
    "When the last successful backup job of this kind ended (NaN: none recorded)",
    ["kind"], multiprocess_mode=GAUGE_MODE,
)  # fmt: skip
BACKUP_VERIFY_OK = Gauge("trackr_backup_last_verify_ok", "1 when the latest verify passed",
                         multiprocess_mode=GAUGE_MODE)  # fmt: skip
ARCHIVE_STREAMING = Gauge("trackr_wal_archive_streaming",
                          "1 while barman's WAL streamer is connected to the primary",
                          multiprocess_mode=GAUGE_MODE)  # fmt: skip
POOL_CONNECTIONS = Gauge("trackr_db_pool_connections", "Pooled connections per node, by state",
                         ["node", "state"], multiprocess_mode=GAUGE_MODE)  # fmt: skip
POOL_LIMIT = Gauge("trackr_db_pool_max_connections",
                   "Connections a node's pool may open (DB_POOL_SIZE + DB_MAX_OVERFLOW)",
                   multiprocess_mode=GAUGE_MODE)  # fmt: skip
LAG_LIMIT = Gauge("trackr_db_replica_max_lag_seconds",
                  "REPLICA_MAX_LAG_SECONDS: a replica further behind leaves rotation",
                  multiprocess_mode=GAUGE_MODE)  # fmt: skip
LAG_LIMIT_BYTES = Gauge("trackr_db_replica_max_lag_bytes",
                        "REPLICA_MAX_LAG_BYTES: a replica further behind leaves rotation",
                        multiprocess_mode=GAUGE_MODE)  # fmt: skip
WRITER_CHANGES = Counter(
    "trackr_db_writer_changes_total",
    "Writes moved to a new leader (Patroni's, seen by this process)",
)
ARCHIVE_LAG = Gauge("trackr_wal_archive_lag_bytes",
                    "WAL the archive's streamer has not reported written",
                    multiprocess_mode=GAUGE_MODE)  # fmt: skip


def _set(gauge: Gauge, value: float | None, **labels: str) -> None:
    gauge.labels(**labels).set(float("nan") if value is None else value)


class PrometheusPoolObserver:
    """The read pool's counters and gauges (an `app.db.replicas.PoolObserver`), and the
    connection pools' use once `watch_connections` has the engines."""

    def __init__(self) -> None:
        self._usage: Callable[[], dict[str, PoolUsage]] | None = None

    def watch_connections(self, usage: Callable[[], dict[str, PoolUsage]]) -> None:
        self._usage = usage

    def read_routed(self, target: str) -> None:
        READS_ROUTED.labels(target=target).inc()

    def read_to_primary(self, reason: str) -> None:
        READS_TO_PRIMARY.labels(reason=reason).inc()
        READS_ROUTED.labels(target="primary").inc()

    def token_live_check(self, caught_up: bool) -> None:
        TOKEN_LIVE_CHECKS.labels(result="caught_up" if caught_up else "behind").inc()

    def read_retried(self) -> None:
        READ_RETRIES.inc()

    def round_checked(self, pool: ReplicaPool) -> None:
        observe_pool(pool)
        for node, usage in (self._usage() if self._usage is not None else {}).items():
            POOL_CONNECTIONS.labels(node=node, state="in_use").set(usage.in_use)
            POOL_CONNECTIONS.labels(node=node, state="idle").set(usage.idle)

    def writer_changed(self) -> None:
        WRITER_CHANGES.inc()


def observe_pool(pool: ReplicaPool) -> None:
    """Copy the monitor's latest observations into the gauges (after every check round)."""
    settings = pool.settings
    POOL_LIMIT.set(settings.db_pool_size + settings.db_max_overflow)
    LAG_LIMIT.set(settings.replica_max_lag_seconds)
    LAG_LIMIT_BYTES.set(settings.replica_max_lag_bytes)
    primary = pool.primary
    _set(NODE_UP, 1.0 if pool.primary_up else 0.0, node="primary", role="primary")
    _set(CHECK_LATENCY, primary.latency_ms and primary.latency_ms / 1000, node="primary")
    for replica in pool.replicas.values():
        _set(NODE_UP, 1.0 if replica.reachable else 0.0, node=replica.name, role="replica")
        _set(NODE_IN_ROTATION, 1.0 if replica.in_rotation else 0.0, node=replica.name)
        _set(LAG_BYTES, replica.lag_bytes, node=replica.name)
        _set(LAG_SECONDS, replica.lag_seconds, node=replica.name)
        _set(CHECK_LATENCY, replica.latency_ms and replica.latency_ms / 1000, node=replica.name)
    for state in BreakerState:
        _set(BREAKER, 1.0 if pool.breaker.state is state else 0.0, state=state.value)


def observe_backups(status: BackupStatus) -> None:
    """Copy a backup status reading into the gauges (after every reading)."""
    now = time.time()
    for kind, age in (
        ("backup", status.last_backup_age_seconds),
        ("verify", status.last_verify_age_seconds),
    ):
        _set(BACKUP_LAST_SUCCESS, None if age is None else now - age, kind=kind)
    verify_ok = status.last_verify_ok
    BACKUP_VERIFY_OK.set(float("nan") if verify_ok is None else float(verify_ok))
    streaming = status.archive_streaming
    ARCHIVE_STREAMING.set(float("nan") if streaming is None else float(streaming))
    lag = status.archive_lag_bytes
    ARCHIVE_LAG.set(float("nan") if lag is None else float(lag))


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint() -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)
