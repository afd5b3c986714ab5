"""What the backups look like from an API node: the age of the last good backup and verify
(the jobs' rows in `backup_events`) and whether the WAL archive streams from the primary.

Read every BACKUP_STATUS_INTERVAL_SECONDS in the background, never per request; shown in
/health and /metrics and never part of readiness (an old backup is an operator's alarm, not a
reason to stop serving).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("trackr.backups")

STREAMER = "barman_receive_wal"  # the application_name barman's pg_receivewal connects with
HAS_EVENTS = text("SELECT to_regclass('backup_events') IS NOT NULL")
EVENTS = text(
    """
    SELECT
      (SELECT extract(epoch FROM now() - max(finished_at))
         FROM backup_events WHERE kind = 'backup' AND ok) AS backup_age,
      (SELECT extract(epoch FROM now() - max(finished_at))
         FROM backup_events WHERE kind = 'verify' AND ok) AS verify_age,
      (SELECT ok FROM backup_events WHERE kind = 'verify'
         ORDER BY finished_at DESC LIMIT 1) AS last_verify_ok
    """
)
# The streamer reports its position every 10 s (pg_receivewal's status interval) and at each
# segment's end, so the lag reads as much as that stale. Reading another session's positions
# takes pg_read_all_stats (granted to the app role where trackr creates it), else NULL.
ARCHIVE = text(
    f"""
    SELECT count(*) > 0 AS streaming,
           max(pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn))::bigint AS lag_bytes
      FROM pg_stat_replication WHERE application_name = '{STREAMER}'
    """
)


@dataclass(frozen=True)
class BackupStatus:
    checked_at: float  # time.monotonic() of the reading
    last_backup_age_seconds: float | None = None
    last_verify_age_seconds: float | None = None
    last_verify_ok: bool | None = None
    archive_streaming: bool | None = None
    archive_lag_bytes: int | None = None
    error: str | None = None


async def read_status(engine: AsyncEngine) -> BackupStatus:
    async with engine.connect() as connection:
        archive = (await connection.execute(ARCHIVE)).one()
        events = None
        if await connection.scalar(HAS_EVENTS):
            events = (await connection.execute(EVENTS)).one()
    return BackupStatus(
        checked_at=time.monotonic(),
        last_backup_age_seconds=_seconds(events.backup_age) if events else None,
        last_verify_age_seconds=_seconds(events.verify_age) if events else None,
        last_verify_ok=events.last_verify_ok if events else None,
        archive_streaming=bool(archive.streaming),
        archive_lag_bytes=archive.lag_bytes,
    )


def _seconds(value: object) -> float | None:
    return None if value is None else round(float(str(value)), 1)


class BackupWatcher:
    """The latest `BackupStatus`, refreshed in the background on the primary."""

    def __init__(
        self,
        engine: AsyncEngine,
        interval_seconds: float,
        observe: Callable[[BackupStatus], None] = lambda status: None,
        timeout: float = 5,
    ) -> None:
        self.engine = engine
        self.interval_seconds = interval_seconds
        self.observe = observe
        self.timeout = timeout
        self.status: BackupStatus | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                self.status = await read_status(self.engine)
            self.observe(self.status)
        except Exception as exc:  # the primary may be away: say so, keep the last figures
            previous = self.status or BackupStatus(checked_at=time.monotonic())
            self.status = replace(previous, error=f"{exc.__class__.__name__}: {exc}"[:300])
            log.info("backup status not read: %s", exc.__class__.__name__)

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval_seconds)
