"""clients/typescript's own tests (Node's test runner) against the three live backends, and
its packed tarball installed alone (formatting and type checks run in `make lint`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import partial
from pathlib import Path

import pytest

from app.localcluster import Cluster
from tests.client import typescript
from tests.client.backends import Trio

pytestmark = pytest.mark.slow


def test_the_typescript_client_passes_its_tests_on_live_backends(
    typescript_client: Path, trio: Trio, clean_db: Cluster
) -> None:
    env = {**os.environ, "TRACKR_TEST_BACKENDS": json.dumps(trio.describe())}
    output = typescript.npm("test", env=env)
    assert "# fail 0" in output, output


CONSUMER = Path(__file__).with_name("installed") / "consumer.ts"
CONSUMER_TSCONFIG = {
    "compilerOptions": {
        "target": "ES2022",
        "lib": ["ES2022", "DOM"],
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "strict": True,
        "types": [],
    },
    "files": ["consumer.ts"],
}


def test_the_packed_client_installs_alone_and_type_checks(
    typescript_client: Path, trio: Trio, clean_db: Cluster, tmp_path: Path
) -> None:
    """`npm pack`, installed into an empty project: its types check a consumer (the package's
    own .d.ts included: no skipLibCheck) and the consumer fails over and reads its write."""
    typescript.npm("pack", "--silent", "--pack-destination", str(tmp_path))
    (tarball,) = tmp_path.glob("trackr-client-*.tgz")
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "package.json").write_text('{"private": true, "type": "module"}\n')
    (project / "tsconfig.json").write_text(json.dumps(CONSUMER_TSCONFIG))
    shutil.copy(CONSUMER, project / "consumer.ts")
    run = partial(subprocess.run, cwd=project, capture_output=True, text=True, timeout=120)
    installed = run(["npm", "install", "--no-audit", "--no-fund", str(tarball)])
    assert installed.returncode == 0, installed.stderr
    assert sorted(
        p.name for p in (project / "node_modules").iterdir() if not p.name.startswith(".")
    ) == ["@trackr"]
    compiled = run([str(typescript.PACKAGE / "node_modules" / ".bin" / "tsc"), "-p", "."])
    assert compiled.returncode == 0, compiled.stdout
    used = run(["node", "consumer.js", trio.token, trio.killed.base_url, trio.healthy.base_url])
    assert used.returncode == 0, used.stderr
    seen = json.loads(used.stdout)
    assert seen["same"]
    assert seen["servedBy"] == trio.healthy.base_url
    assert seen["breaker"] == "open"
    assert seen["consistency"]
    assert "ECONNREFUSED" in seen["refused"]
