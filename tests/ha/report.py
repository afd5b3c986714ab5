"""`make ha-report`: the Patroni drills for real, written into docs/failover.md.

A fresh HA cluster (etcd + two Patroni nodes), trackr on it twice (multi-host URL with
PATRONI_URLS discovery, and through deploy/patroni/haproxy.cfg), and each drill under the
same mixed load as the other failover scenarios.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.localcluster.ha import HaCluster
from tests.faults.report import PATRONI_START, failure_cells, machine
from tests.ha import drills
from tests.ha.drills import DrillResult, HaStage
from tests.ha.haproxy import HaProxyDb

DOC = Path(__file__).resolve().parents[2] / "docs" / "failover.md"
START, END = PATRONI_START, "<!-- patroni:end -->"


@dataclass
class Drill:
    title: str
    action: Callable[[HaCluster], None]
    duration: float
    promotes: bool = True
    after: Callable[[HaCluster], None] | None = None


def _drills() -> list[Drill]:
    hang = drills.HangLeader()
    return [
        Drill("Switchover (`trackr cluster switchover`)", drills.switchover, 15),
        Drill("Leader SIGKILLed (Patroni + postmaster + children)", drills.kill_leader, 40),
        Drill("Leader hung (SIGSTOP: a frozen or partitioned host)", hang, 45, after=hang.resume),
        Drill("Sync standby SIGKILLed", drills.kill_replica, 12, promotes=False),
    ]


def _run(stage: HaStage, how: str, rows: list[tuple[str, DrillResult]]) -> None:
    for drill in _drills():
        try:
            result = drills.run_drill(
                stage, drill.title, drill.action, drill.duration, drill.promotes
            )
        finally:
            if drill.after is not None:
                drill.after(stage.cluster)
        rows.append((f"{drill.title}, {how}", result))


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g} s"


def render(rows: list[tuple[str, DrillResult]], machine: str) -> str:
    lines = [
        START,
        "## Patroni: automatic failover (`make ha-report`)",
        "",
        f"Generated on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine}.",
        "",
        "`trackr cluster up --ha`: a one-member etcd (Debian's etcd-server) and two Patroni",
        "nodes on the same PostgreSQL binaries (ttl 20, loop_wait 1, retry_timeout 5,",
        "`synchronous_mode: true`, slots, pg_rewind, data checksums). trackr runs twice: on the",
        "multi-host `DATABASE_URL` (`target_session_attrs=read-write`) with `PATRONI_URLS`",
        "discovery, and on `deploy/patroni/haproxy.cfg`'s leader and replica ports. Each drill",
        "runs under the mixed load described above (16 clients, 80/20, each write followed by a",
        "read with its token) and starts 3 s into it.",
        "",
        "- **promotion**: from the drill's start until the new leader accepts writes",
        "  (polled every 20 ms on the candidates); **commits**: until a commit on it is",
        "  acknowledged (synchronous mode: a standby streams from it). Patroni's part.",
        "- **first write after**: from *commits* until trackr answered the first write with",
        "  201 (ours).",
        "- **write gap**: the longest stretch with no write acknowledged.",
        "- **slowest request**: the longest any request of the load waited, answered or not.",
        "",
        "| drill | requests (reads / token reads / writes) | failed reads | failed token reads"
        " | failed writes | promotion | commits | first write after | write gap"
        " | slowest request | lost acked writes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for title, r in rows:
        lines.append(
            f"| {title} | {r.requests['read']} / {r.requests['token_read']} / "
            f"{r.requests['write']} | {failure_cells(r.failures)} | {_cell(r.promotion_seconds)} | "
            f"{_cell(r.commits_seconds)} | {_cell(r.first_write_after_promotion)} | "
            f"{_cell(r.write_gap_seconds)} | "
            f"{_cell(r.slowest_request_seconds)} | "
            f"{len(r.missing_acknowledged)} of {r.acknowledged_writes} |"
        )
    lines += [
        "",
        "Failed writes are 503 with `Retry-After`, mostly answered at once by the open",
        "breaker (median / slowest per drill, in the table's order: "
        + ", ".join(
            f"{r.median_failed_write_ms or 0:g} / {r.slowest_failed_write_ms or 0:g} ms"
            for _, r in rows
        )
        + "). A write that failed was not acknowledged; every acknowledged one was found",
        "on the new leader afterwards. With the sync standby lost, commits wait until Patroni",
        "drops it from the synchronous set (one loop) instead of failing.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write(section: str, start: str = START, end: str = END) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the one
    between those markers in docs/failover.md, or at its end."""
    text = DOC.read_text()
    if start in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)


def main() -> None:
    rows: list[tuple[str, DrillResult]] = []
    with tempfile.TemporaryDirectory(prefix="trackr-ha-report-") as tmp:
        base = Path(tmp)
        cluster = HaCluster(base / "cluster")
        cluster.up(nodes=2)
        try:
            stage = drills.serve(cluster, base / "server.log", {})
            try:
                _run(stage, "multi-host URL + PATRONI_URLS", rows)
            finally:
                stage.server.stop()
            proxy = HaProxyDb(cluster, base)
            proxy.start()
            stage = drills.serve(cluster, base / "server-haproxy.log", {}, env=proxy.env())
            try:
                _run(stage, "through HAProxy", rows)
            finally:
                stage.server.stop()
                proxy.stop()
        finally:
            cluster.destroy()
    write(render(rows, machine()))
    print(f"wrote the Patroni section of {DOC}")


if __name__ == "__main__":
    main()
