"""Database URLs: libpq-style DSNs (multi-host allowed) and the `name=url,…` replica list.

URLs are handed to asyncpg as they are (it understands `host1:p1,host2:p2` and
`target_session_attrs`), so only the scheme is normalised here; SQLAlchemy never parses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql+asyncpg://", "postgresql://", "postgres://")


@dataclass(frozen=True)
class ReplicaUrl:
    name: str
    url: str


def normalize_dsn(url: str) -> str:
    """`postgresql://…` whichever postgres scheme was written."""
    for scheme in SCHEMES:
        if url.startswith(scheme):
            return "postgresql://" + url.removeprefix(scheme)
    raise ValueError(f"not a postgresql:// URL: {url.split('@')[-1]!r}")


def first_host(url: str) -> str:
    """`host:port` of the first host in the URL (for names and logs; no credentials)."""
    netloc = urlsplit(normalize_dsn(url)).netloc.rpartition("@")[2]
    host = netloc.split(",")[0] or "localhost"
    return host if ":" in host.lstrip("[").split("]")[-1] else f"{host}:5432"


def with_first_host(url: str, host: str, port: int) -> str:
    """The URL with `host:port` tried first, then its own hosts (multi-host, as asyncpg and
    libpq read it): a writer URL that reaches a known leader before a silent old one."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    first = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    rest = [h for h in hosts.split(",") if h and h != first]
    return urlunsplit(parts._replace(netloc=userinfo + at + ",".join([first, *rest])))


def parse_replica_urls(raw: str) -> list[ReplicaUrl]:
    replicas: list[ReplicaUrl] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        if sep and "://" not in name:
            replicas.append(ReplicaUrl(name.strip(), url.strip()))
        else:
            replicas.append(ReplicaUrl(first_host(entry), entry))
    names = [r.name for r in replicas]
    if len(set(names)) != len(names):
        raise ValueError(f"replica names must be unique: {names}")
    return replicas
