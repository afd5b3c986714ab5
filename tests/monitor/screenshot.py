"""`make monitor-screenshot`: the dashboard against three local backends, as a PNG for the docs.

render and railway serve the same (seeded) database, fly a database of its own with fewer
products (data drift); railway is then stopped (down, an incident).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from tests.browser import chromium
from tests.conftest import alembic_config
from tests.faults.harness import SECRET, seed_database
from tests.monitor.backends import (
    MonitorProcess,
    add_products,
    create_database,
    start_backend,
)

OUTPUT = Path("docs/images/monitor-dashboard.png")


def main(output: Path = OUTPUT) -> None:
    base = Path(tempfile.mkdtemp(prefix="trackr-screenshot-"))
    base.chmod(0o755)
    cluster = Cluster(base / "cluster")
    cluster.up(replicas=1)
    servers = []
    try:
        command.upgrade(alembic_config(cluster.env()["DATABASE_URL"]), "head")
        asyncio.run(seed_database(cluster.env()["DATABASE_URL"]))
        create_database(cluster, "trackr_fly")
        names = {"render": "trackr", "railway": "trackr", "fly": "trackr_fly"}
        with ThreadPoolExecutor(3) as starting:
            servers = list(starting.map(lambda n: start_backend(cluster, base, n, names[n]), names))
        render, railway, fly = servers
        token = create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 600)
        add_products(fly, token, 11)
        urls = {name: server.base_url for name, server in zip(names, servers, strict=True)}
        monitor = MonitorProcess(
            urls,
            f"sqlite:///{base}/monitor.db",
            base / "monitor.log",
            MONITOR_INTERVAL_SECONDS="0.5",
            MONITOR_FAILURES_BEFORE_DOWN="3",
            MONITOR_REFRESH_SECONDS="1",
        )
        with monitor:
            time.sleep(10)
            add_products(render, token, 2)
            time.sleep(5)
            railway.stop()
            monitor.wait_until(lambda s: s["backends"][1]["status"] == "down")
            time.sleep(4)
            driver = chromium(base / "profile")
            try:
                driver.set_window_size(1400, 1150)
                driver.get(monitor.base_url + "/")
                time.sleep(2)
                output.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(output))
            finally:
                driver.quit()
        print(f"wrote {output}")
    finally:
        for server in servers:
            server.stop()
        cluster.destroy()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
