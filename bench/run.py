"""`make bench`: trackr against its own ceilings on the same cluster, in one run.

Starts the local cluster the way `make run` does, loads a catalogue (default 100,000 products),
then for 1 and 2 workers drives each scenario with wrk (32 connections) right after its
raw-asyncpg twin, and writes the results to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.ports import free_port
from app.products.listing import Cursor
from bench import dataset, wrk
from bench.report import TWINS, render

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "bench"
BIN = Path(sys.executable).parent
SECRET = "bench-" + "s" * 40
ATTR1 = {
    "mac": "attr.ram_gb=16",
    "pokemon": "attr.language=JP",
    "coins": "attr.metal=gold",
    "games": "attr.platform=SNES",
}
ATTR2 = {
    "mac": "attr.ram_gb=16&attr.chip=M2",
    "pokemon": "attr.language=JP&attr.graded=true",
    "coins": "attr.metal=gold&attr.country=Canada",
    "games": "attr.platform=SNES&attr.region=PAL",
}


def production_env(cluster_env: dict[str, str]) -> dict[str, str]:
    """trackr as production runs it (JSON access log per request), on the bench cluster."""
    return {
        **os.environ,
        **cluster_env,
        "APP_ENV": "production",
        "JWT_SECRET": SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (Debian package)", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        return
    raise SystemExit("bench: wrk is missing; install it (Debian: apt-get install wrk)")


def wait_until(
    answers: Callable[[], bool], what: str, timeout: float = 60, every: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not answers():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} never answered 200")
        time.sleep(every)


def wait_http(url: str, timeout: float = 60) -> None:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answers, url, timeout)


@contextmanager
def server(
    command: list[str], env: dict[str, str], ready_path: str, log: Path
) -> Iterator[tuple[str, int]]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + ready_path)
        yield base, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint on loopback that takes every export and keeps nothing: the
    traced server pays for its spans, not for a collector's work."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{sink.server_address[1]}"
    finally:
        sink.shutdown()


def worker_rss_mb(group: int) -> float:
    """Largest resident set in the server's process group (a worker, with several) right now."""
    best = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            stat = (status.parent / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != group:
                continue
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return round(best / 1024, 1)


def write_paths(directory: Path, name: str, paths: list[str]) -> Path:
    target = directory / f"{name}.txt"
    target.write_text("\n".join(paths) + "\n")
    return target


def deep_cursors(
    cluster: Cluster, page: int = 50, limit: int = 20, dbname: str = "trackr"
) -> dict[str, str]:
    cursors = {}
    for category in dataset.MAKERS:
        row = cluster.primary().sql(
            f"SELECT price || ',' || id FROM products WHERE category = '{category}' "
            f"ORDER BY price, id OFFSET {(page - 1) * limit - 1} LIMIT 1",
            dbname=dbname,
        )
        price, ident = row.split(",")
        cursors[category] = Cursor("price", Decimal(price), int(ident)).encode()
    return cursors


def scenario_paths(rows: int, cursors: dict[str, str], rng: random.Random) -> dict[str, list[str]]:
    ids = [rng.randint(1, rows) for _ in range(2000)]
    # A catalogue's reads are skewed: some products are looked at far more than others.
    # Zipf's law (s = 1) over the same 2000 products, for the cache's second by-id row.
    hot = rng.choices(ids, weights=[1 / rank for rank in range(1, len(ids) + 1)], k=20_000)
    cats = list(dataset.MAKERS)
    return {
        "by_id": [f"/api/products/{i}" for i in ids],
        "list": [f"/api/products?category={c}&limit=20" for c in cats],
        "list_attr1": [f"/api/products?category={c}&{ATTR1[c]}&limit=20" for c in cats],
        "list_attr2": [f"/api/products?category={c}&{ATTR2[c]}&limit=20" for c in cats],
        "keyset_page50": [
            f"/api/products?category={c}&sort=price&limit=20&cursor={cursors[c]}" for c in cats
        ],
        "prices": [f"/api/products/{i}/prices" for i in ids],
        "health": ["/health"],
        "constant": ["/baseline/constant"],
        "raw_by_id": [f"/baseline/products/{i}" for i in ids],
        "by_id_hot": [f"/api/products/{i}" for i in hot],
        "raw_by_id_hot": [f"/baseline/products/{i}" for i in hot],
        "raw_list": [f"/baseline/products?category={c}&limit=20" for c in cats],
        "raw_list_attr1": [f"/baseline/products?category={c}&{ATTR1[c]}&limit=20" for c in cats],
        "raw_list_attr2": [f"/baseline/products?category={c}&{ATTR2[c]}&limit=20" for c in cats],
    }


ORDER = [
    "constant",
    "by_id",
    "raw_by_id",
    "list",
    "raw_list",
    "list_attr1",
    "raw_list_attr1",
    "list_attr2",
    "raw_list_attr2",
    "keyset_page50",
    "prices",
    "health",
    "post",
    "raw_post",
    "patch",
    "raw_patch",
    "cached_by_id",
    "cached_by_id_hot",
    "raw_by_id_hot",
    "cached_list",
    "traced_by_id",
]
WRITE_SCRIPTS = {"post": "post.lua", "patch": "patch.lua"}
# The same paths as these scenarios, on the server with the cache on.
CACHED = {"cached_by_id": "by_id", "cached_by_id_hot": "by_id_hot", "cached_list": "list"}
# The same paths, on a server with tracing on (spans exported to a sink in this process).
TRACED = {"traced_by_id": "by_id"}


BARE_STACK = "import fastapi, sqlalchemy.ext.asyncio, asyncpg, uvicorn, pydantic_settings, orjson"


def _bare_import_once(env: dict[str, str]) -> float:
    """Seconds for a new interpreter to import the stack trackr serves on, and exit: the floor
    under any app built on it."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", BARE_STACK], env=env, cwd=ROOT, check=True)
    return time.monotonic() - started


HEALTH_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _health_answers(port: int) -> bool:
    """One /health over a bare socket: a probe that costs the starting server's two cores
    next to nothing (an HTTP client made per try costs milliseconds each, 20 times a second)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(HEALTH_REQUEST)
            return conn.recv(64).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def _cold_start_once(env: dict[str, str]) -> float:
    """Seconds from `trackr serve`'s process start to the first 200 from /health."""
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [str(BIN / "trackr"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _health_answers(port), f"/health on port {port}", every=0.005)
        return time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def cold_start(env: dict[str, str], runs: int = 7) -> dict[str, float]:
    """The cold start next to the bare stack's import, sampled in alternation (the machine's
    speed drifts between blocks of runs): medians of each and of the pairs' ratios."""
    bare, cold = [], []
    for _ in range(runs):
        bare.append(_bare_import_once(env))
        cold.append(_cold_start_once(env))
    return {
        "bare_import_seconds": round(statistics.median(bare), 3),
        "cold_start_seconds": round(statistics.median(cold), 3),
        "cold_start_ratio": round(
            statistics.median(c / b for c, b in zip(cold, bare, strict=True)), 2
        ),
    }


COLUMNS = "id, category, name, url, price, currency, in_stock, attributes, created_at, updated_at"


def explain(cluster: Cluster, cursors: dict[str, str], dbname: str = "trackr") -> dict[str, str]:
    """The plans of the list queries trackr sends, on the replica that serves them."""
    replica = cluster.replicas()[0]
    cursor = Cursor.decode(cursors["mac"], "price")
    attrs = """'{"ram_gb": 16, "chip": "M2"}'"""
    queries = {
        "filtered list (category=mac&attr.ram_gb=16&attr.chip=M2)": (
            f"SELECT {COLUMNS} FROM products WHERE category = 'mac' "
            f"AND attributes @> {attrs} ORDER BY id LIMIT 21"
        ),
        "deep keyset page (category=mac&sort=price, page 50)": (
            f"SELECT {COLUMNS} FROM products WHERE category = 'mac' "
            f"AND (price, id) > ({cursor.value}, {cursor.id}) ORDER BY price, id LIMIT 21"
        ),
    }
    plan = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
    return {title: replica.sql(f"{plan} {sql}", dbname=dbname) for title, sql in queries.items()}


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {python}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of each twinned scenario"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios (their twins come along), printed but not written "
        "to docs: for iterating on one path, e.g. --only post; `cold` measures the cold start",
    )
    args = parser.parse_args()
    ensure_wrk()
    started = datetime.now(UTC)
    cluster = Cluster(ROOT / ".data" / "bench-cluster")
    print(f"bench: {cluster.describe_binaries()}", flush=True)
    cluster.up(replicas=1)
    env = cluster.env()
    base_env = production_env(env)
    subprocess.run(
        [str(BIN / "trackr"), "db", "upgrade"],
        env=base_env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    if args.only == "cold":
        cold = cold_start(base_env)
        print(
            f"bench: bare stack {cold['bare_import_seconds']} s, cold start "
            f"{cold['cold_start_seconds']} s: {cold['cold_start_ratio']}x",
            flush=True,
        )
        cluster.down()
        return
    print(f"bench: loading {args.rows} products …", flush=True)
    load_started = time.monotonic()
    asyncio.run(dataset.load(env["DATABASE_URL"], args.rows))
    print(f"bench: loaded in {time.monotonic() - load_started:.1f}s", flush=True)
    wait_replica(cluster)
    cursors = deep_cursors(cluster)
    token = create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 7200)
    replica_dsn = env["DATABASE_REPLICA_URLS"].split("=", 1)[1]
    results: dict[str, Any] = {
        "rows": args.rows,
        "started": started.isoformat(),
        "machine": machine(),
        "duration": args.duration,
        "connections": args.connections,
        "rounds": args.rounds,
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="trackr-bench-") as tmp:
        directory = Path(tmp)
        paths = scenario_paths(args.rows, cursors, random.Random(7))
        files = {name: write_paths(directory, name, p) for name, p in paths.items()}
        for workers in (int(w) for w in args.workers.split(",")):
            results["runs"][str(workers)] = _run_workers(
                workers, base_env, replica_dsn, files, token, args, directory
            )
        if args.only:
            cluster.down()
            return
        # Side by side, alternating, as the machine's speed drifts.
        results.update(cold_start(base_env))
    results["explain"] = explain(cluster, cursors)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.rows}-rows.json").write_text(json.dumps(results, indent=2))
    (ROOT / "docs" / "benchmarks.md").write_text(render(RESULTS))
    cluster.down()
    print("bench: wrote docs/benchmarks.md", flush=True)


def wait_replica(cluster: Cluster, timeout: float = 120) -> None:
    target = cluster.primary().sql("SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + timeout
    query = f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '{target}') >= 0"
    while cluster.replicas()[0].sql(query) != "t":
        if time.monotonic() > deadline:
            raise RuntimeError("the replica did not catch up with the loaded data")
        time.sleep(0.2)


def _run_workers(
    workers: int,
    base_env: dict[str, str],
    replica_dsn: str,
    files: dict[str, Path],
    token: str,
    args: argparse.Namespace,
    directory: Path,
) -> dict[str, Any]:
    print(f"bench: {workers} worker(s)", flush=True)
    # The uncached rows measure the database path as before; the cached ones a second server
    # with the read cache (memory tier, CACHE_TTL_SECONDS default).
    trackr_env = {**base_env, "WEB_CONCURRENCY": str(workers), "CACHE_ENABLED": "false"}
    cached_env = {**trackr_env, "CACHE_ENABLED": "true"}
    traced_env = {**trackr_env, "OTEL_SERVICE_NAME": "trackr-bench"}
    baseline_env = {
        **base_env,
        "BASELINE_DSN": replica_dsn,
        "BASELINE_WRITE_DSN": base_env["DATABASE_URL"],
    }
    trackr_cmd = [str(BIN / "trackr"), "serve", "--host", "127.0.0.1"]
    baseline_cmd = [
        str(BIN / "uvicorn"),
        "bench.baseline:app",
        "--host",
        "127.0.0.1",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    scenarios: dict[str, Any] = {}
    ratios: dict[str, list[float]] = {}
    rss = 0.0
    with (
        server(trackr_cmd, trackr_env, "/health", directory / "trackr.log") as (trackr, pid),
        server(baseline_cmd, baseline_env, "/baseline/constant", directory / "baseline.log") as (
            baseline,
            _,
        ),
        server(trackr_cmd, cached_env, "/health", directory / "cached.log") as (cached, _),
        otlp_sink() as sink,
        server(
            trackr_cmd,
            {**traced_env, "OTEL_EXPORTER_OTLP_ENDPOINT": sink},
            "/health",
            directory / "traced.log",
        ) as (traced, _),
    ):

        def drive(name: str, duration: float) -> wrk.WrkResult:
            target = baseline if name == "constant" or name.startswith("raw_") else trackr
            target = cached if name in CACHED else target
            target = traced if name in TRACED else target
            script = WRITE_SCRIPTS.get(name.removeprefix("raw_"), "paths.lua")
            raw = name.startswith("raw_")
            env = {
                **os.environ,
                "PATHS_FILE": str(
                    files.get(CACHED.get(name, TRACED.get(name, name)), files["health"])
                ),
                "TOKEN": token,
                "POST_PATH": "/baseline/products" if raw else "/api/products",
                "PATCH_PREFIX": "/baseline/products/" if raw else "/api/products/",
                "MAX_ID": str(args.rows),
            }
            return wrk.run(name, target, script, env, duration, args.connections)

        only = {n for n in args.only.split(",") if n}
        for name in ORDER:
            if only and name not in only:
                continue
            if name in TWINS.values():
                continue  # measured in rounds with its trackr scenario
            pair = [name, TWINS[name]] if name in TWINS else [name]
            for each in pair:
                drive(each, min(3.0, args.duration))  # warm up
            # Twins alternate for several rounds: the machine's speed drifts between runs,
            # and the ratio is only meaningful for runs next to each other.
            rounds = args.rounds if name in TWINS else 1
            measured: dict[str, list[wrk.WrkResult]] = {each: [] for each in pair}
            lookups_before = cache_lookups(cached)
            for _ in range(rounds):
                for each in pair:
                    measured[each].append(drive(each, args.duration))
            hit_ratio = hits_since(lookups_before, cache_lookups(cached))
            if name == "by_id":
                rss = worker_rss_mb(pid)
            for each in pair:
                result = median_run(measured[each])
                # A twin serves several scenarios (raw by id: uncached, cached, traced); the
                # table shows it once, next to the first, so that row keeps its first pairing.
                if each == name or each not in scenarios:
                    scenarios[each] = result.as_dict()
                if each in CACHED:
                    scenarios[each]["hit_ratio"] = hit_ratio
                hits = f"  cache hits {hit_ratio:.0%}" if each in CACHED and hit_ratio else ""
                print(
                    f"  {each:<16} {result.rps:>9.0f} req/s  p50 {result.p50_ms:>7.2f} ms  "
                    f"p99 {result.p99_ms:>7.2f} ms  errors {result.errors}{hits}",
                    flush=True,
                )
            if name in TWINS:
                ratios[name] = [
                    round(ours.rps / theirs.rps, 3)
                    for ours, theirs in zip(measured[name], measured[TWINS[name]], strict=True)
                ]
                print(f"  {name:<16} ratio per round {ratios[name]}", flush=True)
    return {"scenarios": scenarios, "ratios": ratios, "rss_mb_per_worker": rss}


def cache_lookups(base: str) -> dict[str, float]:
    """The cached server's memory-tier lookups by result, summed over its workers."""
    counts: dict[str, float] = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith("trackr_cache_lookups_total{") and 'tier="memory"' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            counts[result] = counts.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def hits_since(before: dict[str, float], after: dict[str, float]) -> float | None:
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    lookups = sum(delta.values())
    return round(delta.get("hit", 0.0) / lookups, 3) if lookups else None


def median_run(runs: list[wrk.WrkResult]) -> wrk.WrkResult:
    """The round with the median throughput, errors summed over every round."""
    middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    return replace(middle, errors=sum(r.errors for r in runs))


if __name__ == "__main__":
    main()
