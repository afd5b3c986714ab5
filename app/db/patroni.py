"""Patroni's view of the cluster (`GET /cluster` on any member's REST API), for discovery.

With `PATRONI_URLS` set, the read pool follows Patroni's membership instead of a fixed
replica list: a streaming replica joins, a promoted node or one that is not (yet) streaming
is left out, and /health shows the leader, the members and the timeline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.db.urls import with_first_host

log = logging.getLogger("trackr.patroni")

REPLICA_ROLES = frozenset({"replica", "sync_standby", "quorum_standby"})
# A replica that is up and replaying but not streaming (e.g. its leader just died).
STILL_A_REPLICA = frozenset({"running", "in archive recovery"})


@dataclass(frozen=True)
class PatroniMember:
    name: str
    role: str
    state: str
    host: str
    port: int
    timeline: int | None
    lag: int | None
    site: str | None = None  # the `site` tag: which provider's site runs the node

    @property
    def is_leader(self) -> bool:
        return self.role in ("leader", "standby_leader")

    @property
    def streams(self) -> bool:
        """A replica Patroni reports as streaming: fit to serve reads."""
        return self.role in REPLICA_ROLES and self.state == "streaming"


@dataclass(frozen=True)
class PatroniCluster:
    members: tuple[PatroniMember, ...]

    @property
    def leader(self) -> PatroniMember | None:
        return next((m for m in self.members if m.is_leader), None)

    @property
    def timeline(self) -> int | None:
        leader = self.leader
        return leader.timeline if leader else None


def parse_cluster(body: Any) -> PatroniCluster:
    """Patroni's `/cluster` document; raises ValueError on anything else."""
    if not isinstance(body, dict) or not isinstance(body.get("members"), list):
        raise ValueError("not a Patroni /cluster document")
    members: list[PatroniMember] = []
    for raw in body["members"]:
        lag = raw.get("lag")
        timeline = raw.get("timeline")
        tags = raw.get("tags")
        site = tags.get("site") if isinstance(tags, dict) else None
        members.append(
            PatroniMember(
                name=str(raw["name"]),
                role=str(raw.get("role", "")),
                state=str(raw.get("state", "")),
                host=str(raw["host"]),
                port=int(raw["port"]),
                timeline=timeline if isinstance(timeline, int) else None,
                lag=lag if isinstance(lag, int) else None,
                site=str(site) if site else None,
            )
        )
    return PatroniCluster(tuple(sorted(members, key=lambda m: m.name)))


class PatroniClient:
    """Asks each configured REST endpoint in turn; the first good answer wins."""

    def __init__(self, urls: list[str], timeout: float) -> None:
        # Imported here: only deployments on Patroni need an HTTP client, and every process
        # start would pay ~0.15 s for it (cold start, docs/performance-notes.md).
        import httpx

        self.urls = urls
        self._client = httpx.AsyncClient(timeout=timeout)
        self._errors = (httpx.HTTPError, ValueError, KeyError, TypeError)
        self.last_error: str | None = None

    async def cluster(self) -> PatroniCluster | None:
        """The view from the first endpoint that answers, the last one that did asked first:
        a hung member's endpoint costs its timeout once, not on every look."""
        errors: list[str] = []
        for url in list(self.urls):
            try:
                found = await self._view(url)
            except self._errors as exc:
                errors.append(f"{url}: {exc.__class__.__name__}")
                continue
            self._answered(url)
            return found
        self._silence(errors)
        return None

    async def census(self) -> tuple[PatroniCluster | None, int]:
        """Every endpoint asked at once: the view (from the one that answered last time, if
        it did) and how many answered. A node that reaches no more than half of them is cut
        off from the others, as its site is in a partition."""
        urls = list(self.urls)
        outcomes = await asyncio.gather(*(self._view(u) for u in urls), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, self._errors):
                raise outcome  # a bug, not an unreachable member
        answered = [
            (u, o) for u, o in zip(urls, outcomes, strict=True) if not isinstance(o, BaseException)
        ]
        if not answered:
            self._silence(
                [f"{u}: {o.__class__.__name__}" for u, o in zip(urls, outcomes, strict=True)]
            )
            return None, 0
        url, view = answered[0]
        self._answered(url)
        return view, len(answered)

    async def _view(self, url: str) -> PatroniCluster:
        response = await self._client.get(f"{url.rstrip('/')}/cluster")
        response.raise_for_status()
        return parse_cluster(response.json())

    def _answered(self, url: str) -> None:
        self.last_error = None
        self.urls = [url, *(u for u in self.urls if u != url)]

    def _silence(self, errors: list[str]) -> None:
        log.warning("no Patroni REST API answered: %s", "; ".join(errors))
        self.last_error = f"no Patroni REST API answered ({len(errors)} tried)"

    async def aclose(self) -> None:
        await self._client.aclose()


def leader_first_dsn(template: str, leader: PatroniMember) -> str:
    """The writer DSN with Patroni's leader tried first, and only a writer accepted.

    A hung or partitioned old leader still accepts TCP connections and never answers: tried
    first, it would cost every new connection a connect timeout after a failover.
    """
    dsn = with_first_host(template, leader.host, leader.port)
    if "target_session_attrs=" in dsn:
        return dsn
    return dsn + ("&" if "?" in dsn else "?") + "target_session_attrs=read-write"


def member_dsn(template: str, member: PatroniMember) -> str:
    """The app's DSN (credentials, database, options) pointed at one member.

    `template` may be multi-host with `target_session_attrs`; a replica connection needs
    neither, so both are dropped.
    """
    parts = urlsplit(template)
    userinfo, _, _ = parts.netloc.rpartition("@")
    host = f"[{member.host}]" if ":" in member.host else member.host
    netloc = f"{userinfo}@{host}:{member.port}" if userinfo else f"{host}:{member.port}"
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not pair.startswith("target_session")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
