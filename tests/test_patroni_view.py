"""Parsing Patroni's /cluster document and pointing the app's DSN at one member."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.db.patroni import PatroniMember, member_dsn, parse_cluster
from app.db.patroni_reconcile import patroni_verdict

CLUSTER = {
    "scope": "trackr",
    "members": [
        {"name": "node2", "role": "sync_standby", "state": "streaming", "host": "10.0.0.2",
         "port": 5432, "timeline": 4, "lag": 0, "api_url": "http://10.0.0.2:8008/patroni",
         "tags": {"site": "railway", "failover_priority": 1}},
        {"name": "node1", "role": "leader", "state": "running", "host": "10.0.0.1",
         "port": 5432, "timeline": 4, "api_url": "http://10.0.0.1:8008/patroni"},
        {"name": "node3", "role": "replica", "state": "starting", "host": "10.0.0.3",
         "port": 5433, "lag": "unknown"},
    ],
}  # fmt: skip


def test_cluster_document_gives_leader_timeline_and_streaming_replicas() -> None:
    view = parse_cluster(CLUSTER)
    assert view.leader is not None
    assert view.leader.name == "node1"
    assert view.timeline == 4
    assert [m.name for m in view.members if m.streams] == ["node2"]
    node3 = next(m for m in view.members if m.name == "node3")
    assert node3.lag is None
    assert not node3.streams
    assert [m.site for m in view.members] == [None, "railway", None]  # the `site` tag


@pytest.mark.parametrize("body", [[], {"members": "x"}, {"members": [{"role": "leader"}]}])
def test_anything_else_is_refused(body: object) -> None:
    with pytest.raises((ValueError, KeyError)):
        parse_cluster(body)


def test_member_dsn_keeps_credentials_and_options_but_not_the_writer_hosts() -> None:
    template = (
        "postgresql://app:s%40cret@10.0.0.1:5432,10.0.0.2:5432/trackr"
        "?target_session_attrs=read-write&sslmode=require"
    )
    member = PatroniMember("node3", "replica", "streaming", "10.0.0.3", 5433, 4, 0)
    assert member_dsn(template, member) == (
        "postgresql://app:s%40cret@10.0.0.3:5433/trackr?sslmode=require"
    )


def test_patroni_urls_must_be_http() -> None:
    with pytest.raises(ValidationError, match="PATRONI_URLS"):
        Settings(app_env="test", patroni_urls="http://a:8008,etcd://b:2379")
    urls = " http://a:8008 , https://b:8008 "
    assert Settings(app_env="test", patroni_urls=urls).patroni_url_list == [
        "http://a:8008",
        "https://b:8008",
    ]


def _member(role: str, state: str) -> PatroniMember:
    return PatroniMember("node2", role, state, "10.0.0.2", 5432, 4, 0)


def test_a_replica_enters_streaming_and_stays_while_its_leader_is_gone() -> None:
    assert patroni_verdict(_member("sync_standby", "streaming"), False) == (None, True)
    # Its leader died: Patroni reports it running, not streaming. It is still the best read.
    assert patroni_verdict(_member("sync_standby", "running"), True) == (None, True)


def test_an_old_leader_waits_until_it_streams_again() -> None:
    # The leader itself is left to our own check (it may not accept writes yet) ...
    assert patroni_verdict(_member("leader", "running"), True) == (None, False)
    # ... and once demoted it is out until Patroni reports it streaming.
    reason, streamed = patroni_verdict(_member("replica", "running"), False)
    assert reason == "Patroni reports it as replica, running"
    assert not streamed
    assert patroni_verdict(_member("replica", "streaming"), False) == (None, True)


def test_a_missing_or_starting_member_is_out() -> None:
    assert patroni_verdict(None, True) == ("not a member of the Patroni cluster", False)
    reason, _ = patroni_verdict(_member("replica", "starting"), True)
    assert reason is not None
