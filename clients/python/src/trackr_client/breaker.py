"""Each backend's circuit breaker: a backend that just failed is skipped for a cool-down.

closed ──failure──> open ──cool-down──> half-open (one trial request) ──success──> closed
                     ^                          │
                     └─────────failure──────────┘
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BackendBreaker:
    def __init__(
        self, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._opened_at = 0.0
        self.last_error: str | None = None

    def allow(self) -> bool:
        """May a request go to this backend now? Once the cool-down is over, one trial may."""
        if self.state is BreakerState.OPEN and (
            self._clock() - self._opened_at >= self.cooldown_seconds
        ):
            self.state = BreakerState.HALF_OPEN
            return True
        return self.state is BreakerState.CLOSED

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.last_error = None

    def record_failure(self, error: str) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()
        self.last_error = error
