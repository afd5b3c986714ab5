"""What makes a backup command fit for a scheduler: one job at a time across every machine
(an advisory lock on the database being backed up, which every platform's jobs reach),
retries with exponential backoff (tenacity), and an exit status the platform alerts on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import asyncpg
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from app.backup.barman import BackupError

T = TypeVar("T")
# Any constant shared by every trackr backup job; pg_locks shows it as objid.
LOCK_KEY = 0x74726B62  # "trkb"
EXIT_LOCKED = 75  # EX_TEMPFAIL: another job runs; this one did nothing
TIMEOUT = 30.0
RETRYABLE = (BackupError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class JobLocked(Exception):
    pass


class _Holder(threading.Thread):
    """Holds the session-level advisory lock on its own connection and event loop, so the
    job (blocking subprocesses, its own event loops) runs while it is held."""

    def __init__(self, database_url: str) -> None:
        super().__init__(name="backup-lock", daemon=True)
        self.database_url = database_url
        self.acquired = threading.Event()
        self.release = threading.Event()
        self.outcome: bool | BaseException | None = None

    def run(self) -> None:
        asyncio.run(self._hold())

    async def _hold(self) -> None:
        try:
            connection = await asyncpg.connect(
                self.database_url, timeout=TIMEOUT, command_timeout=TIMEOUT
            )
        except BaseException as exc:
            self.outcome = exc
            self.acquired.set()
            return
        try:
            got = await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
            self.outcome = bool(got)
            self.acquired.set()
            if got:
                await asyncio.to_thread(self.release.wait)
        except BaseException as exc:
            self.outcome = exc
            self.acquired.set()
        finally:
            # Closing the session releases the lock, whatever state the job left.
            connection.terminate()


@contextmanager
def job_lock(database_url: str) -> Iterator[None]:
    holder = _Holder(database_url)
    holder.start()
    holder.acquired.wait(TIMEOUT * 2)
    try:
        if isinstance(holder.outcome, BaseException):
            raise BackupError(f"could not take the backup lock: {holder.outcome}")
        if holder.outcome is None:
            raise BackupError("could not take the backup lock: the database did not answer")
        if holder.outcome is not True:
            raise JobLocked("another backup job is running (it holds the backup lock)")
        yield
    finally:
        holder.release.set()
        holder.join(TIMEOUT)


def run_job(
    database_url: str,
    job: Callable[[], T],
    *,
    retries: int,
    first_wait: float,
    on_retry: Callable[[int, BaseException, float], None],
) -> T:
    """`job` under the lock, attempted up to `retries` more times after a failure, waiting
    `first_wait` seconds and doubling (to at most ten minutes)."""

    def report(state: RetryCallState) -> None:
        assert state.outcome is not None
        assert state.next_action is not None
        error = state.outcome.exception()
        assert error is not None
        on_retry(state.attempt_number, error, state.next_action.sleep)

    def locked() -> T:
        with job_lock(database_url):
            return job()

    for attempt in Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential(multiplier=first_wait, max=600),
        retry=retry_if_exception_type(RETRYABLE),
        before_sleep=report,
        reraise=True,
    ):
        with attempt:
            return locked()
    raise AssertionError("unreachable")  # Retrying either returns or raises
