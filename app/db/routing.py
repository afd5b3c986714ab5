"""RoutingSession: one sync Session subclass that picks the bind for each statement.

AsyncSession runs its sync session under the hood, so routing lives in the sync `get_bind()`
(passed via `sync_session_class`). A read session is pinned to the replica chosen for it; any
write (INSERT/UPDATE/DELETE, SELECT ... FOR UPDATE, a flush) goes to the primary and pins the
rest of the session there, so one request never splits its view across nodes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import UpdateBase


def is_write(clause: ClauseElement | None) -> bool:
    if isinstance(clause, UpdateBase):
        return True
    return isinstance(clause, Select) and clause._for_update_arg is not None


class RoutingSession(Session):
    def __init__(
        self,
        *,
        primary: AsyncEngine,
        reader: AsyncEngine | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._primary = primary.sync_engine
        self._replica = reader.sync_engine if reader is not None else None
        self._pinned_to_primary = reader is None

    @property
    def on_primary(self) -> bool:
        return self._pinned_to_primary

    def retarget(self, reader: AsyncEngine) -> None:
        """Point a session with no open transaction's reads at another engine."""
        self._replica = reader.sync_engine
        self._pinned_to_primary = False

    def get_bind(self, mapper: Any = None, clause: Any = None, **kwargs: Any) -> Engine:
        # Reads use `reader` (a replica, or the primary's autocommit view); writes the primary.
        if self._pinned_to_primary or self._replica is None:
            return self._primary
        if self._flushing or is_write(clause):
            self._pinned_to_primary = True
            return self._primary
        return self._replica
