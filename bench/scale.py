"""`make bench-scale`: list and deep-page latency at 100,000 and at 1,000,000 rows, side by side.

Two databases on one cluster (`trackr` with the small catalogue, `trackr_1m` with the large
one), one `trackr serve` on each, and each scenario driven against the small one then the
large one, for several rounds: both sizes see the same machine at nearly the same moment, so
the p99 ratio means something on a shared, noisy box (two separate `make bench` runs did not).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.localcluster import Cluster
from bench import dataset, wrk
from bench.report import render
from bench.run import (
    BIN,
    RESULTS,
    ROOT,
    deep_cursors,
    ensure_wrk,
    explain,
    machine,
    production_env,
    scenario_paths,
    server,
    wait_replica,
    write_paths,
)

SCENARIOS = ["list", "list_attr1", "list_attr2", "keyset_page50"]
SIZES = {"trackr": 100_000, "trackr_1m": 1_000_000}


def prepare(cluster: Cluster, env: dict[str, str]) -> None:
    for dbname, rows in SIZES.items():
        cluster.create_database(dbname)
        url = cluster.env(dbname)["DATABASE_URL"]
        subprocess.run(
            [str(BIN / "trackr"), "db", "upgrade"],
            env={**env, "DATABASE_URL": url},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        print(f"bench-scale: loading {rows:,} products into {dbname} …", flush=True)
        asyncio.run(dataset.load(url, rows))
    wait_replica(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    ensure_wrk()
    started = datetime.now(UTC)
    cluster = Cluster(ROOT / ".data" / "bench-cluster")
    cluster.up(replicas=1)
    env = {**production_env(cluster.env()), "WEB_CONCURRENCY": "1"}
    prepare(cluster, env)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {db: [] for db in SIZES} for name in SCENARIOS
    }
    with tempfile.TemporaryDirectory(prefix="trackr-bench-scale-") as tmp:
        directory = Path(tmp)
        files: dict[str, dict[str, Path]] = {}
        for dbname, rows in SIZES.items():
            paths = scenario_paths(rows, deep_cursors(cluster, dbname=dbname), random.Random(7))
            files[dbname] = {
                name: write_paths(directory, f"{dbname}-{name}", paths[name]) for name in SCENARIOS
            }
        command = [str(BIN / "trackr"), "serve", "--host", "127.0.0.1"]
        envs = {db: {**env, **cluster.env(db)} for db in SIZES}
        with (
            server(command, envs["trackr"], "/health", directory / "small.log") as (small, _),
            server(command, envs["trackr_1m"], "/health", directory / "large.log") as (large, _),
        ):
            bases = {"trackr": small, "trackr_1m": large}
            for round_ in range(1, args.rounds + 1):
                for name in SCENARIOS:
                    for dbname, base in bases.items():
                        wrk_env = {**os.environ, "PATHS_FILE": str(files[dbname][name])}
                        wrk.run(name, base, "paths.lua", wrk_env, 3.0, args.connections)
                        result = wrk.run(
                            name, base, "paths.lua", wrk_env, args.duration, args.connections
                        )
                        samples[name][dbname].append(result.as_dict())
                        print(
                            f"  round {round_} {name:<14} {SIZES[dbname]:>9,} rows "
                            f"{result.rps:>7.0f} req/s  p99 {result.p99_ms:>7.2f} ms  "
                            f"errors {result.errors}",
                            flush=True,
                        )
    summary = {
        name: {
            str(SIZES[db]): {
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "rps": statistics.median(r["rps"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "p99_rounds": [r["p99_ms"] for r in runs],
            }
            for db, runs in by_db.items()
        }
        for name, by_db in samples.items()
    }
    large_cursors = deep_cursors(cluster, dbname="trackr_1m")
    results = {
        "started": started.isoformat(),
        "machine": machine(),
        "rounds": args.rounds,
        "duration": args.duration,
        "connections": args.connections,
        "scenarios": summary,
        "explain_1m": explain(cluster, large_cursors, dbname="trackr_1m"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))
    (ROOT / "docs" / "benchmarks.md").write_text(render(RESULTS))
    cluster.down()
    print("bench-scale: wrote docs/benchmarks.md", flush=True)


if __name__ == "__main__":
    main()
