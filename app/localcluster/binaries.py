"""Find the PostgreSQL server binaries, in the documented order."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("initdb", "pg_ctl", "postgres", "pg_basebackup", "psql", "pg_isready")


class BinariesNotFoundError(RuntimeError):
    pass


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    source: str

    def path(self, name: str) -> str:
        return str(self.bindir / name)

    def version(self) -> str:
        out = subprocess.run(
            [self.path("postgres"), "--version"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()


def _complete(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in REQUIRED)


def _pgserver_bindir() -> Path | None:
    # find_spec does not execute pgserver's __init__ (which touches platform dirs).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def _path_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _debian_bindirs() -> list[Path]:
    # Newest major version first.
    found = glob.glob("/usr/lib/postgresql/*/bin")
    return sorted((Path(p) for p in found), key=lambda p: int(p.parent.name), reverse=True)


def find_binaries() -> PgBinaries:
    """PG_BINDIR, then pgserver's bundled PostgreSQL 16, then pg_config / PATH / Debian paths."""
    explicit = os.environ.get("PG_BINDIR")
    if explicit:
        if _complete(Path(explicit)):
            return PgBinaries(Path(explicit), "PG_BINDIR")
        raise BinariesNotFoundError(
            f"PG_BINDIR={explicit} does not contain all of {', '.join(REQUIRED)}"
        )
    candidates: list[tuple[Path | None, str]] = [
        (_pgserver_bindir(), "pgserver wheel"),
        (_pg_config_bindir(), "pg_config --bindir"),
        (_path_bindir(), "PATH"),
        *((p, "system packages") for p in _debian_bindirs()),
    ]
    for bindir, source in candidates:
        if bindir is not None and _complete(bindir):
            return PgBinaries(bindir, source)
    raise BinariesNotFoundError(
        "No PostgreSQL server binaries found. Set PG_BINDIR to a directory with "
        f"{', '.join(REQUIRED)}, or install the `localcluster` dependency group (`uv sync`; "
        "the pgserver wheel ships PostgreSQL 16)."
    )
