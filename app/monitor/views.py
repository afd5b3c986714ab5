"""Assemble the monitor's state and store into the JSON API's documents."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app.monitor.config import BackendConfig
from app.monitor.probe import Check
from app.monitor.runner import DAY, Monitor
from app.monitor.schemas import BackendStatusOut, DriftOut, IncidentOut, PointOut, StatusOut
from app.monitor.state import reports_data
from app.monitor.store import Incident, Point

HISTORY_POINTS = 60


def utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def at(stamp: float | None) -> datetime | None:
    return None if stamp is None else utc(stamp)


def points(history: list[Point]) -> list[PointOut]:
    return [
        PointOut(at=utc(p.at), ok=p.ok, degraded=p.ok and p.health == "degraded",
                 latency_ms=p.latency_ms)
        for p in history
    ]  # fmt: skip


def incident_out(incident: Incident) -> IncidentOut:
    return IncidentOut(
        subject=incident.subject,
        kind=incident.kind,
        started_at=utc(incident.started_at),
        ended_at=at(incident.ended_at),
        detail=incident.detail,
    )


def _ago(check: Check | None, age_seconds: float | None) -> datetime | None:
    """When something happened, from its age as the backend reported it at the check."""
    if check is None or age_seconds is None:
        return None
    return utc(check.checked_at - age_seconds)


async def backend_status(monitor: Monitor, backend: BackendConfig, now: float) -> BackendStatusOut:
    check = monitor.latest.get(backend.name)
    data = monitor.last_reported.get(backend.name)  # last known, while the backend is down
    state = monitor.tracker.backends[backend.name]
    backups = check.backups if check else None
    uptime = monitor.uptime.get(backend.name)
    history = await monitor.store.history(backend.name, now - DAY, HISTORY_POINTS)
    changes = [
        stamp
        for stamp in (
            data.last_updated_at if data else None,
            await monitor.store.last_data_change(backend.name),
        )
        if stamp is not None
    ]
    return BackendStatusOut(
        name=backend.name,
        url=backend.url,
        status=state.status,
        status_since=at(state.since),
        consecutive_failures=state.consecutive_failures,
        health=check.health if check else None,
        last_checked_at=at(check.checked_at) if check else None,
        latency_ms=check.latency_ms if check else None,
        http_status=check.http_status if check else None,
        error=check.error if check else None,
        uptime_24h=uptime.day if uptime else None,
        uptime_7d=uptime.week if uptime else None,
        healthy_24h=uptime.healthy_day if uptime else None,
        healthy_7d=uptime.healthy_week if uptime else None,
        replica_lag_seconds=check.replica_lag_seconds if check else None,
        replica_lag_bytes=check.replica_lag_bytes if check else None,
        schema_revision=data.schema_revision if data else None,
        product_count=data.product_count if data else None,
        products_by_category=data.counts if data else None,
        last_data_change=at(max(changes)) if changes else None,
        last_backup_at=_ago(check, backups.last_backup_age_seconds if backups else None),
        last_verify_at=_ago(check, backups.last_verify_age_seconds if backups else None),
        last_verify_ok=backups.last_verify_ok if backups else None,
        wal_archive_streaming=backups.archive_streaming if backups else None,
        history=points(history),
    )


async def status_document(monitor: Monitor) -> StatusOut:
    now = time.time()
    tracker = monitor.tracker
    names = [b.name for b in monitor.settings.backends]
    return StatusOut(
        generated_at=utc(now),
        interval_seconds=monitor.settings.interval_seconds,
        refresh_seconds=monitor.settings.refresh_seconds,
        backends=[await backend_status(monitor, b, now) for b in monitor.settings.backends],
        drift=DriftOut(
            drifted=tracker.drifted,
            since=at(tracker.drift_since),
            tolerance=monitor.settings.drift_tolerance,
            differences=tracker.differences,
            compared=[n for n in names if reports_data(monitor.latest.get(n))],
            not_compared=[n for n in names if not reports_data(monitor.latest.get(n))],
        ),
        incidents=[incident_out(i) for i in await monitor.store.incidents(limit=20)],
    )
