"""Database URLs: libpq-style DSNs (multi-host allowed) and the `name=url,…` replica list.

URLs are handed to asyncpg as they are (it understands `host1:p1,host2:p2` and
`target_session_attrs`), so only the scheme is normalised here; SQLAlchemy never parses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

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


def to_conninfo(url: str) -> str:
    """The URL as libpq's `key=value` connection string, for tools that take only that form
    (barman): hosts and ports (several, for a multi-host URL), user, password, database, and
    every query parameter (`host=/socket/dir`, `sslmode`, `target_session_attrs`, …)."""
    parts = urlsplit(normalize_dsn(url))
    userinfo, _, netloc = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    hosts, ports = [], []
    for entry in netloc.split(","):
        if not entry:
            continue
        host, port = _host_and_port(entry)
        hosts.append(host)
        ports.append(port)
    pairs: list[tuple[str, str]] = []
    if hosts:
        pairs.append(("host", ",".join(hosts)))
        if any(ports):
            pairs.append(("port", ",".join(p or "5432" for p in ports)))
    if user:
        pairs.append(("user", unquote(user)))
    if password:
        pairs.append(("password", unquote(password)))
    if parts.path.strip("/"):
        pairs.append(("dbname", unquote(parts.path.strip("/"))))
    pairs += parse_qsl(parts.query, keep_blank_values=True)
    return " ".join(f"{key}={_conninfo_value(value)}" for key, value in pairs)


def _host_and_port(entry: str) -> tuple[str, str]:
    if entry.startswith("["):  # [IPv6]:port
        host, _, rest = entry[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = entry.partition(":")
    return unquote(host), port


def _conninfo_value(value: str) -> str:
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
