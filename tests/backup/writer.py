"""A steady writer for the backup drills: products inserted one at a time on a thread of
its own, each acknowledged one recorded with when its request started and was answered."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

INSERT = (
    "INSERT INTO products (category, name, price, currency, in_stock, attributes) "
    "VALUES ($1, $2, $3, 'EUR', true, $4::jsonb) RETURNING id"
)
ATTRIBUTES = {"mac": '{"chip": "M2", "ram_gb": 16, "year": 2023}', "games": '{"platform": "PC"}'}


@dataclass(frozen=True)
class Acknowledged:
    id: int
    started: float  # time.time() when the INSERT was sent
    acked: float  # time.time() when its commit was acknowledged


class Writer:
    def __init__(self, dsn: str, limit: int = 100_000, seconds: float = 300) -> None:
        self.dsn = dsn
        self.limit = limit
        self.seconds = seconds
        self.acknowledged: list[Acknowledged] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def wait_failed(self, timeout: float = 30) -> BaseException:
        """The error that ended the writer (its server went away), once it has ended."""
        self._thread.join(timeout=timeout)
        assert self.error is not None, f"the writer was still writing after {timeout} s"
        return self.error

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        target = len(self.acknowledged) + count
        while len(self.acknowledged) < target:
            assert self.error is None, f"the writer failed: {self.error!r}"
            assert time.monotonic() < deadline, f"fewer than {count} writes in {timeout} s"
            time.sleep(0.01)

    async def _run(self) -> None:
        connection = await asyncpg.connect(self.dsn)
        deadline = time.monotonic() + self.seconds
        try:
            for n in range(self.limit):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                category = "mac" if n % 2 else "games"
                started = time.time()
                row_id = await connection.fetchval(
                    INSERT, category, f"drill {n}", n, ATTRIBUTES[category]
                )
                self.acknowledged.append(Acknowledged(row_id, started, time.time()))
        # InternalClientError: the server's FATAL was read mid-statement (app/db/failures.py).
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            self.error = exc  # the primary went away: what was acknowledged is recorded
        finally:
            connection.terminate()


def writes_around_a_moment(dsn: str, count: int = 200) -> tuple[Writer, datetime]:
    """A writer that wrote `count` rows before a moment T and `count` after it, then stopped:
    the drills' 'keep writing; note T; keep writing'."""
    with Writer(dsn) as writer:
        writer.wait_for(count)
        moment = datetime.now(UTC)
        writer.wait_for(count)
    return writer, moment
