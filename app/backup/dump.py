"""Logical backups for PostgreSQL that trackr does not run (Render's, Railway's): `pg_dump`
in the custom format to a store (a directory or S3), with a manifest of the figures the
database held in the dump's own snapshot, so `verify` can restore it and compare exactly.

The figures and the dump read one exported snapshot: whatever is written meanwhile, both
see the same database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from app.backup.barman import BackupError
from app.backup.figures import ABSENT, TABLES_PRESENT, differences, figure_queries
from app.backup.store import Store

PREFIX = "dumps/"
SCRATCH_MARKER = "trackr_backup_scratch"  # a database verify may wipe holds this table
TIMEOUT = 30.0


@dataclass(frozen=True)
class Dump:
    dump_id: str
    started: str  # ISO 8601, UTC
    seconds: float
    size_bytes: int
    sha256: str
    server_version: str
    figures: dict[str, str]

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.started)

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.dump_id}.dump"

    @property
    def manifest_key(self) -> str:
        return f"{PREFIX}{self.dump_id}.json"


@dataclass(frozen=True)
class DumpVerification:
    dump: Dump
    restored: dict[str, str]
    seconds: float

    @property
    def differences(self) -> list[str]:
        return differences(self.dump.figures, self.restored, "dumped")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class PgTool:
    """pg_dump or pg_restore, and how long a run may take (BACKUP_TOOL_TIMEOUT_SECONDS)."""

    path: str
    timeout: float

    @property
    def name(self) -> str:
        return Path(self.path).name


async def _run(tool: PgTool, *args: str) -> None:
    """Run the tool; a hung or cut-off server fails it after its timeout."""
    process = await asyncio.create_subprocess_exec(
        tool.path, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), tool.timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BackupError(f"{tool.name} did not finish within {tool.timeout:.0f} s") from None
    if process.returncode != 0:
        detail = err.decode().strip()[-2000:]
        raise BackupError(f"{tool.name} failed ({process.returncode}): {detail}")


async def _figures(connection: asyncpg.Connection) -> dict[str, str]:
    queries = figure_queries(await connection.fetchval(TABLES_PRESENT))
    return {name: str(await connection.fetchval(q)) if q else ABSENT for name, q in queries.items()}


async def _take(database_url: str, pg_dump: PgTool, target: Path) -> tuple[str, dict[str, str]]:
    connection = await asyncpg.connect(database_url, timeout=TIMEOUT, command_timeout=TIMEOUT)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
            figures = await _figures(connection)
            version = await connection.fetchval("SHOW server_version")
            await _run(
                pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                f"--snapshot={snapshot}", f"--file={target}", f"--dbname={database_url}",
            )  # fmt: skip
        return str(version), figures
    finally:
        await connection.close(timeout=TIMEOUT)


def take_dump(database_url: str, store: Store, pg_dump: PgTool) -> Dump:
    """Dump the database into the store, manifest last (a dump without one is incomplete)."""
    now = datetime.now(UTC)
    dump_id = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trackr-dump-") as tmp:
        file = Path(tmp) / "dump"
        version, figures = asyncio.run(_take(database_url, pg_dump, file))
        dump = Dump(
            dump_id=dump_id,
            started=now.isoformat(),
            seconds=round(time.monotonic() - started, 3),
            size_bytes=file.stat().st_size,
            sha256=_sha256(file),
            server_version=version,
            figures=figures,
        )
        store.put(dump.key, file)
        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps(asdict(dump), indent=2))
        store.put(dump.manifest_key, manifest)
    return dump


def list_dumps(store: Store) -> list[Dump]:
    """Complete dumps (those with a manifest), newest first."""
    dumps = []
    with tempfile.TemporaryDirectory(prefix="trackr-dump-") as tmp:
        for key in store.keys(PREFIX):
            if key.endswith(".json"):
                target = Path(tmp) / "manifest.json"
                store.get(key, target)
                dumps.append(Dump(**json.loads(target.read_text())))
    return sorted(dumps, key=lambda d: d.started, reverse=True)


def prune(store: Store, retention_days: int, now: datetime | None = None) -> list[Dump]:
    """Delete dumps older than the retention; the newest one is always kept. The removed."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    removed = [d for d in list_dumps(store)[1:] if d.started_at < cutoff]
    for dump in removed:
        store.delete(dump.manifest_key)  # first: a dump without its manifest is not listed
        store.delete(dump.key)
    return removed


def _find(store: Store, dump_id: str | None) -> Dump:
    dumps = list_dumps(store)
    if not dumps:
        raise BackupError(f"there is no dump in {store.describe()}: `trackr backup create`")
    if dump_id is None:
        return dumps[0]
    for dump in dumps:
        if dump.dump_id == dump_id:
            return dump
    raise BackupError(f"no dump {dump_id} in {store.describe()}")


def _fetch(store: Store, dump: Dump, target: Path) -> None:
    store.get(dump.key, target)
    if _sha256(target) != dump.sha256:
        raise BackupError(f"dump {dump.dump_id} does not match its manifest's checksum")


async def _tables(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return [row["tablename"] for row in rows]


async def _restore_into(target_url: str, pg_restore: PgTool, file: Path, *, scratch: bool) -> None:
    connection = await asyncpg.connect(target_url, timeout=TIMEOUT, command_timeout=TIMEOUT)
    try:
        tables = await _tables(connection)
        if scratch:
            if tables and SCRATCH_MARKER not in tables:
                raise BackupError(
                    "the verify database holds tables verify did not put there: give it an "
                    "empty database of its own (it is wiped before each verify)"
                )
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            await connection.execute(f"CREATE TABLE {SCRATCH_MARKER} ()")
        elif tables:
            raise BackupError(
                f"the target database is not empty ({len(tables)} tables): restore into a new "
                "one, never over a database in use"
            )
    finally:
        await connection.close(timeout=TIMEOUT)
    await _run(
        pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
        f"--dbname={target_url}", str(file),
    )  # fmt: skip


def restore_dump(store: Store, dump_id: str | None, target_url: str, pg_restore: PgTool) -> Dump:
    """Restore a dump (the newest by default) into an empty database."""
    dump = _find(store, dump_id)
    with tempfile.TemporaryDirectory(prefix="trackr-dump-") as tmp:
        file = Path(tmp) / "dump"
        _fetch(store, dump, file)
        asyncio.run(_restore_into(target_url, pg_restore, file, scratch=False))
    return dump


async def _figures_at(url: str) -> dict[str, str]:
    connection = await asyncpg.connect(url, timeout=TIMEOUT, command_timeout=TIMEOUT)
    try:
        return await _figures(connection)
    finally:
        await connection.close(timeout=TIMEOUT)


def verify_dump(store: Store, scratch_url: str, pg_restore: PgTool) -> DumpVerification:
    """Restore the newest dump into the scratch database and compare its figures with the
    ones the database held in the dump's snapshot."""
    started = time.monotonic()
    dump = _find(store, None)
    with tempfile.TemporaryDirectory(prefix="trackr-dump-") as tmp:
        file = Path(tmp) / "dump"
        _fetch(store, dump, file)
        asyncio.run(_restore_into(scratch_url, pg_restore, file, scratch=True))
    restored = asyncio.run(_figures_at(scratch_url))
    return DumpVerification(dump, restored, time.monotonic() - started)
