"""A circuit breaker for the primary: requests never wait on a host known to be dead.

closed ──failure──> open ──cool-down──> half-open (one trial) ──success──> closed
                     ^                        │
                     └────────failure─────────┘
The replica monitor feeds it too: a failed primary check opens it, a good one closes it.
Once the monitor runs it is `probed`: it probes the primary every RECOVERY_PROBE_SECONDS
while the breaker is not closed, so no request is sent as a trial. A trial to a silent host
would wait out its whole deadline while the monitor's probe already knows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self.state = BreakerState.CLOSED
        self._opened_at = 0.0
        self.last_error: str | None = None
        self.opened_total = 0
        self.probed = False  # True: only the monitor's probes test an open breaker

    def allow(self) -> bool:
        """May a request try the primary now? In half-open, only one trial at a time."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.probed:
            return False
        if (
            self.state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.cooldown_seconds
        ):
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.last_error = None

    def record_failure(self, error: str) -> None:
        if self.state is BreakerState.CLOSED:  # a failed half-open trial is the same outage
            self.opened_total += 1
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()
        self.last_error = error

    def retry_after_seconds(self) -> int:
        remaining = self.cooldown_seconds - (self._clock() - self._opened_at)
        return max(1, math.ceil(remaining))
