"""What every local cluster kind shares: a directory, a JSON state file, the binaries and
the unprivileged user its servers run as."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from app.localcluster.binaries import PgBinaries, find_binaries
from app.localcluster.osuser import RunAs, resolve_run_as


class ClusterError(RuntimeError):
    pass


class ClusterDirectory:
    """A cluster kept in `base`; its ports, passwords and PIDs in `base/<state_file>` (0600),
    so every command works from any later process."""

    state_file: ClassVar[str]

    def __init__(self, base: Path, bins: PgBinaries | None = None) -> None:
        self.base = base.resolve()
        self._bins = bins
        self._run_as: RunAs | None = None

    @property
    def state_path(self) -> Path:
        return self.base / self.state_file

    @property
    def exists(self) -> bool:
        return self.state_path.exists()

    def _load(self) -> dict[str, Any] | None:
        if not self.state_path.exists():
            return None
        data: dict[str, Any] = json.loads(self.state_path.read_text())
        return data

    def _save(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state, indent=2))
        os.chmod(self.state_path, 0o600)

    @property
    def bins(self) -> PgBinaries:
        if self._bins is None:
            self._bins = find_binaries()
        return self._bins

    @property
    def run_as(self) -> RunAs:
        if self._run_as is None:
            self._run_as = resolve_run_as()
        return self._run_as

    def describe_binaries(self) -> str:
        return f"{self.bins.version()} from {self.bins.bindir} ({self.bins.source})"
