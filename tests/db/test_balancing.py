"""Read balancing modes over replicas whose health is set directly (selection logic only)."""

from __future__ import annotations

from collections import Counter

from app.config import Settings
from app.db.replicas import ReplicaPool


def pool(mode: str, weights: str = "") -> ReplicaPool:
    settings = Settings(
        app_env="test",
        database_replica_urls="a=postgresql://h:1/t,b=postgresql://h:2/t,c=postgresql://h:3/t",
        read_balancing=mode,
        replica_weights=weights,
    )
    replica_pool = ReplicaPool.from_settings(settings)
    for lag, replica in zip((300, 100, 200), replica_pool.replicas.values(), strict=True):
        replica.healthy = True
        replica.lag_bytes = lag
        replica.replay_lsn = 1000 - lag
    return replica_pool


def picks(replica_pool: ReplicaPool, n: int, **kwargs: object) -> Counter[str | None]:
    chosen = (replica_pool.choose(**kwargs) for _ in range(n))  # type: ignore[arg-type]
    return Counter(r.name if r else None for r in chosen)


def test_round_robin_spreads_evenly() -> None:
    assert picks(pool("round_robin"), 30) == {"a": 10, "b": 10, "c": 10}


def test_weighted_follows_the_weights_exactly() -> None:
    assert picks(pool("weighted", "a=3,b=1"), 50) == {"a": 30, "b": 10, "c": 10}


def test_least_lag_prefers_the_freshest() -> None:
    assert picks(pool("least_lag"), 5) == {"b": 5}


def test_primary_mode_sends_everything_to_the_primary() -> None:
    replica_pool = pool("primary")
    assert picks(replica_pool, 4) == {None: 4}
    assert replica_pool.reads_to_primary["balancing mode is primary"] == 4


def test_token_excludes_replicas_that_have_not_replayed_it() -> None:
    replica_pool = pool("round_robin")
    assert set(picks(replica_pool, 6, min_lsn=790)) == {"b", "c"}
    assert picks(replica_pool, 2, min_lsn=950) == {None: 2}


def test_drained_and_excluded_replicas_are_skipped() -> None:
    replica_pool = pool("round_robin")
    replica_pool.replicas["a"].drained = True
    assert set(picks(replica_pool, 6, exclude=frozenset({"b"}))) == {"c"}


def test_mark_down_takes_a_replica_out_at_once() -> None:
    replica_pool = pool("round_robin")
    replica_pool.mark_down("a", "ConnectionResetError")
    assert "a" not in picks(replica_pool, 6)
    assert replica_pool.replicas["a"].failed_reads == 1


def test_primary_mode_offers_no_replica_for_a_live_token_check() -> None:
    replica_pool = pool("primary")
    assert replica_pool.freshest() is None  # the operator's "all reads to the primary" holds


def test_a_deferred_token_fallback_is_counted_once_by_the_caller() -> None:
    replica_pool = pool("round_robin")
    reason = "no replica has replayed the consistency token"
    assert replica_pool.choose(min_lsn=950, defer_token_fallback=True) is None
    assert replica_pool.reads_to_primary[reason] == 0
    freshest = replica_pool.freshest()
    assert freshest is not None
    replica_pool.record_live_token_check(freshest, 950, reached=True)
    assert replica_pool.reads_to_primary[reason] == 0
    assert freshest.reads_routed == 1
    replica_pool.token_fallback()
    assert replica_pool.reads_to_primary[reason] == 1


def test_nearest_prefers_this_sites_replicas_then_any() -> None:
    replica_pool = pool("nearest")
    sites = {"a": "render", "b": "railway", "c": "railway"}
    for name, site in sites.items():
        replica_pool.replicas[name].site = site
    replica_pool.settings = replica_pool.settings.model_copy(update={"trackr_site": "railway"})
    assert picks(replica_pool, 10) == {"b": 5, "c": 5}
    replica_pool.replicas["b"].healthy = replica_pool.replicas["c"].healthy = False
    assert picks(replica_pool, 3) == {"a": 3}  # no replica here: another site's
    replica_pool.replicas["a"].healthy = False
    assert picks(replica_pool, 2) == {None: 2}  # none anywhere: the primary
    assert replica_pool.reads_to_primary["no replica in rotation"] == 2
