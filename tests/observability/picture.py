"""`make observability-picture`: the dashboard's key panels as an SVG, from a real run.

Grafana is not packaged for Debian, so the picture is drawn from Prometheus's own answers:
the dashboard's expressions, over 30 s windows instead of 5 min, for a two-minute run of two
`trackr serve`
nodes and `trackr monitor` under load, with the replica's replay paused for 30 s in the
middle (its lag climbs past the limit, it leaves rotation and reads go to the primary, then
it catches up).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path

from alembic import command
from app.localcluster import Cluster
from tests.conftest import alembic_config
from tests.faults.harness import ApiServer
from tests.monitor.backends import MonitorProcess
from tests.observability.test_prometheus import Load, Prometheus, observed_stack
from tests.redis_server import redis_server

OUTPUT = Path("docs/images/observability-panels.svg")
PANELS = [
    ("Latency p99 per API node (s)",
     "histogram_quantile(0.99, sum by (instance, le) "
     "(rate(trackr_http_request_duration_seconds_bucket[30s])))", "{instance}"),
    ("Requests per second per API node",
     "sum by (instance) (rate(trackr_http_request_duration_seconds_count[30s]))", "{instance}"),
    ("Replica lag (s) and its limit", "max by (node) (trackr_db_replica_lag_seconds) or "
     "label_replace(max(trackr_db_replica_max_lag_seconds), 'node', 'limit', '', '')", "{node}"),
    ("Reads per second by serving node", "sum by (target) (rate(trackr_reads_routed_total[30s]))",
     "{target}"),
]  # fmt: skip
COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed"]
W, H, PAD_L, PAD_B, PAD_T = 460, 220, 52, 34, 28


def _series(prometheus: Prometheus, expr: str, start: float, end: float) -> list[dict[str, object]]:
    import httpx

    body = httpx.get(
        f"{prometheus.url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": 2},
        timeout=30,
    ).json()
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def _panel(title: str, series: list[dict[str, object]], legend: str, start: float) -> str:
    points = [
        [(float(t) - start, float(v)) for t, v in s["values"] if v not in ("NaN", "+Inf")]  # type: ignore[attr-defined]
        for s in series
    ]
    top = max((v for line in points for _, v in line), default=1.0) or 1.0
    span = max((t for line in points for t, _ in line), default=1.0) or 1.0

    def x(t: float) -> float:
        return PAD_L + t / span * (W - PAD_L - 12)

    def y(v: float) -> float:
        return H - PAD_B - v / top * (H - PAD_B - PAD_T)

    parts = [
        f'<text x="{PAD_L}" y="18" font-weight="600">{escape(title)}</text>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#94a3b8"/>',
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - 12}" y2="{H - PAD_B}" stroke="#94a3b8"/>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 4}" text-anchor="end">{top:.3g}</text>',
        f'<text x="{PAD_L - 4}" y="{H - PAD_B}" text-anchor="end">0</text>',
        f'<text x="{PAD_L}" y="{H - PAD_B + 14}">0 s</text>',
        f'<text x="{W - 12}" y="{H - PAD_B + 14}" text-anchor="end">{span:.0f} s</text>',
    ]
    for i, (line, s) in enumerate(zip(points, series, strict=True)):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in line)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        labels: dict[str, str] = s["metric"]  # type: ignore[assignment]
        name = legend.format_map({**dict.fromkeys(("instance", "node", "target"), ""), **labels})
        parts.append(
            f'<text x="{PAD_L + 8 + 120 * i}" y="{H - 6}" fill="{color}">■ {escape(name)}</text>'
        )
    return "".join(parts)


def render(prometheus: Prometheus, start: float, end: float) -> str:
    cells = []
    for i, (title, expr, legend) in enumerate(PANELS):
        dx, dy = (i % 2) * W, (i // 2) * H
        body = _panel(title, _series(prometheus, expr, start, end), legend, start)
        cells.append(f'<g transform="translate({dx},{dy})">{body}</g>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{2 * H}" '
        f'font-family="system-ui, sans-serif" font-size="11" fill="#0f172a">'
        f'<rect width="100%" height="100%" fill="#ffffff"/>{"".join(cells)}</svg>\n'
    )


@contextmanager
def _cluster(base: Path) -> Iterator[Cluster]:
    cluster = Cluster(base / "cluster")
    cluster.up(replicas=1)
    try:
        command.upgrade(alembic_config(cluster.env()["DATABASE_URL"]), "head")
        yield cluster
    finally:
        cluster.destroy()


def main(output: Path = OUTPUT, seconds: float = 120) -> None:
    base = Path(tempfile.mkdtemp(prefix="trackr-picture-"))
    base.chmod(0o755)
    with _cluster(base) as cluster, redis_server(base / "redis") as redis:
        stack: tuple[Prometheus, list[ApiServer], MonitorProcess, Load]
        with observed_stack(cluster, redis, base) as stack:
            prometheus = stack[0]
            start = time.time()
            time.sleep(seconds / 3)
            replica = cluster.replicas()[0]
            replica.sql("SELECT pg_wal_replay_pause()")
            time.sleep(30)
            replica.sql("SELECT pg_wal_replay_resume()")
            time.sleep(max(0.0, seconds - (time.time() - start)))
            svg = render(prometheus, start, time.time())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(svg)
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
