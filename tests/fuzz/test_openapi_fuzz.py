"""schemathesis against a real `trackr serve` on the test cluster: every check, a fixed seed
and a bounded number of examples, once with a write + admin token and once with none.

Zero failures allowed: no 500, and every status, content type and header as documented.
The token run reads from the primary (`READ_BALANCING=primary`): schemathesis checks that a
created resource is readable at once and a deleted one gone, and it carries no consistency
token. The anonymous run reads from the replica.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from tests.faults.harness import SECRET, ApiServer, api_env

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261201
MAX_EXAMPLES = 25
RUN_TIMEOUT_SECONDS = 150


def _server(cluster: Cluster, logs: Path, name: str, **env: str) -> ApiServer:
    return ApiServer({**api_env(cluster), **env}, logs / f"fuzz-{name}.log")


@pytest.fixture
def writer_api(clean_db: Cluster, tmp_path: Path) -> Iterator[ApiServer]:
    server = _server(clean_db, tmp_path, "writer", READ_BALANCING="primary")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def reader_api(clean_db: Cluster, tmp_path: Path) -> Iterator[ApiServer]:
    server = _server(clean_db, tmp_path, "reader")
    server.start()
    yield server
    server.stop()


def fuzz(server: ApiServer, workdir: Path, *headers: str) -> None:
    command = [
        SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{server.base_url}/openapi.json",
        "--checks", "all", "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1", "--no-color",
    ]  # fmt: skip
    for header in headers:
        command += ["--header", header]
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-12000:]
    assert "No issues found" in report or " passed" in report, report[-3000:]


@pytest.mark.slow
def test_fuzzing_with_a_write_and_admin_token_finds_nothing(
    writer_api: ApiServer, tmp_path: Path
) -> None:
    settings = Settings(app_env="test", jwt_secret=SECRET)
    token = create_token(settings, ["products:write", "admin"], 3600, subject="fuzz")
    fuzz(writer_api, tmp_path, f"Authorization: Bearer {token}")


@pytest.mark.slow
def test_fuzzing_without_a_token_finds_nothing(reader_api: ApiServer, tmp_path: Path) -> None:
    fuzz(reader_api, tmp_path)
