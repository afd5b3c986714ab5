"""Up/down per backend and drift across backends, with debouncing: no alert on one blip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from app.monitor.probe import Check

EventKind = Literal["down", "up", "drifted", "recovered"]
Status = Literal["unknown", "up", "down"]
DRIFT = "drift"  # the subject of drift events and incidents


@dataclass(frozen=True)
class Event:
    kind: EventKind
    subject: str  # a backend's name, or DRIFT
    at: float
    detail: str


@dataclass
class BackendState:
    status: Status = "unknown"
    consecutive_failures: int = 0
    since: float | None = None  # when the current status began


def drift_differences(checks: Iterable[Check], tolerance: int) -> list[str]:
    """What the reachable backends disagree on: schema revision, or a category's count by more
    than `tolerance` products. Backends that could not report their data are left out."""
    reporting = [c for c in checks if c.ok and c.counts is not None]
    if len(reporting) < 2:
        return []
    differences: list[str] = []
    revisions = {c.backend: c.schema_revision for c in reporting}
    if len(set(revisions.values())) > 1:
        listed = ", ".join(f"{name}={rev}" for name, rev in revisions.items())
        differences.append(f"schema revision differs: {listed}")
    categories = sorted({name for c in reporting for name in c.counts or {}})
    for category in categories:
        counts = {c.backend: (c.counts or {}).get(category, 0) for c in reporting}
        if max(counts.values()) - min(counts.values()) > tolerance:
            listed = ", ".join(f"{name}={count}" for name, count in counts.items())
            differences.append(f"{category} products differ: {listed}")
    return differences


@dataclass
class Tracker:
    """Turns checks into state changes. A backend is down after `failures_before_down`
    failed checks in a row and up again on the first good one; drift is raised after the
    same number of rounds in a row that disagree (replication catching up is not drift)."""

    names: list[str]
    failures_before_down: int
    drift_tolerance: int
    backends: dict[str, BackendState] = field(init=False)
    drifted: bool = False
    drift_since: float | None = None
    drift_rounds: int = 0
    differences: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.backends = {name: BackendState() for name in self.names}

    def restore(self, down: Iterable[tuple[str, float]], drift_since: float | None) -> None:
        """Resume from the open incidents of an earlier run (no second alert for them)."""
        for name, since in down:
            if name in self.backends:
                self.backends[name] = BackendState("down", self.failures_before_down, since)
        if drift_since is not None:
            self.drifted, self.drift_since = True, drift_since
            self.drift_rounds = self.failures_before_down

    def observe(self, check: Check) -> Event | None:
        state = self.backends[check.backend]
        if check.ok:
            state.consecutive_failures = 0
            if state.status == "up":
                return None
            was_down = state.status == "down"
            state.status, state.since = "up", check.checked_at
            if was_down:
                return Event("up", check.backend, check.checked_at, "answering again")
            return None
        state.consecutive_failures += 1
        if state.status == "unknown" and state.since is None:
            state.since = check.checked_at
        if state.status != "down" and state.consecutive_failures >= self.failures_before_down:
            state.status, state.since = "down", check.checked_at
            return Event("down", check.backend, check.checked_at, check.error or "check failed")
        return None

    def observe_round(self, checks: list[Check]) -> Event | None:
        at = max((c.checked_at for c in checks), default=0.0)
        differences = drift_differences(checks, self.drift_tolerance)
        if differences:
            self.differences = differences
            self.drift_rounds += 1
            if not self.drifted and self.drift_rounds >= self.failures_before_down:
                self.drifted, self.drift_since = True, at
                return Event("drifted", DRIFT, at, "; ".join(differences))
            return None
        comparable = sum(1 for c in checks if c.ok and c.counts is not None) >= 2
        if not comparable:
            return None  # nothing to compare: neither drift nor recovery is known
        self.drift_rounds, self.differences = 0, []
        if self.drifted:
            self.drifted, self.drift_since = False, None
            return Event("recovered", DRIFT, at, "backends agree again")
        return None
