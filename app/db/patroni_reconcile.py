"""The read set follows Patroni's membership: streaming replicas in, every other member out.

A node that leaves keeps its entry (and engine), excluded, so a read in flight on it never
finds it gone; it returns when Patroni reports it streaming again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.db.patroni import REPLICA_ROLES, STILL_A_REPLICA, PatroniCluster, PatroniMember

if TYPE_CHECKING:
    from app.db.replicas.nodes import ReplicaHealth


def patroni_verdict(member: PatroniMember | None, streamed: bool) -> tuple[str | None, bool]:
    """Why Patroni's view keeps a replica out of the read set (None: it may serve), and
    whether it has streamed since it was last the leader or missing.

    A node enters once Patroni reports it streaming: a rewound or re-cloned old leader waits
    until then. It stays while it is still a replica that is up but not streaming, which is
    what a replica reports while its leader is gone: it remains the best place to read until
    a new leader exists. Patroni names the leader a moment before it accepts writes, so the
    leader is not pushed out here: our own check sees when it leaves recovery.
    """
    if member is None:
        return "not a member of the Patroni cluster", False
    if member.is_leader:
        return None, False
    if member.streams:
        return None, True
    if streamed and member.role in REPLICA_ROLES and member.state in STILL_A_REPLICA:
        return None, True
    return f"Patroni reports it as {member.role}, {member.state}", streamed


def reconcile(
    view: PatroniCluster,
    replicas: dict[str, ReplicaHealth],
    join: Callable[[PatroniMember], None],
) -> None:
    """`join` each streaming member not yet known; give every known replica its verdict."""
    for member in view.members:
        if member.streams and member.name not in replicas:
            join(member)
    members = {m.name: m for m in view.members}
    for name, replica in replicas.items():
        known = members.get(name)
        replica.patroni_says, replica.patroni_streamed = patroni_verdict(
            known, replica.patroni_streamed
        )
        if known is not None:
            replica.site = known.site
