"""A local primary + streaming replicas from PostgreSQL binaries (dev, `make run`, tests)."""

from app.localcluster.cluster import Cluster, NodeStatus
from app.localcluster.state import ClusterError

__all__ = ["Cluster", "ClusterError", "NodeStatus"]
