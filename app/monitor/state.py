"""Up, degraded or down per backend, and drift across backends, with debouncing: no alert
on one blip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from app.monitor.probe import Check

EventKind = Literal["down", "up", "degraded", "healthy", "drifted", "recovered"]
Status = Literal["unknown", "up", "degraded", "down"]
Condition = Literal["up", "degraded", "down"]
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
    consecutive_failures: int = 0  # checks in a row that failed
    consecutive_unhealthy: int = 0  # checks in a row that failed or said degraded
    since: float | None = None  # when the current status began


def condition_of(check: Check) -> Condition:
    """What one check says: down (no good answer), degraded (the backend answers but says
    part of it is not working, e.g. writes while its primary is away) or up."""
    if not check.ok:
        return "down"
    return "degraded" if check.health == "degraded" else "up"


def reports_data(check: Check | None) -> bool:
    """The check carries the backend's data, so it takes part in the drift comparison."""
    return check is not None and check.ok and check.counts is not None


def drift_differences(checks: Iterable[Check], tolerance: int) -> list[str]:
    """What the reachable backends disagree on: schema revision, or a category's count by more
    than `tolerance` products. Backends that could not report their data are left out."""
    reporting = [c for c in checks if reports_data(c)]
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
    failed checks in a row; up (silently) or degraded on its first answer; degraded after
    as many checks in a row that failed or said degraded (the last of them degraded) when it
    was up; and better again on the first better check. Drift is raised after the same
    number of rounds in a row that disagree (replication catching up is not drift)."""

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

    def restore(
        self, open_states: Iterable[tuple[str, Status, float]], drift_since: float | None
    ) -> None:
        """Resume from the open incidents of an earlier run (no second alert for them)."""
        n = self.failures_before_down
        for name, status, since in open_states:
            if name in self.backends:
                failures = n if status == "down" else 0
                self.backends[name] = BackendState(status, failures, n, since)
        if drift_since is not None:
            self.drifted, self.drift_since = True, drift_since
            self.drift_rounds = self.failures_before_down

    def observe(self, check: Check) -> Event | None:
        state = self.backends[check.backend]
        condition = condition_of(check)
        state.consecutive_failures = state.consecutive_failures + 1 if condition == "down" else 0
        state.consecutive_unhealthy = state.consecutive_unhealthy + 1 if condition != "up" else 0
        if state.since is None:
            state.since = check.checked_at
        if condition == "up":
            return self._become(state, check, "up") if state.status != "up" else None
        if condition == "degraded":
            # Answering is known at once: a first verdict, or one better than down, is not
            # debounced; a fall from up is.
            if state.status in ("unknown", "down") or (
                state.status == "up" and state.consecutive_unhealthy >= self.failures_before_down
            ):
                return self._become(state, check, "degraded")
            return None
        if state.status != "down" and state.consecutive_failures >= self.failures_before_down:
            return self._become(state, check, "down")
        return None

    @staticmethod
    def _become(state: BackendState, check: Check, status: Condition) -> Event | None:
        before = state.status
        state.status, state.since = status, check.checked_at
        detail = check.error or "check failed"
        if status == "down":
            return Event("down", check.backend, check.checked_at, detail)
        if status == "degraded":
            again = "answering again, but " if before == "down" else ""
            return Event("degraded", check.backend, check.checked_at, again + detail)
        if before == "down":
            return Event("up", check.backend, check.checked_at, "answering again")
        if before == "degraded":
            return Event("healthy", check.backend, check.checked_at, "fully healthy again")
        return None  # the first verdict on a backend: nothing changed

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
        comparable = sum(1 for c in checks if reports_data(c)) >= 2
        if not comparable:
            return None  # nothing to compare: neither drift nor recovery is known
        self.drift_rounds, self.differences = 0, []
        if self.drifted:
            self.drifted, self.drift_since = False, None
            return Event("recovered", DRIFT, at, "backends agree again")
        return None
