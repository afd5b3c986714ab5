"""`python -m tests.client.serve_trio`: a migrated test cluster and three backends (killed,
hung-able, healthy) for `npm test` run on its own; prints one JSON line describing them and
keeps them up until its stdin closes (the test runner that started it exits)."""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType

from tests.client.backends import trio_on_new_cluster


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit)
    with trio_on_new_cluster("ts-client") as (trio, _):
        print(json.dumps(trio.describe()), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
