"""The TypeScript client's package (clients/typescript): its npm packages and its build."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run npm in the package; the output, or AssertionError with it when npm fails."""
    run = subprocess.run(
        ["npm", *args], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert run.returncode == 0, (
        f"npm {' '.join(args)} failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    )
    return run.stdout


def build() -> Path:
    """dist/ from a clean build; the packages from the lockfile first when missing
    (`make test` installs them with `npm ci` when package-lock.json changes)."""
    if not (PACKAGE / "node_modules" / ".package-lock.json").exists():
        npm("ci", "--no-audit", "--no-fund")
    npm("run", "build")
    return PACKAGE / "dist"
