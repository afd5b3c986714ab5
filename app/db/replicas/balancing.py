"""Read balancing strategies: which of the qualified replicas serves the next read."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from app.config import ReadBalancing
from app.db.replicas.nodes import ReplicaHealth


def least_lag(candidates: Sequence[ReplicaHealth]) -> ReplicaHealth:
    return min(candidates, key=lambda r: (r.lag_bytes or 0, r.latency_ms or 0.0))


def smooth_weighted(candidates: Sequence[ReplicaHealth], current: dict[str, int]) -> ReplicaHealth:
    """Smooth weighted round robin (nginx's): an even spread in exact proportions."""
    total = sum(r.weight for r in candidates)
    for replica in candidates:
        current[replica.name] = current.get(replica.name, 0) + replica.weight
    chosen = max(candidates, key=lambda r: current[r.name])
    current[chosen.name] -= total
    return chosen


def nearest(candidates: Sequence[ReplicaHealth], site: str) -> Sequence[ReplicaHealth]:
    """The replicas at this API node's site (TRACKR_SITE), else every replica: a read
    crosses to another provider only when its own site has none to offer."""
    local = [r for r in candidates if site and r.site == site]
    return local or candidates


class Balancer:
    """The strategies' state across reads: the round-robin turn and the smooth weights."""

    def __init__(self) -> None:
        self._turn = itertools.count()
        self._current_weights: dict[str, int] = {}

    def pick(
        self, mode: ReadBalancing, candidates: Sequence[ReplicaHealth], site: str = ""
    ) -> ReplicaHealth:
        if mode == "least_lag":
            return least_lag(candidates)
        if mode == "weighted":
            return smooth_weighted(candidates, self._current_weights)
        if mode == "nearest":
            candidates = nearest(candidates, site)
        return candidates[next(self._turn) % len(candidates)]
