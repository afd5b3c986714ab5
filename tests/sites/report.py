"""`make sites-report`: the three-site drills for real, written into docs/failover.md ("Sites").

A fresh `trackr cluster up --sites render,railway,fly` (root: network namespaces), the API
nodes on their default PARTITION_READ_GRACE_SECONDS, each drill under mixed load through
every site's API and the failover client, then `trackr monitor` on the three APIs.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from app.config import Settings
from app.localcluster.sites import SitesCluster
from tests.faults.harness import SECRET
from tests.faults.report import machine
from tests.ha.report import write
from tests.sites import drills
from tests.sites.drills import CLIENT, SiteDrillResult
from tests.sites.wan import READS, WRITES, WanCost, measure

START, END = "<!-- sites:start -->", "<!-- sites:end -->"
SITES = ["render", "railway", "fly"]
RTTS_MS = (0.0, 20.0, 50.0)


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g} s"


def _requests(result: SiteDrillResult, where: str) -> int:
    return sum(result.requests.get(where, {}).values())


def render(
    results: list[SiteDrillResult], monitor_line: str, grace: float, costs: list[WanCost]
) -> str:
    lines = [
        START,
        "## Sites: three sites, one catalogue (`make sites-report`)",
        "",
        f"Generated on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        "",
        "`trackr cluster up --sites render,railway,fly`: one network namespace per site, each",
        "with an etcd member, a Patroni node (quorum synchronous mode: a commit waits for any",
        "one other site; `failover_priority` 3 / 2 / 1; ttl 20, loop_wait 1, retry_timeout 5)",
        "and a `trackr serve` (`TRACKR_SITE`, `READ_BALANCING=nearest`, PATRONI_URLS with its",
        f"own site first, PARTITION_READ_GRACE_SECONDS={grace:g}). Load: 3 clients on each",
        "site's API and 2 on the failover client (`AsyncTrackrClient` with the three URLs in",
        "priority order), 80/20 reads/writes, each write followed by a read with its token;",
        "the drill starts 3 s in. The drills run with no added latency between sites; what",
        "latency costs is measured separately below.",
        "",
        "- **writable**: drill start until the new leader's `pg_is_in_recovery()` is false;",
        "  **commits**: until a commit on it is acknowledged (a synchronous standby streams",
        "  from it). Both are Patroni's and PostgreSQL's part.",
        "- **first write after**: from *commits* until every surviving site's API and the",
        "  failover client have each had a write acknowledged (the slowest of them): trackr's.",
        "- **client failover**: drill start until the failover client's first good answer from",
        "  another site (n/a when the drill did not break the client's site).",
        "- **cut-off site's last read**: drill start until the partitioned site's API last",
        "  served a plain read; afterwards it answers 503 with `Retry-After`.",
        "- Failed requests are per place: the other sites / the broken site / the failover",
        "  client. A failed write is a 503 with `Retry-After` (any other answer is listed).",
        "",
        "| drill | requests (other sites / broken site / client) | failed reads + token reads"
        " | failed writes | slowest request (other sites, client) | writable | commits"
        " | first write after | client failover | cut-off site's last read"
        " | lost acknowledged writes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        others = r.others()
        requests = (
            f"{sum(_requests(r, w) for w in others)} / {_requests(r, r.broken)} / "
            f"{_requests(r, CLIENT)}"
        )
        other_reads = sum(r.failed(w, "read", "token_read") for w in others)
        other_writes = sum(r.failed(w, "write") for w in others)
        reads = (
            f"{other_reads} / {r.failed(r.broken, 'read', 'token_read')} / "
            f"{r.failed(CLIENT, 'read', 'token_read')}"
        )
        writes = f"{other_writes} / {r.failed(r.broken, 'write')} / {r.failed(CLIENT, 'write')}"
        if r.writes_not_retryable_503:
            writes += f" ({len(r.writes_not_retryable_503)} not 503)"
        lines.append(
            f"| {r.name} | {requests} | {reads} | {writes} | "
            f"{_s(r.slowest_request_seconds)} | {_s(r.promotion_seconds)} | "
            f"{_s(r.commits_seconds)} | {_s(r.first_write_after_promotion)} | "
            f"{_s(r.client_failover_seconds)} | {_s(r.broken_site_last_read)} | "
            f"{len(r.missing_acknowledged)} of {r.acknowledged_writes} |"
        )
    lines += [
        "",
        f"After healing everything, `trackr monitor` on the three APIs: {monitor_line}",
        "",
        "### What a write costs across a WAN",
        "",
        "This kernel has no `netem`: `trackr cluster up --sites … --rtt-ms N` sends every",
        "connection between sites through a userspace relay that delays each chunk by half the",
        "round trip each way (app/localcluster/latency.py; clients are not delayed). A fresh",
        f"cluster per round trip; {WRITES} sequential writes, then {READS} plain reads by id,",
        "through the leader's site's API and through a replica site's API (milliseconds,",
        "p50 / p95 for writes, p50 for reads):",
        "",
        "| round trip between sites | write at the leader's site | write at a replica site"
        " | read at the leader's site | read at a replica site |",
        "|---|---|---|---|---|",
    ]
    leader_site, replica_site = SITES[0], SITES[1]
    for cost in costs:
        lw, rw = cost.write_ms[leader_site], cost.write_ms[replica_site]
        lines.append(
            f"| {cost.rtt_ms:g} ms | {lw[0]:g} / {lw[1]:g} | {rw[0]:g} / {rw[1]:g} | "
            f"{cost.read_ms[leader_site]:g} | {cost.read_ms[replica_site]:g} |"
        )
    lines += [
        "",
        "A write at the leader's site pays one round trip: its commit waits for another",
        "site's standby (quorum commit). A write at a replica site pays about ten: its API",
        "talks to the leader across the WAN, one round trip per statement and protocol step",
        "(the connection's ping, BEGIN, the INSERTs, the commit, the position read). Writes",
        "belong at the leader's site; sending them there (the failover client, or an API",
        "node forwarding to the leader's site) is not built yet. Plain reads at the leader's",
        "site go to another site's replica (`nearest` prefers any replica to the primary,",
        "as specified), so they pay one round trip too.",
        "",
        "What the figures say:",
        "- A killed site refuses connections at once: the failover client moves in one",
        "  request, and writes wait only for Patroni (the leader key's ttl, 20 s here).",
        "- A cut-off leader is silent. Its own API notices within about two seconds that it",
        "  reaches one Patroni member of three and refuses writes at once",
        "  (`/problems/site-cut-off`: no commit there could reach another site's standby).",
        "  Its reads stop when Patroni demotes the old leader (it cannot renew its lock) or",
        "  when the grace ends, whichever comes first. The failover client leaves it on the",
        "  first refused write; writes refused elsewhere for want of a leader",
        "  (`/problems/primary-unavailable`) do not count against a site that still serves",
        "  reads. When the partition heals, the old leader's unacknowledged tail is rewound",
        "  (pg_rewind) and it streams again; every acknowledged write, at any site, was found",
        "  on the new leader.",
        "- The slowest requests are those in flight when the leader went silent: a write on",
        "  a pooled connection to it waits out `DB_WRITE_TIMEOUT_SECONDS` (3 s); a read with",
        "  a token only the silent leader had waits for a replica to replay it.",
        "- Between *writable* and *commits* of a cut-off leader: in the leader race each",
        "  standby asks every member's REST API with Patroni's fixed 2 s timeout, and the",
        "  silent old leader never answers; the standby that lost the race follows the new",
        "  leader one race (2 s) later, and quorum commits wait for it. A `nofailover` cold",
        "  site would not race, but Patroni then keeps it out of the synchronous set while a",
        "  promotable member exists, and commits waited for the unreachable old leader",
        "  (2.4 s): worse.",
        END,
    ]
    return "\n".join(lines) + "\n"


def _monitor(cluster: SitesCluster, base: Path) -> str:
    started = time.monotonic()
    doc = drills.monitor_one_catalogue(cluster, base, timeout=120)
    counts = ", ".join(f"{b['name']} {b['product_count']}" for b in doc["backends"])
    return (
        f"all three up and no drift within {time.monotonic() - started:.0f} s (products: {counts})."
    )


def main() -> None:
    grace = Settings(app_env="test", jwt_secret=SECRET).partition_read_grace_seconds
    api_env = {"JWT_SECRET": SECRET}
    with tempfile.TemporaryDirectory(prefix="trackr-sites-report-") as tmp:
        base = Path(tmp)
        cluster = SitesCluster(base / "cluster")
        try:
            cluster.up(SITES, api_env)
            stage = drills.stage_for(cluster, api_env)
            results = [drills.run(stage, drill) for drill in drills.DRILLS]
            cluster.wait_healthy(len(SITES), 120)
            monitor_line = _monitor(cluster, base)
        finally:
            cluster.down()
        costs = [measure(base, SITES, rtt, SECRET) for rtt in RTTS_MS]
    write(render(results, monitor_line, grace, costs), START, END)
    print("wrote the Sites section of docs/failover.md")


if __name__ == "__main__":
    main()
