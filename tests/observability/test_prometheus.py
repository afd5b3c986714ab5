"""The dashboards and rules against a real Prometheus (Debian's) scraping two real `trackr
serve` nodes and `trackr monitor` under a short load. Every Grafana panel's query and every
recording rule must return data, every rule must evaluate without error, and each node's
/metrics must pass `promtool check metrics`."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from app.localcluster.cluster import APP_DB
from app.localcluster.ports import free_port
from tests.faults.harness import SECRET, ApiServer, api_env
from tests.monitor.backends import MonitorProcess, truncate
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "trackr.json"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

if PROMETHEUS is None or PROMTOOL is None:
    pytest.skip("Debian's prometheus is not installed", allow_module_level=True)


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, expression) for every query of every panel."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def recording_rules() -> list[str]:
    groups = yaml.safe_load((OBSERVABILITY / "prometheus" / "recording.yml").read_text())
    return [rule["record"] for group in groups["groups"] for rule in group["rules"]]


class Prometheus:
    def __init__(self, directory: Path, targets: dict[str, list[str]]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [
                str(OBSERVABILITY / "prometheus" / "recording.yml"),
                str(OBSERVABILITY / "prometheus" / "alerts.yml"),
            ],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": hosts}]}
                for job, hosts in targets.items()
            ],
        }
        self.config = directory / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        assert PROMETHEUS is not None
        with open(self.directory / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, "Prometheus never became ready"
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text()[-3000:]

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def api(self, path: str) -> Any:
        return httpx.get(f"{self.url}/api/v1/{path}", timeout=10).json()["data"]


class Load(threading.Thread):
    """Reads (the same ids again, so the cache hits), lists, writes and a few 404s on both
    nodes until stopped."""

    def __init__(self, nodes: list[ApiServer], token: str) -> None:
        super().__init__(daemon=True)
        self.nodes = nodes
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stop = threading.Event()
        self.requests = 0

    def run(self) -> None:
        coin = {"denomination": "1 franc", "year": 1999, "metal": "silver"}
        body = {"category": "coins", "name": "observed", "price": 3.5, "attributes": coin}
        with httpx.Client(timeout=5) as client:
            for n in count():
                if self.stop.is_set() or n >= 200_000:
                    return
                node = self.nodes[n % len(self.nodes)].base_url
                if n % 10 == 0:
                    client.post(f"{node}/api/products", json=body, headers=self.headers)
                elif n % 10 == 1:
                    client.get(f"{node}/api/products/999999999")
                elif n % 10 == 2:
                    client.get(f"{node}/api/products", params={"category": "coins"})
                else:
                    client.get(f"{node}/api/products/{1 + n % 5}")
                self.requests += 1


@contextmanager
def observed_stack(
    cluster: Cluster, redis: RedisServer, directory: Path
) -> Iterator[tuple[Prometheus, list[ApiServer], MonitorProcess, Load]]:
    """Two `trackr serve` nodes (cache and rate limits on `redis`), `trackr monitor` and a
    Prometheus scraping all three every second, under `Load` until the block ends."""
    truncate(cluster, APP_DB)
    cluster.primary().sql(  # earlier tests' jobs (a verify that failed, on purpose) go
        "TRUNCATE backup_events; "
        "INSERT INTO backup_events (kind, ok, backup_id, finished_at) VALUES "
        "('backup', true, 'observed', now() - interval '2 hours'), "
        "('verify', true, 'observed', now() - interval '1 hour')",
        dbname=APP_DB,
    )
    env = {
        **api_env(cluster),
        "CACHE_ENABLED": "true",
        "CACHE_URL": redis.url,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_STORAGE_URL": redis.url,
        "RATE_LIMIT_READS": "100000/minute",
        "RATE_LIMIT_WRITES": "100000/minute",
        "BACKUP_STATUS_INTERVAL_SECONDS": "1",
    }
    nodes = [ApiServer(env, directory / f"node-{name}.log") for name in "ab"]
    token = create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 600)
    load = Load(nodes, token)
    monitor = MonitorProcess(
        {f"node-{n}": node.base_url for n, node in zip("ab", nodes, strict=True)},
        f"sqlite:///{directory}/monitor.db",
        directory / "monitor.log",
        MONITOR_INTERVAL_SECONDS="0.5",
    )
    try:
        for node in nodes:
            node.start()
        for _ in range(5):  # products 1..5, read again and again
            httpx.post(f"{nodes[0].base_url}/api/products", timeout=5, headers=load.headers,
                       json={"category": "games", "name": "seed", "price": 1,
                             "attributes": {"platform": "SNES"}})  # fmt: skip
        monitor.start()
        load.start()
        targets = {
            "trackr": [node.base_url.removeprefix("http://") for node in nodes],
            "trackr-monitor": [monitor.base_url.removeprefix("http://")],
        }
        with Prometheus(directory, targets) as prometheus:
            yield prometheus, nodes, monitor, load
    finally:
        load.stop.set()
        load.join(timeout=30)
        monitor.stop()
        for node in nodes:
            node.stop()


@pytest.fixture
def observed(
    migrated: Cluster, redis: RedisServer, tmp_path: Path
) -> Iterator[tuple[Prometheus, list[ApiServer], MonitorProcess]]:
    with observed_stack(migrated, redis, tmp_path) as (prometheus, nodes, monitor, _):
        yield prometheus, nodes, monitor


def test_every_panel_and_recording_rule_returns_data_and_every_rule_evaluates(
    observed: tuple[Prometheus, list[ApiServer], MonitorProcess],
) -> None:
    prometheus, _, _ = observed
    queries = panel_queries() + [(f"recording rule {r}", r) for r in recording_rules()]
    assert len(queries) > 20
    empty = queries
    deadline = time.monotonic() + 90
    while empty and time.monotonic() < deadline:
        empty = [(title, expr) for title, expr in empty if not prometheus.query(expr)]
        time.sleep(1)
    assert not empty, f"no data for {empty}\n{prometheus.log()}"
    groups = prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(recording_rules()) + 23
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken
    firing = prometheus.api("alerts")["alerts"]
    assert [a["labels"]["alertname"] for a in firing if a["state"] == "firing"] == []
    targets = prometheus.api("targets")["activeTargets"]
    assert {t["health"] for t in targets} == {"up"}, targets


def test_each_nodes_metrics_pass_promtool(
    observed: tuple[Prometheus, list[ApiServer], MonitorProcess],
) -> None:
    _, nodes, monitor = observed
    assert PROMTOOL is not None
    for url in [node.base_url for node in nodes] + [monitor.base_url]:
        exposition = httpx.get(f"{url}/metrics", timeout=5).text
        checked = subprocess.run(
            [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, (url, checked.stdout, checked.stderr)
