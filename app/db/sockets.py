"""TCP keepalive and TCP_USER_TIMEOUT on every database connection.

A hung (SIGSTOPped) or partitioned host keeps its TCP connections open and never answers:
without these, an idle pooled connection to it looks alive, and data sent to it waits for
the kernel's retransmission limit (about 15 minutes). asyncpg sets no socket options of its
own, so each connection is given them as it is made (`connection_class`).
"""

from __future__ import annotations

import socket
from functools import cache
from typing import Any

import asyncpg

KEEPALIVE_INTERVAL_SECONDS = 1
KEEPALIVE_PROBES = 3


def bound_socket(sock: socket.socket, user_timeout_seconds: float) -> None:
    """Probe an idle connection after `user_timeout_seconds`, and drop one whose sent data or
    probes go unacknowledged that long."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux (the image, the platforms); absent elsewhere
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(user_timeout_seconds)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL_SECONDS)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout_seconds * 1000)
        )


@cache
def bounded_connection(user_timeout_seconds: float) -> type[asyncpg.Connection]:
    """An asyncpg connection class whose TCP socket (none over a Unix socket) is bounded."""

    class BoundedConnection(asyncpg.Connection):  # type: ignore[misc]
        def __init__(self, protocol: Any, transport: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(protocol, transport, *args, **kwargs)
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                bound_socket(sock, user_timeout_seconds)

    return BoundedConnection
