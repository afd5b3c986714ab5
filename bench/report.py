"""Render docs/benchmarks.md from the JSON results of every `make bench` run kept in docs/bench."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

TWINS = {
    "by_id": "raw_by_id",
    "list": "raw_list",
    "list_attr1": "raw_list_attr1",
    "list_attr2": "raw_list_attr2",
    "post": "raw_post",
    "patch": "raw_patch",
    "cached_by_id": "raw_by_id",
    "cached_by_id_hot": "raw_by_id_hot",
    "cached_list": "raw_list",
    "traced_by_id": "raw_by_id",
}
TARGETS = {
    "by_id": 0.85,
    "list": 0.8,
    "list_attr1": 0.8,
    "list_attr2": 0.8,
    "post": 1.0,
    "patch": 1.0,
    "cached_by_id": 2.0,
    "cached_by_id_hot": 2.0,
    "cached_list": 2.0,
}
LABELS = {
    "constant": "constant JSON (framework ceiling)",
    "by_id": "GET /api/products/{id}",
    "raw_by_id": "raw asyncpg by id",
    "list": "GET /api/products?category=…&limit=20",
    "raw_list": "raw asyncpg category list",
    "list_attr1": "… + one attr.* filter",
    "raw_list_attr1": "raw asyncpg + one attribute filter",
    "list_attr2": "… + two attr.* filters",
    "raw_list_attr2": "raw asyncpg + two attribute filters",
    "keyset_page50": "keyset page 50 (sort=price)",
    "prices": "GET /api/products/{id}/prices",
    "health": "GET /health",
    "post": "POST /api/products (JWT)",
    "raw_post": "raw asyncpg write (one transaction + the token's position)",
    "patch": "PATCH /api/products/{id} price (JWT)",
    "raw_patch": "raw asyncpg update (lock, update, price point + the token's position)",
    "cached_by_id": "GET /api/products/{id}, read cache on",
    "cached_by_id_hot": "GET /api/products/{id}, read cache on, Zipf-skewed ids",
    "raw_by_id_hot": "raw asyncpg by id, Zipf-skewed ids",
    "cached_list": "GET /api/products?category=…&limit=20, read cache on",
    "traced_by_id": "GET /api/products/{id}, tracing on (every request and statement exported)",
}


def _table(run: dict[str, Any]) -> list[str]:
    scenarios = run["scenarios"]
    rounds: dict[str, list[float]] = run.get("ratios", {})
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | errors | vs raw-asyncpg twin | cache hits |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in scenarios.items():
        ratio = ""
        if name in TWINS and TWINS[name] in scenarios:
            per_round = rounds.get(name) or [result["rps"] / scenarios[TWINS[name]]["rps"]]
            value = statistics.median(per_round)
            target = TARGETS.get(name)
            verdict = (
                "no target" if target is None else "met" if value >= target else f"target {target}x"
            )
            ratio = f"**{value:.2f}x** ({verdict})"
            if len(per_round) > 1:
                ratio += f"; rounds {min(per_round):.2f} to {max(per_round):.2f}"
        hits = result.get("hit_ratio")
        lines.append(
            f"| {LABELS.get(name, name)} | {result['rps']:.0f} | {result['p50_ms']:.2f} "
            f"| {result['p99_ms']:.2f} | {result['errors']} | {ratio} "
            f"| {'' if hits is None else f'{hits:.0%}'} |"
        )
    return lines


def _scale(directory: Path) -> list[str]:
    path = directory / "scale.json"
    if not path.exists():
        return ["Scale run not recorded yet: `make bench-scale`.", ""]
    data = json.loads(path.read_text())
    lines = [
        f"Produced by `make bench-scale` (`bench/scale.py`), run "
        f"{data['started'][:16].replace('T', ' ')} UTC on {data['machine']}: two databases on "
        "one cluster (100,000 and 1,000,000 products), one `trackr serve` (1 worker) on each, "
        f"each scenario driven against the small then the large one, {data['rounds']} rounds of "
        f"{data['duration']:g} s after a warm-up, {data['connections']} connections; the median "
        "p99 of the rounds.",
        "",
        "| scenario | p99 at 100k | p99 at 1M | ratio (target ≤ 2x) | req/s 100k → 1M | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, sizes in data["scenarios"].items():
        small, large = sizes["100000"], sizes["1000000"]
        ratio = large["p99_ms"] / small["p99_ms"]
        verdict = "met" if ratio <= 2 else "missed"
        lines.append(
            f"| {LABELS[name]} | {small['p99_ms']:.2f} ms | {large['p99_ms']:.2f} ms "
            f"| **{ratio:.2f}x** ({verdict}) | {small['rps']:.0f} → {large['rps']:.0f} "
            f"| {small['errors'] + large['errors']} |"
        )
    lines += ["", "Plans at 1,000,000 rows, on the replica (`EXPLAIN ANALYZE`):", ""]
    for title, plan in data["explain_1m"].items():
        lines += [f"- {title}", "", "```", plan, "```", ""]
    return lines


def _cold_ratio(data: dict[str, Any]) -> str:
    bare = data.get("bare_import_seconds")
    if not bare:
        return ""
    ratio = data.get("cold_start_ratio") or data["cold_start_seconds"] / bare
    verdict = "met" if ratio <= 1.2 else "target ≤ 1.2x"
    return (
        f"; importing the bare stack (fastapi, sqlalchemy.asyncio, asyncpg, uvicorn, "
        f"pydantic-settings, orjson) took {bare} s, sampled in alternation: "
        f"**{ratio:.2f}x** (median of the pairs; {verdict})"
    )


def render(directory: Path) -> str:
    results = {
        data["rows"]: data
        for data in (json.loads(p.read_text()) for p in sorted(directory.glob("*-rows.json")))
    }
    out = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`bench/run.py`): the local cluster started as `make run` does",
        "(primary + 1 streaming replica, PostgreSQL 16 from the pgserver wheel), the catalogue",
        "loaded with COPY, then `wrk -t2 -c32 --latency` against `trackr serve` and, right after",
        "each trackr scenario, against its twin in `bench/baseline.py` (the same query on a bare",
        "asyncpg pool against the same replica, and a constant-JSON endpoint). trackr runs as in",
        "production: `APP_ENV=production`, JSON access log per request, JWT on writes, routing",
        "session, replica monitor. Load generator, servers and both PostgreSQL nodes share one",
        "machine, so compare the ratios, not the absolute numbers. Where the time goes and the",
        "steps taken so far: [performance-notes.md](performance-notes.md).",
        "",
    ]
    for rows, data in sorted(results.items()):
        out += [
            f"## {rows:,} products",
            "",
            f"Run {data['started'][:16].replace('T', ' ')} UTC on {data['machine']}; "
            f"{data['duration']:g} s per scenario after a warm-up, "
            f"{data['connections']} connections"
            + (
                f"; each trackr scenario and its twin alternate for {data['rounds']} rounds "
                "(the row shows the median round, the ratio is the median of the rounds' ratios)."
                if data.get("rounds", 1) > 1
                else "."
            ),
            "",
        ]
        for workers, run in sorted(data["runs"].items()):
            out += [
                f"### {workers} worker(s)",
                "",
                *_table(run),
                "",
                f"Resident memory per worker under load: {run['rss_mb_per_worker']} MB.",
                "",
            ]
        out += [
            f"Cold start (process start → first 200 from `/health`, median of 7): "
            f"**{data['cold_start_seconds']} s** (target < 2 s)" + _cold_ratio(data) + ".",
            "",
        ]
        out += ["Plans on the replica (`EXPLAIN ANALYZE`):", ""]
        for title, plan in data["explain"].items():
            out += [f"- {title}", "", "```", plan, "```", ""]
    out += ["## Scale: 100,000 → 1,000,000 rows", "", *_scale(directory)]
    return "\n".join(out)
