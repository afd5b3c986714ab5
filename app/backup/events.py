"""Each `trackr backup create` and `verify` leaves a row in `backup_events` on the primary,
failed or not: it replicates, and every API node reports from it (/health, /metrics)."""

from __future__ import annotations

import asyncio

import asyncpg

INSERT = "INSERT INTO backup_events (kind, ok, backup_id, detail) VALUES ($1, $2, $3, $4)"


async def _record(
    database_url: str, kind: str, ok: bool, backup_id: str | None, detail: str | None
) -> str | None:
    # One deadline per step: a primary that hangs after the connect holds no backup job.
    connection = await asyncpg.connect(database_url, timeout=5, command_timeout=5)
    try:
        if await connection.fetchval("SELECT to_regclass('backup_events') IS NULL"):
            return "the database has no backup_events table yet (`trackr db upgrade`)"
        await connection.execute(INSERT, kind, ok, backup_id, detail)
        return None
    finally:
        await connection.close(timeout=5)


def record(
    database_url: str,
    kind: str,
    ok: bool,
    backup_id: str | None = None,
    detail: str | None = None,
) -> str | None:
    """Write the event; a reason when it could not be written (the job's own outcome stands
    either way: a primary that is down is no reason to hide a backup)."""
    try:
        return asyncio.run(_record(database_url, kind, ok, backup_id, detail))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"the event was not recorded: {exc.__class__.__name__}: {exc}"
