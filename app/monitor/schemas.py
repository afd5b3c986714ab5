"""The monitor's JSON API (the page renders exactly this)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class PointOut(BaseModel):
    at: datetime
    ok: bool
    degraded: bool  # answered, but said part of it is not working
    latency_ms: float | None


class BackendStatusOut(BaseModel):
    name: str
    url: str
    status: Literal["unknown", "up", "degraded", "down"]
    status_since: datetime | None
    consecutive_failures: int
    health: str | None  # the backend's own verdict: ok | degraded | down
    last_checked_at: datetime | None
    latency_ms: float | None
    http_status: int | None
    error: str | None
    uptime_24h: float | None  # 0..1 share of checks answered (available, degraded or not)
    uptime_7d: float | None
    healthy_24h: float | None  # 0..1 share of checks that found it fully healthy
    healthy_7d: float | None
    replica_lag_seconds: float | None
    replica_lag_bytes: int | None
    schema_revision: str | None
    product_count: int | None
    products_by_category: dict[str, int] | None
    last_data_change: datetime | None
    # From the backend's /health `backups` section; null when it did not say.
    last_backup_at: datetime | None
    last_verify_at: datetime | None
    last_verify_ok: bool | None
    wal_archive_streaming: bool | None
    history: list[PointOut]


class DriftOut(BaseModel):
    drifted: bool
    since: datetime | None
    tolerance: int
    differences: list[str]
    compared: list[str]  # the backends whose data the last round compared
    not_compared: list[str]  # down, or not reporting their data: agreement unknown


class IncidentOut(BaseModel):
    subject: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    detail: str


class StatusOut(BaseModel):
    generated_at: datetime
    interval_seconds: float
    refresh_seconds: float
    backends: list[BackendStatusOut]
    drift: DriftOut
    incidents: list[IncidentOut]
