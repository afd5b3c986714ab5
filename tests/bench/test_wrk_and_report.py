"""The benchmark harness's own parts: wrk's report is read right, the doc renders ratios."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import render
from bench.run import median_run
from bench.wrk import WrkResult, parse

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    2.01ms  40.00ms   90.00%
    Req/Sec     3.10k   200.00     3.50k    70.00%
  Latency Distribution
     50%    4.80ms
     75%    5.90ms
     90%    7.20ms
     99%    1.20s
  61840 requests in 10.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   6183.95
Transfer/sec:      3.00MB
"""


def test_parse_reads_rate_percentiles_and_every_kind_of_error() -> None:
    result = parse("by_id", WRK_OUTPUT)
    assert result.requests == 61840
    assert result.rps == 6183.95
    assert result.p50_ms == 4.8
    assert result.p99_ms == 1200.0
    assert result.errors == 7


def _bench_run(rps: dict[str, float], **extra: object) -> dict[str, object]:
    """One `make bench` result file with one 1-worker run at these rates."""
    scenario = {"requests": 1, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}
    ratios = extra.pop("ratios", None)
    run: dict[str, object] = {
        "rss_mb_per_worker": 80.0,
        "scenarios": {name: {**scenario, "scenario": name, "rps": r} for name, r in rps.items()},
    }
    if ratios is not None:
        run["ratios"] = ratios
    return {
        "rows": 100000,
        "started": "2026-11-23T10:00:00",
        "machine": "test box",
        "duration": 10,
        "connections": 32,
        "cold_start_seconds": 0.9,
        "explain": {"filtered list": "Index Scan using ix_products_attributes"},
        "runs": {"1": run},
        **extra,
    }


def test_render_shows_ratios_against_the_twin(tmp_path: Path) -> None:
    rates = {"by_id": 900.0, "raw_by_id": 1000.0, "list": 500.0, "raw_list": 1000.0}
    (tmp_path / "100000-rows.json").write_text(json.dumps(_bench_run(rates)))
    doc = render(tmp_path)
    assert "**0.90x** (met)" in doc
    assert "**0.50x** (target 0.8x)" in doc
    assert "0.9 s" in doc
    assert "Index Scan using ix_products_attributes" in doc
    assert "Scale run not recorded yet" in doc


def test_render_takes_the_median_of_alternating_rounds(tmp_path: Path) -> None:
    data = _bench_run(
        {"by_id": 700.0, "raw_by_id": 1000.0}, rounds=3, ratios={"by_id": [0.7, 0.95, 0.88]}
    )
    (tmp_path / "100000-rows.json").write_text(json.dumps(data))
    doc = render(tmp_path)
    assert "**0.88x** (met); rounds 0.70 to 0.95" in doc
    assert "alternate for 3 rounds" in doc


def test_median_run_sums_errors_over_rounds() -> None:
    rounds = ((5.0, 1), (9.0, 0), (7.0, 2))
    runs = [WrkResult("by_id", 10, rps, 1.0, 2.0, errors) for rps, errors in rounds]
    middle = median_run(runs)
    assert middle.rps == 7
    assert middle.errors == 3


def test_render_shows_the_side_by_side_scale_run(tmp_path: Path) -> None:
    def size(p99: float) -> dict[str, float]:
        return {"p99_ms": p99, "p50_ms": 1.0, "rps": 100.0, "errors": 0}

    scale = {
        "started": "2026-11-23T10:00:00",
        "machine": "test box",
        "rounds": 3,
        "duration": 8,
        "connections": 32,
        "explain_1m": {"deep page": "Index Scan using ix_products_category_price"},
        "scenarios": {
            "list_attr1": {"100000": size(10.0), "1000000": size(15.0)},
            "keyset_page50": {"100000": size(10.0), "1000000": size(25.0)},
        },
    }
    (tmp_path / "scale.json").write_text(json.dumps(scale))
    doc = render(tmp_path)
    assert "**1.50x** (met)" in doc
    assert "**2.50x** (missed)" in doc
    assert "ix_products_category_price" in doc
    assert "Scale run not recorded yet" not in doc
