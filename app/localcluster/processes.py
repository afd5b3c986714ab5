"""Background server processes the cluster starts, tracks by PID and stops (or kills)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from app.localcluster.osuser import RunAs


def process_tree(root: int) -> list[int]:
    """`root` and every process it started, from /proc (children may be in other sessions)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def is_alive(pid: int | None, marker: str) -> bool:
    """Whether `pid` runs and its command line contains `marker` (a reused PID does not count)."""
    if pid is None:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[1].split()[0] == "Z"
    return not zombie and marker.encode() in cmdline


def spawn(
    cmd: list[str], log: Path, run_as: RunAs, cwd: Path, env: dict[str, str] | None = None
) -> int:
    """Start `cmd` in its own session, detached from the caller, output appended to `log`;
    `env` adds to the environment it inherits."""
    kwargs = run_as.popen_kwargs()
    if env:
        inherited = kwargs.get("env", os.environ)
        assert isinstance(inherited, Mapping)
        kwargs["env"] = {**inherited, **env}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
    return int(process.pid)


def terminate(pid: int, marker: str, timeout: float = 60) -> None:
    """SIGTERM and wait for the exit; SIGKILL the tree if it does not exit in `timeout`."""
    if not is_alive(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_alive(pid, marker):
        if time.monotonic() > deadline:
            kill(process_tree(pid))
            return
        _reap(pid)
        time.sleep(0.05)


def kill(pids: list[int]) -> None:
    """SIGKILL every PID at once (a node's loss: nothing gets to clean up)."""
    send_all(pids, signal.SIGKILL)
    for pid in pids:
        _reap(pid)


def send_all(pids: list[int], sig: signal.Signals) -> None:
    """One signal to every PID that still exists: SIGSTOP hangs a node as a frozen or
    partitioned host looks to TCP (connections open, nothing answered), SIGCONT ends it."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    # A process this one spawned stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
