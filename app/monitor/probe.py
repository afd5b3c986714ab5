"""One check of one backend: `/health` (up, latency, replica lag) and `/api/stats` (data)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from app.monitor.config import BackendConfig
from app.stats.schemas import StatsOut


@dataclass(frozen=True)
class BackupsSeen:
    """The backups as one backend reports them (`/health` → `backups`), ages as of its check."""

    last_backup_age_seconds: float | None
    last_verify_age_seconds: float | None
    last_verify_ok: bool | None
    archive_streaming: bool | None


@dataclass(frozen=True)
class Check:
    backend: str
    checked_at: float  # unix seconds
    ok: bool
    latency_ms: float | None = None  # the /health round trip
    http_status: int | None = None
    error: str | None = None
    health: str | None = None  # the backend's own verdict: ok | degraded | down
    replica_lag_seconds: float | None = None  # the most lagging replica in rotation
    replica_lag_bytes: int | None = None
    schema_revision: str | None = None
    counts: dict[str, int] | None = None  # None: the backend did not say
    last_updated_at: float | None = None
    backups: BackupsSeen | None = None  # None: the backend did not say

    @property
    def product_count(self) -> int | None:
        return None if self.counts is None else sum(self.counts.values())


KINDS: dict[type[httpx.HTTPError], str] = {
    httpx.ConnectError: "connection refused or unreachable",
    httpx.ConnectTimeout: "connect timed out",
    httpx.ReadTimeout: "no answer within the timeout",
}


def _describe(exc: httpx.HTTPError) -> str:
    kind = KINDS.get(type(exc), type(exc).__name__)
    return f"{kind}: {exc}" if str(exc) else kind


def _worst_lag(report: dict[str, Any]) -> tuple[float | None, int | None]:
    replicas = report.get("database", {}).get("replicas", [])
    rotating = [r for r in replicas if isinstance(r, dict) and r.get("in_rotation")]
    seconds = [r["lag_seconds"] for r in rotating if r.get("lag_seconds") is not None]
    sizes = [r["lag_bytes"] for r in rotating if r.get("lag_bytes") is not None]
    return (max(seconds) if seconds else None), (max(sizes) if sizes else None)


def _backups(report: dict[str, Any]) -> BackupsSeen | None:
    section = report.get("backups")
    if not isinstance(section, dict):
        return None

    def number(name: str) -> float | None:
        value = section.get(name)
        return float(value) if isinstance(value, int | float) and value >= 0 else None

    def flag(name: str) -> bool | None:
        value = section.get(name)
        return value if isinstance(value, bool) else None

    return BackupsSeen(
        last_backup_age_seconds=number("last_backup_age_seconds"),
        last_verify_age_seconds=number("last_verify_age_seconds"),
        last_verify_ok=flag("last_verify_ok"),
        archive_streaming=flag("archive_streaming"),
    )


async def _stats(client: httpx.AsyncClient, backend: BackendConfig) -> StatsOut | None:
    """Counts and schema revision; None when the backend cannot say (old version, error)."""
    try:
        response = await client.get(f"{backend.url}/api/stats")
        if response.status_code != 200:
            return None
        return StatsOut.model_validate_json(response.content)
    except (httpx.HTTPError, ValidationError):
        return None


async def probe(client: httpx.AsyncClient, backend: BackendConfig) -> Check:
    checked_at = time.time()
    started = time.perf_counter()
    try:
        response = await client.get(f"{backend.url}/health")
    except httpx.HTTPError as exc:
        return Check(backend.name, checked_at, ok=False, error=_describe(exc))
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    try:
        report = response.json()
    except ValueError:
        report = None
    if not isinstance(report, dict):
        garbled = f"/health answered {response.status_code} without a JSON report"
        return Check(backend.name, checked_at, False, latency_ms, response.status_code, garbled)
    health = report.get("status") if isinstance(report.get("status"), str) else None
    lag_seconds, lag_bytes = _worst_lag(report)
    ok = response.status_code == 200
    reasons = "; ".join(map(str, report.get("reasons") or [health or "unhealthy"]))
    error = None
    if not ok:
        error = f"/health answered {response.status_code}: {reasons}"
    elif health == "degraded":
        error = f"degraded: {reasons}"
    stats = await _stats(client, backend) if ok else None
    return Check(
        backend=backend.name,
        checked_at=checked_at,
        ok=ok,
        latency_ms=latency_ms,
        http_status=response.status_code,
        error=error,
        health=health,
        replica_lag_seconds=lag_seconds,
        replica_lag_bytes=lag_bytes,
        schema_revision=stats.schema_revision if stats else None,
        counts=stats.products_by_category if stats else None,
        last_updated_at=stats.last_updated_at.timestamp()
        if stats and stats.last_updated_at
        else None,
        backups=_backups(report),
    )
