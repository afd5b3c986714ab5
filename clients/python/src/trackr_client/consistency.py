"""Consistency tokens: PostgreSQL WAL positions ("16/B374D848"), compared as numbers."""

from __future__ import annotations

import re

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def lsn_value(token: str) -> int:
    """The WAL position as an integer; ValueError when `token` is not one."""
    match = _LSN.match(token.strip())
    if match is None:
        raise ValueError(f"not a consistency token: {token!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def newest(current: str | None, seen: str | None) -> str | None:
    """The newer of two tokens; a malformed `seen` is ignored."""
    if not seen:
        return current
    try:
        newer = current is None or lsn_value(seen) > lsn_value(current)
    except ValueError:
        return current
    return seen if newer else current
