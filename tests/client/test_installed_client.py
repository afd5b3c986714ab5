"""trackr-client installs on its own: its wheel, built from clients/python, goes into a clean
virtual environment (no server, no repository on the path) and works against live backends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.localcluster import Cluster
from tests.client.backends import Trio

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
SCRIPT = Path(__file__).with_name("installed") / "use_client.py"


def uv() -> list[str]:
    # `uv run` (make test) names its own binary in $UV; otherwise uv on PATH.
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv is needed to build the wheel: run the tests with `make test`"
    return [found]


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*uv(), "build", "--wheel", "--out-dir", str(base / "dist"), str(CLIENT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (base / "dist").glob("trackr_client-*.whl")
    packaged = {Path(name).parts[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert packaged == {"trackr_client", wheel.name.split("-py3")[0] + ".dist-info"}
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    return python


def test_the_wheel_installs_only_httpx_and_pydantic(client_venv: Path) -> None:
    listed = subprocess.run(
        [*uv(), "pip", "list", "--python", str(client_venv), "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    installed = {package["name"] for package in json.loads(listed)}
    assert {"trackr-client", "httpx", "pydantic"} <= installed
    assert not installed & {"trackr", "fastapi", "sqlalchemy", "asyncpg", "starlette", "uvicorn"}


def test_the_installed_client_fails_over_and_reads_its_writes(
    client_venv: Path, trio: Trio, clean_db: Cluster, tmp_path: Path
) -> None:
    run = subprocess.run(
        [str(client_venv), "-I", str(SCRIPT), trio.token, trio.killed.base_url,
         trio.healthy.base_url],
        cwd=tmp_path, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["same"]
    assert seen["price"] == "59.99"
    assert seen["breaker"] == "open"  # the killed backend was tried, failed, and is skipped
    assert seen["consistency"]  # the write's token, sent with the read that followed
    assert "ConnectError" in seen["refused"]
    assert seen["server_modules"] == []
