"""The read pool: node health and rotation, the monitor loop, balancing, metrics hooks."""

from app.db.replicas.nodes import NodeHealth, PrimaryHealth, ReplicaHealth
from app.db.replicas.pool import ReplicaPool

__all__ = ["NodeHealth", "PrimaryHealth", "ReplicaHealth", "ReplicaPool"]
