"""`python -m tests.client.serve_trio`: a migrated test cluster and three backends (killed,
hung-able, healthy) for `npm test` run on its own; prints one JSON line describing them and
keeps them up until its stdin closes (the test runner that started it exits)."""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType

from alembic import command
from app.localcluster import Cluster
from tests.client.backends import start_trio
from tests.conftest import alembic_config, private_dir


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit)
    with private_dir("ts-client") as path:
        cluster = Cluster(path / "cluster")
        try:
            cluster.up(replicas=1)
            command.upgrade(alembic_config(cluster.env()["DATABASE_URL"]), "head")
            trio = start_trio(cluster, path)
            try:
                print(json.dumps(trio.describe()), flush=True)
                sys.stdin.read()
            finally:
                trio.stop()
        finally:
            cluster.destroy()


if __name__ == "__main__":
    main()
