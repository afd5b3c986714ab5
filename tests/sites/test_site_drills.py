"""Issue #16's four site drills under mixed load through every site's API and through the
failover client: the leader's site killed, the leader's site cut off, a replica's site cut
off, and the monitor's view of the three sites afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.localcluster.sites import SitesCluster
from tests.sites import drills
from tests.sites.conftest import GRACE, SITES
from tests.sites.drills import CLIENT, SiteDrillResult, SitesStage

pytestmark = pytest.mark.slow
ACTIVE, WARM, COLD = SITES
# The cut-off site notices within two monitor rounds (each waits for the silent members'
# Patroni REST APIs): its reads stop within the grace counted from then.
CUT_OFF_NOTICED_WITHIN = 2.5


def assert_the_others_lost_nothing(result: SiteDrillResult) -> None:
    for where in result.others():
        assert result.failed(where, "read", "token_read") == 0, str(result)
    assert result.failed(CLIENT, "read", "token_read") == 0, str(result)
    assert result.writes_not_retryable_503 == [], str(result)
    assert result.slowest_request_seconds is not None
    assert result.slowest_request_seconds <= 6.0, str(result)
    assert result.missing_acknowledged == [], str(result)


def assert_failed_over(result: SiteDrillResult) -> None:
    assert result.new_leader == WARM, str(result)  # failover_priority: warm before cold
    assert result.first_write_after_promotion is not None
    assert result.first_write_after_promotion <= 1.0, str(result)
    assert result.client_failover_seconds is not None
    assert result.client_failover_seconds < 5.0, str(result)


def test_the_leaders_site_killed(site_stage: SitesStage) -> None:
    cluster = site_stage.cluster
    result = drills.run(site_stage, drills.LEADER_SITE_KILLED)
    assert_the_others_lost_nothing(result)
    assert_failed_over(result)
    assert drills.served_by_own_node(cluster, ACTIVE), "the revived site serves no reads"


def test_the_leaders_site_partitioned(site_stage: SitesStage) -> None:
    cluster = site_stage.cluster
    result = drills.run(site_stage, drills.LEADER_SITE_PARTITIONED)
    assert_the_others_lost_nothing(result)  # the isolated site's acknowledged writes too
    assert_failed_over(result)
    assert result.broken_site_last_read is not None
    assert result.broken_site_last_read <= GRACE + CUT_OFF_NOTICED_WITHIN, str(result)
    # Healed: the old leader rejoins as a replica, its unacknowledged tail rewound, and its
    # site reads from it again.
    assert drills.rejoined(cluster, ACTIVE), cluster.members()
    log = cluster.node(ACTIVE).logfile.read_text()
    assert "pg_rewind exit code=0" in log
    assert drills.served_by_own_node(cluster, ACTIVE), "the healed site serves no reads"


def test_a_replicas_site_partitioned(site_stage: SitesStage) -> None:
    cluster = site_stage.cluster
    result = drills.run(site_stage, drills.REPLICA_SITE_PARTITIONED)
    for where in (ACTIVE, WARM, CLIENT):
        assert result.failed(where) == 0, str(result)
    assert_the_others_lost_nothing(result)
    assert result.new_leader is None
    assert drills.served_by_own_node(cluster, COLD), "the healed site serves no reads"


def test_the_monitor_sees_three_sites_up_and_one_catalogue(
    sites: SitesCluster, tmp_path: Path
) -> None:
    sites.wait_healthy(len(SITES), 120)
    status = drills.monitor_one_catalogue(sites, tmp_path, timeout=60)
    assert {b["name"] for b in status["backends"]} == set(SITES)
