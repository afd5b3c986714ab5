"""Whether this API node's site is cut off from the others, by how many Patroni members it
reaches. With one etcd member and one Patroni node per site, reaching no more than half of
them means the site is on the minority side of a partition: the others can elect a leader
and take writes it will never see, so its replicas' data goes stale without limit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("trackr.replicas")


@dataclass
class Reachability:
    answered: int | None = None
    total: int | None = None
    minority_since: float | None = None  # monotonic

    def record(self, answered: int, total: int, now: float) -> None:
        self.answered, self.total = answered, total
        if answered * 2 <= total:
            if self.minority_since is None:
                log.warning("this node reaches %d of %d Patroni members: cut off", answered, total)
                self.minority_since = now
        elif self.minority_since is not None:
            log.warning("this node reaches %d of %d Patroni members again", answered, total)
            self.minority_since = None

    def cut_off_for(self, now: float) -> float | None:
        """Seconds since this node last reached a majority; None while it does."""
        return None if self.minority_since is None else now - self.minority_since
