"""What the pool reports as it routes and checks, for metrics wired at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from app.db.replicas.pool import ReplicaPool


class PoolObserver(Protocol):
    def read_routed(self, target: str) -> None: ...
    def read_to_primary(self, reason: str) -> None: ...
    def token_live_check(self, caught_up: bool) -> None: ...
    def read_retried(self) -> None: ...
    def round_checked(self, pool: ReplicaPool) -> None: ...
    def writer_changed(self) -> None: ...


class NoObserver:
    def read_routed(self, target: str) -> None:
        pass

    def read_to_primary(self, reason: str) -> None:
        pass

    def token_live_check(self, caught_up: bool) -> None:
        pass

    def read_retried(self) -> None:
        pass

    def round_checked(self, pool: ReplicaPool) -> None:
        pass

    def writer_changed(self) -> None:
        pass
