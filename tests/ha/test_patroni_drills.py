"""trackr on Patroni: switchover and a SIGKILLed leader under load through the HTTP API."""

from __future__ import annotations

import pytest

from tests.ha import drills
from tests.ha.drills import HaStage

pytestmark = pytest.mark.slow


def test_switchover_loses_no_read_and_no_acknowledged_write(ha_stage: HaStage) -> None:
    result = drills.run_drill(ha_stage, "switchover", drills.switchover, duration=15)
    assert result.failed("read") == 0, str(result)
    assert result.failed("token_read") == 0, str(result)
    assert result.new_leader is not None, "no node was promoted"
    assert result.write_gap_seconds is not None
    assert result.write_gap_seconds <= 3.0, str(result)
    assert result.missing_acknowledged == []


def test_killed_leader_loses_no_read_and_writes_return_within_a_second(
    ha_stage: HaStage,
) -> None:
    result = drills.run_drill(ha_stage, "leader killed", drills.kill_leader, duration=40)
    assert result.failed("read") == 0, str(result)
    assert result.new_leader is not None, "Patroni promoted no node in the load window"
    assert result.first_write_after_promotion is not None
    assert result.first_write_after_promotion <= 1.0, str(result)
    assert result.failed_writes_after_recovery == 0, result.failures
    assert result.missing_acknowledged == []
    ha_stage.cluster.start_node(result.old_leader)
    ha_stage.cluster.wait_healthy(len(ha_stage.cluster.nodes), 90)
    assert drills.wait_served_by(ha_stage, result.old_leader), "old leader not back in reads"


def test_a_lost_replica_costs_no_read_and_no_acknowledged_write(ha_stage: HaStage) -> None:
    result = drills.run_drill(
        ha_stage, "replica lost", drills.kill_replica, duration=12, expect_promotion=False
    )
    assert result.failed("read") == 0, str(result)
    assert result.failed("token_read") == 0, str(result)
    assert result.new_leader is None, "a replica's loss must not move the leader"
    assert result.missing_acknowledged == []
    # Synchronous mode: commits wait until Patroni drops the lost standby from the sync set.
    assert result.failed("write") == 0, str(result)
    killed = next(n for n in ha_stage.cluster.nodes if not n.is_running())
    ha_stage.cluster.start_node(killed.name)
    ha_stage.cluster.wait_healthy(len(ha_stage.cluster.nodes), 90)


def test_through_haproxy_a_switchover_loses_no_read_and_no_acknowledged_write(
    proxied_stage: HaStage,
) -> None:
    result = drills.run_drill(proxied_stage, "switchover via HAProxy", drills.switchover, 15)
    assert result.failed("read") == 0, str(result)
    assert result.failed("token_read") == 0, str(result)
    assert result.new_leader is not None, "no node was promoted"
    assert result.write_gap_seconds is not None
    assert result.write_gap_seconds <= 3.0, str(result)
    assert result.missing_acknowledged == []


def test_through_haproxy_a_killed_leader_loses_no_read(proxied_stage: HaStage) -> None:
    result = drills.run_drill(proxied_stage, "leader killed via HAProxy", drills.kill_leader, 40)
    assert result.failed("read") == 0, str(result)
    assert result.new_leader is not None, "Patroni promoted no node in the load window"
    assert result.first_write_after_promotion is not None
    assert result.first_write_after_promotion <= 1.0, str(result)
    assert result.failed_writes_after_recovery == 0, result.failures
    assert result.missing_acknowledged == []
    proxied_stage.cluster.start_node(result.old_leader)
    proxied_stage.cluster.wait_healthy(len(proxied_stage.cluster.nodes), 90)
