"""What the `trackr` command's groups share: the error exit and the cluster directory option."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_CLUSTER_DIR = Path(".data/cluster")
DEV_SECRET_FILE = Path(".data/dev-jwt-secret")
ClusterDir = Annotated[
    Path, typer.Option("--dir", envvar="TRACKR_CLUSTER_DIR", help="Cluster data directory")
]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def find_dev_secret(start: Path | None = None) -> Path | None:
    """The `make run` dev secret (.data/dev-jwt-secret) of this folder or the nearest parent
    that has one, as git finds .git: `trackr token create` works from any folder of the
    project."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (candidate := folder / DEV_SECRET_FILE).is_file():
            return candidate
    return None


def existing_secret() -> str | None:
    """JWT_SECRET from the environment always wins; else the `make run` dev secret, if any."""
    if secret := os.environ.get("JWT_SECRET"):
        return secret
    found = find_dev_secret()
    return found.read_text().strip() if found is not None else None


def dev_secret() -> str:
    """The existing secret, or a new persistent dev-only one."""
    if secret := existing_secret():
        return secret
    DEV_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    DEV_SECRET_FILE.write_text(secret)
    DEV_SECRET_FILE.chmod(0o600)
    return secret
