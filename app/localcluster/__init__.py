"""A local primary + streaming replicas from PostgreSQL binaries (dev, `make run`, tests)."""

from app.localcluster.cluster import Cluster, ClusterError, NodeStatus

__all__ = ["Cluster", "ClusterError", "NodeStatus"]
