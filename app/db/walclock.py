"""How many seconds a replica is behind, measured against the primary's own WAL timeline.

`now() - pg_last_xact_replay_timestamp()` misreads in two ways: an idle primary makes a
caught-up replica look old, and WAL that carries no transaction (a checkpoint after a restart)
makes it look minutes behind. Instead the monitor samples the primary's WAL position on every
check; a replica at replay position R lacks exactly the WAL the primary wrote after the last
sample at or below R, so it is behind by the age of the first sample beyond R.
"""

from __future__ import annotations

from collections import deque


class WalClock:
    def __init__(self, max_samples: int = 3600) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=max_samples)

    def record(self, at: float, lsn: int) -> None:
        if self._samples and lsn <= self._samples[-1][1]:
            return  # only the first moment each position was seen matters
        self._samples.append((at, lsn))

    def seconds_behind(self, replay_lsn: int, now: float) -> float | None:
        """0 when caught up with the latest sample; None with no samples (primary unseen)."""
        if not self._samples:
            return None
        if replay_lsn >= self._samples[-1][1]:
            return 0.0
        for at, lsn in self._samples:
            if lsn > replay_lsn:
                return max(0.0, now - at)
        return 0.0  # unreachable: the last sample is beyond replay_lsn
