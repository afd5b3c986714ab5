"""trackr on Patroni under load: a switchover, a SIGKILLed leader and a lost standby, each
through the multi-host URL with PATRONI_URLS discovery and through HAProxy's ports."""

from __future__ import annotations

import pytest

from tests.ha import drills
from tests.ha.drills import HaStage

pytestmark = pytest.mark.slow


@pytest.fixture(params=["ha_stage", "proxied_stage"], ids=["multi-host", "haproxy"])
def stage(request: pytest.FixtureRequest) -> HaStage:
    chosen: HaStage = request.getfixturevalue(request.param)
    return chosen


def test_switchover_loses_no_read_and_no_acknowledged_write(stage: HaStage) -> None:
    result = drills.run_drill(stage, "switchover", drills.switchover, duration=15)
    assert result.failed("read") == 0, str(result)
    assert result.failed("token_read") == 0, str(result)
    assert result.new_leader is not None, "no node was promoted"
    # Patroni's own switchover (demote, then promote) took 2.4-3.3 s on this machine, with or
    # without trackr's changes: what trackr answers for is the time after it. The whole gap
    # stays bounded too.
    assert result.first_write_after_promotion is not None
    assert result.first_write_after_promotion <= 1.0, str(result)
    assert result.write_gap_seconds is not None
    assert result.promotion_seconds is not None
    assert result.write_gap_seconds <= result.promotion_seconds + 1.0, str(result)
    assert result.missing_acknowledged == []


def test_killed_leader_loses_no_read_and_writes_return_within_a_second(stage: HaStage) -> None:
    result = drills.run_drill(stage, "leader killed", drills.kill_leader, duration=40)
    assert result.failed("read") == 0, str(result)
    assert result.new_leader is not None, "Patroni promoted no node in the load window"
    assert result.first_write_after_promotion is not None
    assert result.first_write_after_promotion <= 1.0, str(result)
    assert result.failed_writes_after_recovery == 0, str(result)
    assert result.missing_acknowledged == []
    stage.cluster.start_node(result.old_leader)
    stage.cluster.wait_healthy(len(stage.cluster.nodes), 90)
    # Through HAProxy its replica port is the one replica trackr knows; with two nodes, the
    # old leader is the only server behind it.
    behind_haproxy = stage.server.env["DATABASE_REPLICA_URLS"].startswith("replicas=")
    reader = "replicas" if behind_haproxy else result.old_leader
    assert drills.wait_served_by(stage, reader), "old leader not back in reads"


def test_a_lost_replica_costs_no_read_and_no_acknowledged_write(stage: HaStage) -> None:
    result = drills.run_drill(
        stage, "replica lost", drills.kill_replica, duration=12, expect_promotion=False
    )
    assert result.failed("read") == 0, str(result)
    assert result.failed("token_read") == 0, str(result)
    assert result.new_leader is None, "a replica's loss must not move the leader"
    assert result.missing_acknowledged == []
    # Synchronous mode: commits wait until Patroni drops the lost standby from the sync set.
    assert result.failed("write") == 0, str(result)


def test_a_hung_leader_holds_no_request_and_writes_return_within_a_second(stage: HaStage) -> None:
    """SIGSTOP, not SIGKILL: the old leader keeps its connections open and answers nothing,
    as a frozen or partitioned host does. Patroni promotes the standby once the leader's
    lock expires; no request may wait on the silent node past its deadline."""
    hang = drills.HangLeader()
    try:
        result = drills.run_drill(stage, "leader hung", hang, duration=45)
    finally:
        hang.resume(stage.cluster)
    assert result.failed("read") == 0, str(result)
    assert result.failed("token_read") == 0, str(result)
    assert result.new_leader is not None, "Patroni promoted no node in the load window"
    assert result.slowest_request_seconds is not None
    assert result.slowest_request_seconds <= 6.0, str(result)
    assert result.first_write_after_promotion is not None
    assert result.first_write_after_promotion <= 1.0, str(result)
    assert result.missing_acknowledged == []
    stage.cluster.wait_healthy(len(stage.cluster.nodes), 120)  # the old leader rejoins
