"""Database URL parsing: driver selection and the `name=url,name=url` replica list."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url


@dataclass(frozen=True)
class ReplicaUrl:
    name: str
    url: str


def async_url(url: str) -> URL:
    """The SQLAlchemy URL for asyncpg, whichever postgres scheme the user wrote."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


def sync_dsn(url: str) -> str:
    """A plain libpq/asyncpg DSN (no SQLAlchemy driver suffix)."""
    return async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _derived_name(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host or 'local'}:{parsed.port or 5432}"


def parse_replica_urls(raw: str) -> list[ReplicaUrl]:
    replicas: list[ReplicaUrl] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        if sep and "://" not in name:
            replicas.append(ReplicaUrl(name.strip(), url.strip()))
        else:
            replicas.append(ReplicaUrl(_derived_name(entry), entry))
    names = [r.name for r in replicas]
    if len(set(names)) != len(names):
        raise ValueError(f"replica names must be unique: {names}")
    return replicas
